"""Why a model scored a transaction as it did: each feature's contribution to the score.

Contributions are xgboost's own TreeSHAP (``pred_contribs=True`` on the saved booster, Lundberg
et al., "Consistent Individualized Feature Attribution for Tree Ensembles", 2018), in log-odds:
for every row, the contributions of its matrix columns plus the bias equal the booster's margin,
whose logistic is the probability. A category feature is one-hot encoded into a column per
value (:mod:`models.feature_vectors`); its contribution is the sum over its columns, so each
feature of the contract (:data:`features.definition.FEATURES`) has one contribution, and the sum
still equals the margin.

An :class:`Explanation` keeps the ``k`` largest contributions by magnitude (ties by feature
name), the sum of the rest (``others``) and the ``bias``: ``sum(top) + others + bias`` is the
margin, whatever ``k``.

>>> e = Explanation(bias=-3.0, others=0.25, top=(
...     Contribution("distance_km", 812.0, 1.5), Contribution("payment_method", "OVO", -0.5)))
>>> round(e.margin, 6)
-1.75
>>> Explanation.from_json(e.to_json()) == e
True
>>> describe(Contribution("distance_km", 812.0, 1.5))
'ships 812 km from home: +1.50'
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt
import orjson

from models.feature_vectors import FeatureEncoding, feature_matrix

if TYPE_CHECKING:
    import pandas as pd
    import xgboost

# contributions kept per explanation unless a setting says otherwise
DEFAULT_TOP = 5

Value = float | str | None


@dataclass(frozen=True)
class Contribution:
    """One feature of one transaction: its value, and how much it moved the score (log-odds;
    positive: towards fraud)."""

    feature: str
    value: Value
    contribution: float


@dataclass(frozen=True)
class Explanation:
    """A transaction's top contributions, the sum of the others, and the model's bias (all in
    log-odds; see the module)."""

    bias: float
    others: float
    top: tuple[Contribution, ...]

    @property
    def margin(self) -> float:
        """The booster's margin for the transaction: every contribution plus the bias."""
        return math.fsum([self.bias, self.others, *(c.contribution for c in self.top)])

    def to_json(self) -> str:
        """``{"bias", "others", "top": [{"feature", "value", "contribution"}...]}``, compact."""
        return orjson.dumps(
            {
                "bias": self.bias,
                "others": self.others,
                "top": [
                    {"feature": c.feature, "value": c.value, "contribution": c.contribution}
                    for c in self.top
                ],
            }
        ).decode()

    @classmethod
    def from_json(cls, text: str | bytes) -> Explanation:
        """The explanation :meth:`to_json` wrote; ValueError (or KeyError) when it is not one."""
        data = orjson.loads(text)
        return cls(
            float(data["bias"]),
            float(data["others"]),
            tuple(
                Contribution(str(c["feature"]), c["value"], float(c["contribution"]))
                for c in data["top"]
            ),
        )


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


# How each feature reads in words, with its value: ``fraudlab explain`` and the views.
WORDS: dict[str, str] = {
    "payment_method": "pays with {value}",
    "failed_payment": "payment failed: {value:.0f}",
    "clear_payment": "clear payment: {value:.0f}",
    "hour_of_day": "at {value:.0f}h local time",
    "gender_female": "female customer: {value:.0f}",
    "promo_amount": "promo of {value:,.0f}",
    "shipment_fee": "shipment fee {value:,.0f}",
    "shipment_lat": "ships to latitude {value:.3f}",
    "shipment_long": "ships to longitude {value:.3f}",
    "total_amount": "amount {value:,.0f}",
    "l1_ratio": "share of session events toward buying (add to cart, check-out) {value:.2f}",
    "l2_ratio": "share of session events viewing and searching {value:.2f}",
    "age_years": "customer aged {value:.0f}",
    "account_age_days": "account {value:,.0f} days old",
    "purchases_before": "{value:.0f} purchases before",
    "session_events": "{value:.0f} events in the session",
    "session_seconds": "session of {value:,.0f} s",
    "events_per_minute": "{value:.1f} events a minute",
    "distance_km": "ships {value:,.0f} km from home",
    "new_device": "device new to the account: {value:.0f}",
    "new_traffic_source": "traffic source new to the account: {value:.0f}",
    "failed_payments_24h": "{value:.0f} failed payments in 24 h",
    "transactions_1h": "{value:.0f} transactions in the hour",
    "seconds_since_previous": "{value:,.0f} s since the previous transaction",
    "n_items": "{value:.0f} items",
    "max_item_price": "dearest item {value:,.0f}",
}


def describe(c: Contribution) -> str:
    """One contribution in words: ``ships 812 km from home: +1.50`` (log-odds, signed)."""
    template = WORDS.get(c.feature)
    if c.value is None:
        said = f"{c.feature} missing"
    elif template is None:
        said = f"{c.feature} {c.value}"
    else:
        try:
            said = template.format(value=c.value)
        except (ValueError, TypeError):
            said = f"{c.feature} {c.value}"
    return f"{said}: {c.contribution:+.2f}"


__all__ = [
    "DEFAULT_TOP",
    "WORDS",
    "Contribution",
    "Explanation",
    "describe",
    "explanations",
    "feature_contributions",
]
