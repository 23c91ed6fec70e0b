"""Features on Spark DataFrames: the same per-customer fold on a batch or a streaming DataFrame.

:func:`event_columns` turns classified Kafka rows (browsing, transactions and customer profiles,
each value parsed once) into one frame of events; :func:`customer_events` does the same for
frames of records. :func:`batch_features` folds events per partition with ``mapInPandas``
(training, evaluation) and the engine per state bucket with ``applyInPandasWithState``
(:mod:`engine.bucket_fold`), both through :func:`fold_events`, the one piece of code that turns
events into feature rows.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from features.definition import FEATURES, CustomerState, Payment, Profile
from features.location import DEFAULT_RESOLUTION, cell_of, fold_cells

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.types import StructType

CUSTOMER, BROWSING, TRANSACTION = 2, 0, 1
# a Kafka value that could not be parsed: it becomes a dead letter, never an event
INVALID = 3
# a frontier report read back from the engine's own topic (engine.frontier): never an event
FRONTIER = 4
# a change to the run's rules read from its rules topic (rulebook.rules): never an event
RULE_CHANGE = 5
# a transaction's claim on its transaction id or session id, sent to the bucket that keeps the
# id's owner (engine.identity): never an event
CLAIM = 6
STREAM_KINDS = {"browsing": BROWSING, "transactions": TRANSACTION, "customer": CUSTOMER}
# within one second: the profile first, then browsing, then the transaction it led to
SEQ = {CUSTOMER: -1, BROWSING: 0, TRANSACTION: 1}

# Columns of the unified event frame, in order.
EVENT_COLUMNS = (
    "customer_id",
    "kind",
    "ts",
    "seq",
    "session_id",
    "event_type",
    "device_type",
    "traffic_source",
    "transaction_id",
    "payment_method",
    "payment_status",
    "clear_payment",
    "promo_amount",
    "shipment_fee",
    "shipment_location_lat",
    "shipment_location_long",
    "total_amount",
    "product_metadata",
    "gender",
    "birth_day",
    "join_day",
    "home_lat",
    "home_long",
    "event_id",
    "topic",
    "partition",
    "offset",
    "element",
)
BROWSING_COLUMNS = EVENT_COLUMNS[5:8]
TRANSACTION_COLUMNS = EVENT_COLUMNS[8:18]
# Where an event came from in Kafka (element: its place in a message holding a JSON array of
# records, 0 otherwise): present when the frames were read from Kafka.
SOURCE_COLUMNS = ("topic", "partition", "offset", "element")
KAFKA_SOURCE_COLUMNS = SOURCE_COLUMNS[:3]
# Identifying and reporting columns carried next to the features of each transaction.
ID_COLUMNS = ("transaction_id", "session_id", "customer_id", "ts")
# (amount and shipment location travel as the features total_amount, shipment_lat/long)
DETAIL_COLUMNS = ("product_metadata",)
# the location cell of the shipping address (features.location), "" when it has none
CELL_COLUMN = "cell"


def features_schema() -> StructType:
    """Schema of a feature frame: ids, transaction details, the location cell, then every
    feature."""
    from pyspark.sql import types as T

    fields = [
        T.StructField("transaction_id", T.StringType()),
        T.StructField("session_id", T.StringType()),
        T.StructField("customer_id", T.StringType()),
        T.StructField("ts", T.LongType()),
        T.StructField("product_metadata", T.StringType()),
        T.StructField(CELL_COLUMN, T.StringType()),
    ]
    for name, kind in FEATURES.items():
        fields.append(T.StructField(name, T.StringType() if kind == "category" else T.DoubleType()))
    return T.StructType(fields)


def event_columns() -> list[Column]:
    """:data:`EVENT_COLUMNS` of classified Kafka rows (:func:`fraudlab.record_parsing.classify`).

    One projection for every stream, read from the value parsed once: browsing events,
    transactions and customer profiles each fill the columns they have; a row whose ``reason``
    is set (it could not be parsed) becomes kind :data:`INVALID`, with its Kafka time as ``ts``.
    """
    from pyspark.sql import functions as F

    from fraudlab.record_parsing import field

    stream = F.col("stream")
    kind = F.when(F.col("reason").isNotNull(), F.lit(INVALID))
    for name, value in STREAM_KINDS.items():
        kind = kind.when(stream == name, F.lit(value))
    is_tx = stream == "transactions"
    is_customer = stream == "customer"

    def of(condition: Column, value: Column, kind_name: str = "string") -> Column:
        return F.when(condition, value).otherwise(F.lit(None).cast(kind_name))

    def days(name: str) -> Column:
        return F.datediff(F.to_date(field(name)), F.lit("1970-01-01"))

    ts = F.when(F.col("reason").isNull(), field("ts", "bigint")).otherwise(
        F.unix_timestamp("timestamp")
    )
    event_id = F.when(is_tx, field("transaction_id")).otherwise(
        of(stream == "browsing", field("event_id"))
    )
    columns: dict[str, Column] = {
        "customer_id": F.col("customer_id"),
        "kind": kind.otherwise(F.lit(INVALID)),
        "ts": ts,
        "seq": F.when(is_customer, F.lit(SEQ[CUSTOMER]))
        .when(is_tx, F.lit(SEQ[TRANSACTION]))
        .otherwise(F.lit(SEQ[BROWSING])),
        "session_id": of(~is_customer, field("session_id")),
        **{c: of(stream == "browsing", field(c)) for c in BROWSING_COLUMNS},
        **{c: of(is_tx, field(c)) for c in TRANSACTION_COLUMNS},
        "gender": of(is_customer, field("gender")),
        "birth_day": of(is_customer, days("birthdate"), "int"),
        "join_day": of(is_customer, days("first_join_date"), "int"),
        "home_lat": of(is_customer, field("home_location_lat", "double"), "double"),
        "home_long": of(is_customer, field("home_location_long", "double"), "double"),
        "event_id": event_id,
        "topic": F.col("topic").cast("string"),
        "partition": F.col("partition").cast("int"),
        "offset": F.col("offset").cast("long"),
        "element": F.col("element").cast("int"),
    }
    return [columns[c].alias(c) for c in EVENT_COLUMNS]


def customer_events(
    browsing: DataFrame, transactions: DataFrame, customers: DataFrame
) -> DataFrame:
    """One frame of each customer's profile records, browsing events and transactions.

    Works on batch and streaming frames of records alike (training, evaluation, tests): each
    record goes through the engine's own parsing and projection, as a Kafka value would.
    Records that the engine would dead-letter are left out. ``seq`` orders events of the same
    second.
    """
    from pyspark.sql import functions as F

    from fraudlab.record_parsing import classify

    def values(frame: DataFrame, stream: str) -> DataFrame:
        source = [
            (F.col(c) if c in frame.columns else F.lit(None)).cast(kind).alias(c)
            for c, kind in zip(KAFKA_SOURCE_COLUMNS, ("string", "int", "long"), strict=True)
        ]
        payload = [c for c in frame.columns if c not in (*SOURCE_COLUMNS, "event_timestamp")]
        return frame.select(
            F.to_json(F.struct(*payload)).cast("binary").alias("value"),
            *source,
            F.lit(None).cast("timestamp").alias("timestamp"),
            F.lit(stream).alias("stream"),
        )

    raw = (
        values(browsing, "browsing")
        .unionByName(values(transactions, "transactions"))
        .unionByName(values(customers, "customer"))
    )
    classified = classify(raw, F.col("stream"))
    return classified.where(F.col("reason").isNull()).select(*event_columns())


def _present(value: Any) -> bool:
    return value is not None and value == value  # pandas gives NaN for a missing number


def fold_events(
    state: CustomerState, events: Iterable[dict[str, Any]], resolution: int = DEFAULT_RESOLUTION
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Fold a customer's events, in (ts, seq) order, into ``state``.

    Returns one feature row per transaction, with the customer's features and the location cell
    of its shipping address at H3 ``resolution`` (its cell's figures come from
    :func:`features.location.fold_cells`), and the events skipped as duplicate deliveries.
    """
    rows, duplicates = [], []
    for e in sorted(events, key=lambda e: (e["ts"], e["seq"])):
        kind = e["kind"]
        if kind != CUSTOMER and not state.first_sighting(e["event_id"] or "", int(e["ts"])):
            duplicates.append(e)
            continue
        if kind == BROWSING:
            state.observe_browsing(
                e["session_id"] or "",
                e["event_type"] or "",
                int(e["ts"]),
                e["device_type"] or "",
                e["traffic_source"] or "",
            )
        elif kind == CUSTOMER:
            if all(_present(e[c]) for c in ("birth_day", "join_day", "home_lat", "home_long")):
                state.observe_profile(
                    Profile(
                        e["gender"] or "",
                        int(e["birth_day"]),
                        int(e["join_day"]),
                        float(e["home_lat"]),
                        float(e["home_long"]),
                    )
                )
        else:
            payment = Payment(
                e["session_id"] or "",
                int(e["ts"]),
                e["payment_method"] or "",
                e["payment_status"] or "",
                e["clear_payment"] or "",
                e["promo_amount"] or "",
                e["shipment_fee"] or "",
                e["shipment_location_lat"] or "",
                e["shipment_location_long"] or "",
                e["total_amount"] or "",
                e["product_metadata"] or "",
            )
            features = state.transaction_features(payment)
            cell = cell_of(e["shipment_location_lat"], e["shipment_location_long"], resolution)
            rows.append(
                {
                    **{c: e[c] for c in ID_COLUMNS},
                    **{c: e[c] for c in DETAIL_COLUMNS},
                    CELL_COLUMN: cell,
                    **features,
                }
            )
    return rows, duplicates


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    columns = [*ID_COLUMNS, *DETAIL_COLUMNS, CELL_COLUMN, *FEATURES]
    return pd.DataFrame(rows, columns=columns)


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of a pandas frame as dicts (several times faster than ``to_dict("records")``)."""
    names = list(frame.columns)
    columns = [frame[c].tolist() for c in names]
    return [dict(zip(names, values, strict=True)) for values in zip(*columns, strict=True)]


def _fold_partition(frames: Iterator[pd.DataFrame], resolution: int) -> Iterator[pd.DataFrame]:
    # rows arrive sorted by customer, then time: one pass folds every customer of the partition
    states: dict[str, CustomerState] = {}
    for frame in frames:
        rows: list[dict[str, Any]] = []
        for customer, events in itertools.groupby(
            frame_records(frame), key=lambda e: e["customer_id"]
        ):
            state = states.setdefault(customer, CustomerState())
            rows.extend(fold_events(state, events, resolution)[0])
        yield _frame(rows)


def _fold_cell(frame: pd.DataFrame) -> pd.DataFrame:
    # every transaction shipped to one cell (or every one without a cell), in any order
    rows = frame_records(frame)
    fold_cells({}, rows)
    return _frame(rows)


def batch_features(
    events: DataFrame, partitions: int | None = None, resolution: int = DEFAULT_RESOLUTION
) -> DataFrame:
    """Feature rows of every transaction in a batch frame of :func:`customer_events`.

    A customer's events are brought together by partitioning on customer_id and sorting; each
    partition is then folded in one pass (far cheaper than one pandas frame per customer). The
    rows are then grouped by the location cell of their shipping address (H3 ``resolution``),
    and each cell's transactions get its figures (:func:`features.location.fold_cells`), as the
    engine's location state gives them.
    """
    n = partitions or events.sparkSession.sparkContext.defaultParallelism
    ordered = events.repartition(n, "customer_id").sortWithinPartitions("customer_id", "ts", "seq")
    schema = features_schema()
    customers = ordered.mapInPandas(
        functools.partial(_fold_partition, resolution=resolution), schema
    )
    return customers.groupBy(CELL_COLUMN).applyInPandas(_fold_cell, schema)
