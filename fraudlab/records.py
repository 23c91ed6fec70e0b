"""The record contract: every record fraudlab streams, stores or reports, defined once.

Each record is a frozen dataclass. Its fields, in order, are the contract: the Spark
StructType, the Arrow schema and the DuckDB table are derived from these classes by
:mod:`fraudlab.schemas` and never written by hand a second time.

The results of the engine (scores, the 10 s, 30 s and inventory reports, dead letters) are in
:mod:`fraudlab.result_records`, the bookkeeping records of a run (rule changes, alert
deliveries, run-events, run controls) in :mod:`fraudlab.run_records`, and what every record
shares (its base, its fields, its key) in :mod:`fraudlab.record_base`; all are named here too,
so that this module is the whole contract.

Input records follow the assignment's datasets (the assignment's columns first and in order,
fraudlab's extra columns after them); every streamed record carries ``ts``, an integer Unix
timestamp, and every other input field travels as a string. A ``bool`` field (truth's
``is_fraud``) travels as ``"1"`` or ``"0"`` and is read back as a bool by :mod:`fraudlab.codec`
(and by the Arrow and Spark forms of its rule), so that no reader compares label texts. A field
typed ``str | None`` is one of fraudlab's extras that the assignment's datasets lack (a
customer's home, a product's price, a browsing row's customer and item): a record without it is
whole, and the field is null in Spark, Arrow and DuckDB. Result records (scores, reports, dead
letters) are typed.

>>> [f.name for f in fields_of(Truth)]
['transaction_id', 'is_fraud', 'pattern', 'ts']
>>> record_for_stream("transactions") is Transaction
True
>>> [f.name for f in fields_of(Product) if f.optional]
['price']
"""

from __future__ import annotations

from dataclasses import dataclass

from fraudlab.record_base import (
    FieldSpec,
    Record,
    assignment_columns,
    field_names,
    fields_of,
    message_key,
    required_fields,
)
from fraudlab.result_records import (
    EMPTY_ARRAY,
    AlertedTransaction,
    DeadLetter,
    FraudAlerts,
    InventoryForecast,
    Score,
    TopProduct,
)
from fraudlab.run_records import (
    AlertDelivery,
    DeliveryDeadLetter,
    RuleChangeRecord,
    RunControl,
    RunEvent,
)

__all__ = [
    "DELIVERY_RECORDS",
    "EMPTY_ARRAY",
    "EVENT_RECORDS",
    "EVENT_TYPES",
    "INPUT_PROBLEM_RECORDS",
    "L1_EVENTS",
    "L2_EVENTS",
    "L3_EVENTS",
    "NESTED_RECORDS",
    "RESULT_RECORDS",
    "RULE_RECORDS",
    "RUN_RECORDS",
    "STATIC_RECORDS",
    "STOCK_CHANGES",
    "STREAMS",
    "STREAM_RECORDS",
    "AlertDelivery",
    "AlertedTransaction",
    "Browsing",
    "Category",
    "Customer",
    "CustomerSession",
    "DeadLetter",
    "DeliveryDeadLetter",
    "Fault",
    "FieldSpec",
    "FraudAlerts",
    "Inventory",
    "InventoryForecast",
    "LineItem",
    "Product",
    "Quarantined",
    "Record",
    "RuleChangeRecord",
    "RunControl",
    "RunEvent",
    "Score",
    "TopProduct",
    "Transaction",
    "Truth",
    "assignment_columns",
    "field_names",
    "fields_of",
    "message_key",
    "record_for_stream",
    "required_fields",
]

# Browsing event types and their levels, as the assignment defines them.
L1_EVENTS = frozenset({"AP", "ATC", "CO"})
L2_EVENTS = frozenset({"VC", "VP", "VI", "SER"})
L3_EVENTS = frozenset({"SCR", "HP", "CL"})
EVENT_TYPES = ("VC", "VI", "VP", "AP", "CL", "ATC", "CO", "HP", "SCR", "SER")
# What an inventory record says happened to a product's stock (see Inventory).
STOCK_CHANGES = ("opening", "sale", "stock_out", "restock_order", "restock_arrival")


