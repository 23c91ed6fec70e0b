"""Why a model scored a transaction as it did: each feature's contribution to the score.

Contributions are xgboost's own TreeSHAP (``pred_contribs=True`` on the saved booster, Lundberg
et al., "Consistent Individualized Feature Attribution for Tree Ensembles", 2018), in log-odds:
for every row, the contributions of its matrix columns plus the bias equal the booster's margin,
whose logistic is the probability. A category feature is one-hot encoded into a column per
value (:mod:`models.feature_vectors`); its contribution is the sum over its columns, so each
feature of the contract (:data:`features.definition.FEATURES`) has one contribution, and the sum
still equals the margin.

The result is the contract's :class:`fraudlab.explanation.Explanation` (the ``k`` largest
contributions, the sum of the rest and the bias).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from fraudlab.explanation import Contribution, Explanation, Value
from models.feature_vectors import FeatureEncoding, feature_matrix

if TYPE_CHECKING:
    import pandas as pd
    import xgboost

# contributions kept per explanation unless a setting says otherwise
DEFAULT_TOP = 5


def feature_contributions(
    booster: xgboost.Booster, matrix: npt.NDArray[np.float32], encoding: FeatureEncoding
) -> npt.NDArray[np.float64]:
    """TreeSHAP contributions of each row of ``matrix``, one column per feature of
    ``encoding`` (numeric features in order, then each category feature, its one-hot columns
    summed), the bias last: shape (rows, features + 1), log-odds, one call for all rows."""
    import xgboost

    width = len(encoding.numeric) + len(encoding.categories)
    if len(matrix) == 0:
        return np.zeros((0, width + 1), dtype=np.float64)
    raw = booster.predict(xgboost.DMatrix(matrix), pred_contribs=True, validate_features=False)
    raw = np.asarray(raw, dtype=np.float64)
    out = np.empty((len(matrix), width + 1), dtype=np.float64)
    numeric = len(encoding.numeric)
    out[:, :numeric] = raw[:, :numeric]
    column = numeric
    for j, (_, values) in enumerate(encoding.categories):
        out[:, numeric + j] = raw[:, column : column + len(values)].sum(axis=1)
        column += len(values)
    out[:, -1] = raw[:, -1]
    return out


def explanations(
    booster: xgboost.Booster,
    encoding: FeatureEncoding,
    rows: pd.DataFrame | Sequence[Mapping[str, Any]],
    top: int = DEFAULT_TOP,
) -> list[Explanation]:
    """The explanation of each feature row (a frame or dicts with the feature keys), in row
    order, keeping the ``top`` largest contributions."""
    matrix = feature_matrix(rows, encoding)
    contributions = feature_contributions(booster, matrix, encoding)
    names = [*encoding.numeric, *(name for name, _ in encoding.categories)]
    values = _feature_values(rows, names)
    found = []
    for i, row in enumerate(contributions):
        features = row[:-1]
        order = sorted(range(len(names)), key=lambda j: (-abs(features[j]), names[j]))
        kept = order[:top]
        found.append(
            Explanation(
                bias=float(row[-1]),
                others=math.fsum(float(features[j]) for j in order[top:]),
                top=tuple(Contribution(names[j], values[j][i], float(features[j])) for j in kept),
            )
        )
    return found


def _feature_values(
    rows: pd.DataFrame | Sequence[Mapping[str, Any]], names: Sequence[str]
) -> list[list[Value]]:
    """Each feature's values as JSON can hold them (NaN and NA as None), by feature then row."""
    if hasattr(rows, "columns"):
        frame: Any = rows
        columns = [frame[n].tolist() for n in names]
    else:
        columns = [[row[n] for row in rows] for n in names]
    return [[_plain(v) for v in column] for column in columns]


def _plain(value: Any) -> Value:
    if value is None or isinstance(value, str):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


__all__ = ["DEFAULT_TOP", "explanations", "feature_contributions"]
