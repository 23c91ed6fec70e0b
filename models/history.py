"""Labelled history as Spark DataFrames: from a simulation, or from an exported CSV dataset.

Training and evaluation read the same four frames the engine streams (browsing, transactions,
customers) plus ground truth; the features come from :mod:`engine.feature_frames`, the code the
engine scores with.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from fraudlab.errors import UsageError
from fraudlab.records import Browsing, Customer, Record, Transaction, Truth, field_names
from fraudlab.schemas import arrow_schema, spark_schema

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from simulator.simulation import Message

HISTORY_STREAMS: dict[str, type[Record]] = {
    "browsing": Browsing,
    "transactions": Transaction,
    "customer": Customer,
    "truth": Truth,
}
# what identifies a record, so that duplicated deliveries count once in training data
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
            F.when(F.col("is_fraud") == "1", 1.0).otherwise(0.0).alias("label"),
            F.coalesce(F.col("pattern"), F.lit("")).alias("pattern"),
        ).dropDuplicates(["transaction_id"])
        return features.join(truth, "transaction_id", "inner")


def rows_by_stream(messages: Iterable[Message]) -> dict[str, list[dict[str, Any]]]:
    """The decodable records of the history streams, once each, in delivery order."""
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
        identity = str(row.get(IDENTITY[m.stream]))
        if identity in seen[m.stream]:
            continue
        seen[m.stream].add(identity)
        rows[m.stream].append(row)
    return rows


def _frame(spark: SparkSession, cls: type[Record], rows: list[dict[str, Any]]) -> DataFrame:
    import pyarrow as pa

    names = field_names(cls)
    table = pa.Table.from_pylist(
        [{n: r.get(n) for n in names} for r in rows], schema=arrow_schema(cls)
    )
    if table.num_rows == 0:
        return spark.createDataFrame([], spark_schema(cls))
    return spark.createDataFrame(table.to_pandas(), spark_schema(cls))


def simulated_history(
    spark: SparkSession,
    scenario_name: str,
    scenarios_dir: Path,
    seed: int,
    minutes: float | None = None,
    progress: Callable[[float, float], None] | None = None,
) -> History:
    """Simulate a scenario and return its history as frames."""
    from simulator.scenario import load_scenario
    from simulator.simulation import Simulation

    sim = Simulation(load_scenario(scenario_name, scenarios_dir), seed, minutes=minutes)

    def messages() -> Iterable[Message]:
        yield from sim.static_messages()
        t = 0.0
        while t < sim.horizon_s:
            t = min(t + 600.0, sim.horizon_s)
            yield from sim.advance(t)
            if progress is not None:
                progress(t, sim.horizon_s)
        yield from sim.advance(float("inf"))

    rows = rows_by_stream(messages())
    return History(*(_frame(spark, HISTORY_STREAMS[s], rows.get(s, [])) for s in HISTORY_STREAMS))


def csv_history(spark: SparkSession, data_dir: Path) -> History:
    """The history in an exported, assignment-layout dataset folder."""
    files = {
        "browsing": "browsing_behaviour.csv",
        "transactions": "transactions.csv",
        "customer": "customer.csv",
        "truth": "fraud_transaction.csv",
    }
    rows: dict[str, list[dict[str, Any]]] = {}
    for stream, name in files.items():
        path = data_dir / name
        if not path.is_file():
            raise UsageError(f"{path} is missing: --data needs {', '.join(files.values())}.")
        with path.open(newline="", encoding="utf-8") as handle:
            rows[stream] = [_with_ts(stream, r) for r in csv.DictReader(handle)]
    return History(*(_frame(spark, HISTORY_STREAMS[s], rows[s]) for s in HISTORY_STREAMS))


def _with_ts(stream: str, row: dict[str, Any]) -> dict[str, Any]:
    from simulator.csv_batches import parse_time

    if row.get("ts"):
        row["ts"] = int(row["ts"])
    else:
        when = row.get("event_time") or row.get("created_at")
        row["ts"] = int(parse_time(when)) if when else 0
    return row
