"""A score's explanation as the record contract carries it: each feature's contribution to the
model's score, in log-odds (computed by :mod:`models.explanations` with xgboost's TreeSHAP), and
how each feature reads in words.

An :class:`Explanation` keeps the ``k`` largest contributions by magnitude (ties by feature
name), the sum of the rest (``others``) and the ``bias``: ``sum(top) + others + bias`` is the
booster's margin, whose logistic is the model's probability, whatever ``k``. It travels as the
JSON of :meth:`Explanation.to_json` in a score's ``explanation`` field.

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
from dataclasses import dataclass

import orjson

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
    "cell_customers_1h": "{value:.0f} customers shipped to this location cell in the hour",
    "cell_customers_24h": "{value:.0f} customers shipped to this location cell in 24 h",
    "cell_far_customers_1h": "{value:.0f} customers living far away shipped here in the hour",
    "cell_far_share_1h": "share of those shipping here in the hour who live far away {value:.2f}",
    "cell_new_device_share_1h": "share of those shipping here in the hour on a new device "
    "{value:.2f}",
    "cell_orders_1h": "{value:.0f} orders shipped to this location cell in the hour",
    "cell_value_1h": "orders worth {value:,.0f} shipped to this location cell in the hour",
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


__all__ = ["WORDS", "Contribution", "Explanation", "Value", "describe"]
