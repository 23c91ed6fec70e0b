"""The one way a feature row becomes a model input: a row of a float32 matrix.

Numeric features (:data:`features.definition.NUMERIC_FEATURES`) come first, in the contract's order,
as they are (a missing value stays NaN, which the trees treat as missing). Each category feature
then becomes one column per value of the vocabulary learned at training, sorted; a value the
training rows never had (or an empty one) encodes as all zeros. Training, evaluation and the
engine all go through :func:`feature_matrix`, so they cannot disagree on what a row means.

>>> enc = FeatureEncoding(numeric=("total_amount",),
...                       categories=(("payment_method", ("Gopay", "OVO")),))
>>> feature_names(enc)
['total_amount', 'payment_method=Gopay', 'payment_method=OVO']
>>> feature_matrix([{"total_amount": 150000.0, "payment_method": "OVO"},
...                 {"total_amount": 20.5, "payment_method": "LinkAja"}], enc).tolist()
[[150000.0, 0.0, 1.0], [20.5, 0.0, 0.0]]
>>> FeatureEncoding.from_dict(enc.to_dict()) == enc
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from features.definition import CATEGORY_FEATURES, NUMERIC_FEATURES

if TYPE_CHECKING:
    import pandas as pd

Matrix = npt.NDArray[np.float32]


@dataclass(frozen=True)
class FeatureEncoding:
    """The numeric feature names in order, and each category feature with its sorted vocabulary."""

    numeric: tuple[str, ...]
    categories: tuple[tuple[str, tuple[str, ...]], ...]

    @property
    def width(self) -> int:
        """The number of columns of an encoded row."""
        return len(self.numeric) + sum(len(values) for _, values in self.categories)

    def to_dict(self) -> dict[str, Any]:
        """The encoding as plain JSON values (category order kept: JSON objects get sorted)."""
        return {
            "numeric": list(self.numeric),
            "categories": [
                {"feature": name, "values": list(values)} for name, values in self.categories
            ],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FeatureEncoding:
        """The encoding :meth:`to_dict` wrote; KeyError or TypeError when it is not one."""
        return cls(
            numeric=tuple(str(n) for n in data["numeric"]),
            categories=tuple(
                (str(c["feature"]), tuple(str(v) for v in c["values"])) for c in data["categories"]
            ),
        )


def encoding_for(rows: pd.DataFrame) -> FeatureEncoding:
    """The encoding learned from training rows: every non-empty category value, sorted."""
    categories = []
    for name in CATEGORY_FEATURES:
        values = {str(v) for v in rows[name].dropna().unique()} - {""}
        categories.append((name, tuple(sorted(values))))
    return FeatureEncoding(numeric=tuple(NUMERIC_FEATURES), categories=tuple(categories))


def feature_names(encoding: FeatureEncoding) -> list[str]:
    """The names of the columns of :func:`feature_matrix`, ``feature=value`` for categories."""
    names = list(encoding.numeric)
    for name, values in encoding.categories:
        names.extend(f"{name}={value}" for value in values)
    return names


def feature_matrix(
    rows: pd.DataFrame | Sequence[Mapping[str, Any]], encoding: FeatureEncoding
) -> Matrix:
    """An (n, k) float32 matrix of feature rows (a pandas frame or dicts with the feature keys)."""
    numeric, categories = _columns(rows, encoding)
    n = len(rows)
    out = np.zeros((n, encoding.width), dtype=np.float32)
    for j, numbers in enumerate(numeric):
        out[:, j] = numbers
    offset = len(encoding.numeric)
    for (_, values), labels in zip(encoding.categories, categories, strict=True):
        index = {value: i for i, value in enumerate(values)}
        codes = np.fromiter(
            (index.get(v, -1) if isinstance(v, str) else -1 for v in labels), np.int64, count=n
        )
        known = codes >= 0
        out[np.flatnonzero(known), offset + codes[known]] = 1.0
        offset += len(values)
    return out


def _columns(
    rows: pd.DataFrame | Sequence[Mapping[str, Any]], encoding: FeatureEncoding
) -> tuple[list[npt.NDArray[np.float64]], list[Sequence[Any]]]:
    """The numeric columns as float64 (None and NA as NaN) and the category columns as given."""
    categories = [name for name, _ in encoding.categories]
    if hasattr(rows, "columns"):
        frame: Any = rows
        missing = [n for n in (*encoding.numeric, *categories) if n not in frame.columns]
        if missing:
            raise ValueError(f"feature rows lack the feature {missing[0]!r}")
        return (
            [frame[n].to_numpy(dtype=np.float64, na_value=np.nan) for n in encoding.numeric],
            [frame[n].tolist() for n in categories],
        )
    try:
        return (
            [np.array([row[n] for row in rows], dtype=np.float64) for n in encoding.numeric],
            [[row[n] for row in rows] for n in categories],
        )
    except KeyError as exc:
        raise ValueError(f"feature rows lack the feature {exc.args[0]!r}") from None