# ---- static data: travels with each run, once --------------------------------------------


@dataclass(frozen=True, slots=True)
class Customer(Record):
    """A customer of the shop; fraudlab's customers also have a home in Indonesia."""

    STREAM = "customer"
    KEY = ("customer_id",)
    ASSIGNMENT_COLUMNS = 8

    customer_id: str
    first_name: str
    last_name: str
    username: str
    email: str
    gender: str
    birthdate: str
    first_join_date: str
    home_location: str | None
    home_city: str | None
    home_location_lat: str | None
    home_location_long: str | None
    ts: int


@dataclass(frozen=True, slots=True)
class Category(Record):
    """A leaf of the three-level category tree."""

    STREAM = "category"
    KEY = ("category_id",)
    ASSIGNMENT_COLUMNS = 4

    category_id: str
    cat_level1: str
    cat_level2: str
    cat_level3: str
    ts: int


@dataclass(frozen=True, slots=True)
class Product(Record):
    """A product in the assignment's columns, plus its list price where fraudlab knows it."""

    STREAM = "product"
    KEY = ("id",)
    ASSIGNMENT_COLUMNS = 8

    id: str
    gender: str
    baseColour: str
    season: str
    year: str
    usage: str
    productDisplayName: str
    category_id: str
    price: str | None
    ts: int


@dataclass(frozen=True, slots=True)
class CustomerSession(Record):
    """Which customer a browsing session belongs to."""

    STREAM = "customer_session"
    KEY = ("session_id",)
    ASSIGNMENT_COLUMNS = 2

    session_id: str
    customer_id: str
    ts: int


# ---- event streams ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Browsing(Record):
    """One browsing event of a session: the assignment's five columns, then fraudlab's extras.

    customer_id comes through customer_session (a producer fills it in where it can); item
    events of fraudlab's simulator also name a product and a quantity.
    """

    STREAM = "browsing"
    KEY = ("customer_id",)
    ASSIGNMENT_COLUMNS = 5

    session_id: str
    event_type: str
    event_time: str
    traffic_source: str
    device_type: str
    customer_id: str | None
    product_id: str | None
    quantity: str | None
    event_id: str | None
    ts: int


@dataclass(frozen=True, slots=True)
class Transaction(Record):
    """A checkout; product_metadata is a list of line items ({product_id, quantity,
    item_price}: :class:`LineItem`), in JSON or the assignment's Python-literal form (read by
    :mod:`fraudlab.product_metadata`)."""

    STREAM = "transactions"
    KEY = ("customer_id",)
    ASSIGNMENT_COLUMNS = 14

    created_at: str
    customer_id: str
    transaction_id: str
    session_id: str
    product_metadata: str
    payment_method: str
    payment_status: str
    promo_amount: str
    promo_code: str
    shipment_fee: str
    shipment_location_lat: str
    shipment_location_long: str
    total_amount: str
    clear_payment: str
    ts: int


@dataclass(frozen=True, slots=True)
class LineItem(Record):
    """One line of a checkout's product_metadata (nested, not a stream of its own): which
    product, how many, at what unit price. :mod:`fraudlab.product_metadata` reads the lines of
    either form a file writes; a score's product_metadata is the JSON list of them."""

    STREAM = ""
    KEY = ("product_id",)

    product_id: str
    quantity: int
    item_price: float


@dataclass(frozen=True, slots=True)
class Truth(Record):
    """Ground truth for one transaction; written by the simulator (or read from a dataset's
    fraud_transaction.csv), never read by the engine. ``is_fraud`` travels as "1" or "0"."""

    STREAM = "truth"
    KEY = ("transaction_id",)
    ASSIGNMENT_COLUMNS = 2

    transaction_id: str
    is_fraud: bool
    pattern: str
    ts: int


