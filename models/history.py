"""Labelled history as Spark DataFrames, the input of training and evaluation.

Training and evaluation read the same four frames the engine streams (browsing, transactions,
customers) plus ground truth; the features come from :mod:`features.frames`, the code the
engine scores with. Where the history comes from (a simulation, a dataset folder) is the
caller's: :mod:`lab.training_runs` reads both.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import orjson

from fraudlab.records import Browsing, Customer, Record, Transaction, Truth, field_names
from fraudlab.schemas import arrow_from_wire, arrow_wire_schema, spark_schema

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


class StreamValue(Protocol):
    """A message as history needs it: its stream and its value (a simulator's message)."""

    @property
    def stream(self) -> str: ...

    @property
    def value(self) -> bytes: ...


HISTORY_STREAMS: dict[str, type[Record]] = {
    "browsing": Browsing,
    "transactions": Transaction,
    "customer": Customer,
    "truth": Truth,
}
# what identifies a record, so that duplicated deliveries count once in training data; a
# record without it (browsing in the assignment's columns has no event_id) is kept as it
# comes, as the engine's fold keeps it
IDENTITY = {
    "browsing": "event_id",
    "transactions": "transaction_id",
    "customer": "customer_id",
    "truth": "transaction_id",
}


@dataclass(frozen=True)
class History:
    """Browsing, transactions, customers and truth of one stretch of simulated or real time."""

    browsing: DataFrame
    transactions: DataFrame
    customers: DataFrame
    truth: DataFrame

    def labelled(self, features: DataFrame) -> DataFrame:
        """Feature rows with ``label`` (1.0 for fraud) and ``pattern`` from the truth."""
        from pyspark.sql import functions as F

        truth = self.truth.select(
            "transaction_id",
            F.when(F.col("is_fraud"), 1.0).otherwise(0.0).alias("label"),
            F.coalesce(F.col("pattern"), F.lit("")).alias("pattern"),
        ).dropDuplicates(["transaction_id"])
        return features.join(truth, "transaction_id", "inner")


def rows_by_stream(messages: Iterable[StreamValue]) -> dict[str, list[dict[str, Any]]]:
    """The decodable records of the history streams, once each, in delivery order.

    >>> from types import SimpleNamespace as Sent
    >>> rows = rows_by_stream([
    ...     Sent(stream="browsing", value=b'{"event_id":"e1","ts":5}'),
    ...     Sent(stream="browsing", value=b'{"event_id":"e1","ts":5}'),
    ...     Sent(stream="browsing", value=b'{"session_id":"s1","ts":6}'),
    ...     Sent(stream="browsing", value=b'{"session_id":"s1","ts":6}'),
    ...     Sent(stream="product", value=b'{"id":"p1","ts":0}')])
    >>> [r["ts"] for r in rows["browsing"]], "product" in rows
    ([5, 6, 6], False)
    """
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    seen: dict[str, set[str]] = defaultdict(set)
    for m in messages:
        if m.stream not in HISTORY_STREAMS:
            continue
        try:
            row = orjson.loads(m.value)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(row, dict) or not isinstance(row.get("ts"), int):
            continue
        identity = row.get(IDENTITY[m.stream])
        if identity is not None and identity != "":
            if str(identity) in seen[m.stream]:
                continue
            seen[m.stream].add(str(identity))
        rows[m.stream].append(row)
    return rows


def history_frames(spark: SparkSession, rows: dict[str, list[dict[str, Any]]]) -> History:
    """The history of records by stream (browsing, transactions, customer, truth), each record
    given as its JSON object (:func:`fraudlab.codec.to_dict` of a record writes one)."""
    return History(*(_frame(spark, HISTORY_STREAMS[s], rows.get(s, [])) for s in HISTORY_STREAMS))


def _frame(spark: SparkSession, cls: type[Record], rows: list[dict[str, Any]]) -> DataFrame:
    """The frame of records given as their JSON objects (truth's is_fraud as label text, read
    by the codec's rule: a text that is no label is null, and so not a fraud)."""
    import pyarrow as pa

    names = field_names(cls)
    wire = pa.Table.from_pylist(
        [{n: r.get(n) for n in names} for r in rows], schema=arrow_wire_schema(cls)
    )
    table, _ = arrow_from_wire(cls, wire)
    if table.num_rows == 0:
        return spark.createDataFrame([], spark_schema(cls))
    return spark.createDataFrame(table.to_pandas(), spark_schema(cls))
