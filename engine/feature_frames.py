"""Features on Spark DataFrames: the same per-customer fold on a batch or a streaming DataFrame.

:func:`customer_events` unifies browsing and transactions (with each customer's static profile)
into one frame of events; :func:`batch_features` folds it per partition with ``mapInPandas``
(training, evaluation) and :func:`streaming_features` with ``applyInPandasWithState`` (scoring),
both through :func:`fold_events`, the one piece of code that turns events into feature rows.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from engine.features import FEATURES, CustomerState, Payment, Profile

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import Column, DataFrame
    from pyspark.sql.streaming.state import GroupState
    from pyspark.sql.types import StructType

CUSTOMER, BROWSING, TRANSACTION = 2, 0, 1
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
)
# Identifying and reporting columns carried next to the features of each transaction.
ID_COLUMNS = ("transaction_id", "session_id", "customer_id", "ts")
# (amount and shipment location travel as the features total_amount, shipment_lat/long)
DETAIL_COLUMNS = ("product_metadata",)


def features_schema() -> StructType:
    """Schema of a feature frame: ids, transaction details, then every feature."""
    from pyspark.sql import types as T

    fields = [
        T.StructField("transaction_id", T.StringType()),
        T.StructField("session_id", T.StringType()),
        T.StructField("customer_id", T.StringType()),
        T.StructField("ts", T.LongType()),
        T.StructField("product_metadata", T.StringType()),
    ]
    for name, kind in FEATURES.items():
        fields.append(T.StructField(name, T.StringType() if kind == "category" else T.DoubleType()))
    return T.StructType(fields)


def customer_events(
    browsing: DataFrame, transactions: DataFrame, customers: DataFrame
) -> DataFrame:
    """One frame of each customer's profile records, browsing events and transactions.

    Works on batch and streaming frames alike: customers are a stream too (sign-ups arrive
    during a run), folded into the customer's state like any other event. ``seq`` orders
    events of the same second.
    """
    from pyspark.sql import functions as F

    def nulls(names: tuple[str, ...], kind: str = "string") -> list[Column]:
        return [F.lit(None).cast(kind).alias(c) for c in names]

    tx_columns = EVENT_COLUMNS[8:18]
    profile_columns = ("gender", "birth_day", "join_day", "home_lat", "home_long")
    b = browsing.select(
        "customer_id",
        F.lit(BROWSING).alias("kind"),
        "ts",
        F.lit(SEQ[BROWSING]).alias("seq"),
        "session_id",
        "event_type",
        "device_type",
        "traffic_source",
        *nulls(tx_columns),
        *nulls(profile_columns[:1]),
        *nulls(profile_columns[1:3], "int"),
        *nulls(profile_columns[3:], "double"),
    )
    t = transactions.select(
        "customer_id",
        F.lit(TRANSACTION).alias("kind"),
        "ts",
        F.lit(SEQ[TRANSACTION]).alias("seq"),
        "session_id",
        *nulls(("event_type", "device_type", "traffic_source")),
        *tx_columns,
        *nulls(profile_columns[:1]),
        *nulls(profile_columns[1:3], "int"),
        *nulls(profile_columns[3:], "double"),
    )
    c = customers.select(
        "customer_id",
        F.lit(CUSTOMER).alias("kind"),
        "ts",
        F.lit(SEQ[CUSTOMER]).alias("seq"),
        *nulls(("session_id", "event_type", "device_type", "traffic_source")),
        *nulls(tx_columns),
        "gender",
        F.datediff(F.to_date("birthdate"), F.lit("1970-01-01")).alias("birth_day"),
        F.datediff(F.to_date("first_join_date"), F.lit("1970-01-01")).alias("join_day"),
        F.col("home_location_lat").cast("double").alias("home_lat"),
        F.col("home_location_long").cast("double").alias("home_long"),
    )
    return b.unionByName(t).unionByName(c).select(*EVENT_COLUMNS)


def _present(value: Any) -> bool:
    return value is not None and value == value  # pandas gives NaN for a missing number


def fold_events(state: CustomerState, events: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fold a customer's events, in (ts, seq) order, into ``state``; one row per transaction."""
    rows = []
    for e in sorted(events, key=lambda e: (e["ts"], e["seq"])):
        kind = e["kind"]
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
            rows.append(
                {**{c: e[c] for c in ID_COLUMNS}, **{c: e[c] for c in DETAIL_COLUMNS}, **features}
            )
    return rows


def _frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    import pandas as pd

    columns = [*ID_COLUMNS, *DETAIL_COLUMNS, *FEATURES]
    return pd.DataFrame(rows, columns=columns)


def _fold_partition(frames: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    # rows arrive sorted by customer, then time: one pass folds every customer of the partition
    states: dict[str, CustomerState] = {}
    for frame in frames:
        rows: list[dict[str, Any]] = []
        for customer, events in itertools.groupby(
            frame.to_dict("records"), key=lambda e: e["customer_id"]
        ):
            rows.extend(fold_events(states.setdefault(customer, CustomerState()), events))
        yield _frame(rows)


def batch_features(events: DataFrame, partitions: int | None = None) -> DataFrame:
    """Feature rows of every transaction in a batch frame of :func:`customer_events`.

    A customer's events are brought together by partitioning on customer_id and sorting; each
    partition is then folded in one pass (far cheaper than one pandas frame per customer).
    """
    n = partitions or events.sparkSession.sparkContext.defaultParallelism
    ordered = events.repartition(n, "customer_id").sortWithinPartitions("customer_id", "ts", "seq")
    return ordered.mapInPandas(_fold_partition, features_schema())


def _fold_stream(
    key: tuple[str], batches: Iterator[pd.DataFrame], state: GroupState
) -> Iterator[pd.DataFrame]:
    current = CustomerState.from_json(state.get[0]) if state.exists else CustomerState()
    events = [e for frame in batches for e in frame.to_dict("records")]
    rows = fold_events(current, events)
    state.update((current.to_json(),))
    yield _frame(rows)


def streaming_features(events: DataFrame) -> DataFrame:
    """Feature rows of a streaming frame of :func:`customer_events`, with per-customer state.

    The caller sets the event-time watermark on ``events`` first: rows later than it are dropped
    (and counted by Spark) before they reach the state.
    """
    from pyspark.sql.streaming.state import GroupStateTimeout
    from pyspark.sql.types import StringType, StructField, StructType

    return events.groupBy("customer_id").applyInPandasWithState(
        _fold_stream,
        outputStructType=features_schema(),
        stateStructType=StructType([StructField("state", StringType())]),
        outputMode="append",
        timeoutConf=GroupStateTimeout.NoTimeout,
    )