@dataclass(frozen=True, slots=True)
class Inventory(Record):
    """One change to a product's stock in the simulated shop (optional: a dataset has none).

    ``change`` is one of :data:`STOCK_CHANGES`:

    - ``opening``: the stock at the run's start (``quantity`` is the level);
    - ``sale``: a paid order took ``quantity`` units (fraudulent orders too);
    - ``stock_out``: a checkout asked for ``quantity`` units and the shelf held fewer, so the
      line was dropped from the order (``transaction_id`` is "" when nothing was left to buy);
    - ``restock_order``: the shop ordered ``quantity`` units, due ``lead_minutes`` later;
    - ``restock_arrival``: ``quantity`` ordered units arrived.

    ``level`` and ``on_order`` are the units on the shelf and ordered but not yet arrived, after
    the change; ``reorder_point`` and ``lead_minutes`` are the product's restock policy.
    """

    STREAM = "inventory"
    KEY = ("product_id",)

    product_id: str
    change: str
    quantity: int
    level: int
    on_order: int
    reorder_point: int
    lead_minutes: float
    session_id: str
    transaction_id: str
    ts: int


@dataclass(frozen=True, slots=True)
class Fault(Record):
    """Ground truth for one injected data fault (late, out of order, duplicate, malformed).

    ``record_id`` is the event_id or transaction_id of the record the fault touched;
    ``delay_s`` is how late it was delivered (0 where lateness does not apply).
    """

    STREAM = "faults"
    KEY = ("record_id",)

    stream: str
    record_id: str
    fault: str
    delay_s: int
    ts: int


# ---- rows that could not be read ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Quarantined(Record):
    """A row of an input file that could not be read, kept with its raw text and why.

    ``file`` is the file's name, ``line`` the line the row starts on (the header is line 1),
    ``field`` the column at fault ("" when the row as a whole is: a wrong field count, say).
    """

    STREAM = "quarantine"
    KEY = ("file", "line")

    file: str
    line: int
    field: str
    reason: str
    raw: str
    ts: int


STATIC_RECORDS: tuple[type[Record], ...] = (Customer, Category, Product, CustomerSession)
EVENT_RECORDS: tuple[type[Record], ...] = (Browsing, Transaction, Truth, Fault, Inventory)
RESULT_RECORDS: tuple[type[Record], ...] = (
    Score,
    FraudAlerts,
    TopProduct,
    InventoryForecast,
    DeadLetter,
)
# rows a producer could not read; not replayed, since they never were records
INPUT_PROBLEM_RECORDS: tuple[type[Record], ...] = (Quarantined,)
RUN_RECORDS: tuple[type[Record], ...] = (RunEvent, RunControl)
# changes to a run's rules: neither simulated nor results, archived as they came
RULE_RECORDS: tuple[type[Record], ...] = (RuleChangeRecord,)
# what became of each alert sent to a sink: wall-clock bookkeeping, never replayed
DELIVERY_RECORDS: tuple[type[Record], ...] = (AlertDelivery, DeliveryDeadLetter)
STREAM_RECORDS: tuple[type[Record], ...] = (
    STATIC_RECORDS
    + EVENT_RECORDS
    + RESULT_RECORDS
    + RUN_RECORDS
    + INPUT_PROBLEM_RECORDS
    + RULE_RECORDS
    + DELIVERY_RECORDS
)
NESTED_RECORDS: tuple[type[Record], ...] = (AlertedTransaction, LineItem)

_BY_STREAM = {cls.STREAM: cls for cls in STREAM_RECORDS}
STREAMS: tuple[str, ...] = tuple(_BY_STREAM)


def record_for_stream(stream: str) -> type[Record]:
    """The record class of a stream name; KeyError names the known streams."""
    try:
        return _BY_STREAM[stream]
    except KeyError:
        raise KeyError(f"unknown stream {stream!r}; known: {', '.join(STREAMS)}") from None
