"""The engine's results: its verdict on each transaction (and, nested in the 10 s report, on
each flagged one), the 10 s, 30 s and inventory reports, and the records it could not use.

They are part of the record contract (:mod:`fraudlab.records`, which lists every stream). Unlike
the input records, whose fields travel as strings as the assignment's datasets have them, result
fields are typed.
"""

from __future__ import annotations

from dataclasses import dataclass

from fraudlab.record_base import Record

__all__ = [
    "EMPTY_ARRAY",
    "AlertedTransaction",
    "DeadLetter",
    "FraudAlerts",
    "InventoryForecast",
    "Score",
    "TopProduct",
]


@dataclass(frozen=True, slots=True)
class Score(Record):
    """The model's verdict on one transaction, with what the 10 s and 30 s reports need of it."""

    STREAM = "scores"
    KEY = ("transaction_id",)

    transaction_id: str
    session_id: str
    customer_id: str
    ts: int
    probability: float
    prediction: int
    model_name: str
    model_digest: str
    total_amount: float
    shipment_location_lat: float
    shipment_location_long: float
    product_metadata: str
    # the model's own probability, the ids of the rules in force that matched (comma-separated,
    # "" for none) and why it is a potential fraud ("model" and/or rule ids; "" when it is none)
    model_probability: float | None = None
    rules: str | None = None
    reasons: str | None = None
    # why the model scored it so: models.explanations.Explanation as JSON (the top feature
    # contributions in log-odds, the rest and the bias); on every potential fraud, and on every
    # score with the setting explain_every_score; None otherwise
    explanation: str | None = None
    # a challenger scored beside the model (engine.verdicts): its name and booster digest, its
    # probability (raised by the rules that matched, as probability is) and its prediction at
    # its own threshold; None when no challenger ran. The model alone decides prediction.
    challenger_name: str | None = None
    challenger_digest: str | None = None
    challenger_probability: float | None = None
    challenger_prediction: int | None = None


@dataclass(frozen=True, slots=True)
class AlertedTransaction(Record):
    """One potential fraud inside a fraud-alerts window (nested, not a stream of its own)."""

    STREAM = ""
    KEY = ("transaction_id",)

    transaction_id: str
    session_id: str
    customer_id: str
    ts: int
    total_amount: float
    shipment_location_lat: float
    shipment_location_long: float
    probability: float
    reasons: str | None = None  # "model" and/or the ids of the rules that flagged it
    explanation: str | None = None  # the score's explanation (see Score)


@dataclass(frozen=True, slots=True)
class FraudAlerts(Record):
    """The 10 s report: potential frauds of one sliding 2-minute event-time window."""

    STREAM = "fraud-alerts"
    KEY = ("window_start", "window_end")
    RUN_IN_KEY = True

    window_start: int
    window_end: int
    count: int
    transactions: tuple[AlertedTransaction, ...]


@dataclass(frozen=True, slots=True)
class TopProduct(Record):
    """The 30 s report, one row per rank: top products by quantity among non-fraud sales."""

    STREAM = "top-products"
    KEY = ("window_start", "window_end", "product_id")
    RUN_IN_KEY = True

    window_start: int
    window_end: int
    rank: int
    product_id: str
    product_name: str
    quantity: int
    sales: float


@dataclass(frozen=True, slots=True)
class InventoryForecast(Record):
    """The 30 s inventory report, one row per product and 30 s event-time window: the units
    expected to sell over the next ``horizon_minutes`` after the window's end, learned from
    browsing and recent non-fraud sales (:mod:`models.demand`), and where the run has an
    inventory stream, the stock, its minutes of cover and whether to restock.

    A window is reported when it holds any activity; a product has a row in it when it was
    browsed or sold within the forecast's longest lookback (:mod:`features.demand`).
    ``views``, ``carts`` and ``units`` are what the window itself held (the product's views, its
    units put in carts, its non-fraud units sold); ``stock``,
    ``on_order``, ``cover_minutes`` and ``restock`` are None without an inventory stream.
    ``restock`` is 1 when the forecast demand over the product's lead time exceeds its stock plus
    what is on order, else 0.
    """

    STREAM = "inventory-forecast"
    KEY = ("window_start", "window_end", "product_id")
    RUN_IN_KEY = True

    window_start: int
    window_end: int
    product_id: str
    product_name: str
    horizon_minutes: float
    forecast_units: float
    # the two forecasts it is measured against (archive.forecast_quality): the units of the
    # last horizon carried forward, and the same method from sales alone, without browsing
    naive_units: float
    sales_only_units: float
    views: int
    carts: int
    units: int
    stock: int | None = None
    on_order: int | None = None
    cover_minutes: float | None = None
    restock: int | None = None


# the reason of a message holding an empty JSON array: no record, but nothing dropped silently
EMPTY_ARRAY = "empty JSON array"


@dataclass(frozen=True, slots=True)
class DeadLetter(Record):
    """A record that could not be used, with why and where it came from.

    ``source_element`` tells records of one Kafka message apart: a message holds one record
    (element 0) or a JSON array of records, each classified on its own (element i is the array's
    i-th, from 0). ``raw`` is the message's bytes, or the element's JSON for an array's element.
    """

    STREAM = "dead-letter"
    KEY = ("source_topic", "source_partition", "source_offset", "source_element")

    raw: bytes
    reason: str
    source_topic: str
    source_partition: int
    source_offset: int
    source_element: int
    ts: int
