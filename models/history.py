"""Labelled history as Spark DataFrames: from a simulation, or from an exported CSV dataset.

Training and evaluation read the same four frames the engine streams (browsing, transactions,
customers) plus ground truth; the features come from :mod:`engine.feature_frames`, the code the
engine scores with.
"""

from __future__ import annotations

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
    """The history in an assignment-layout dataset folder (the assignment's own or an export).

    The folder is read as ``produce-csv`` reads it (:mod:`simulator.csv_dataset`): either file
    names, a byte-order mark, quoted fields, every common time form (naive times in the
    default dataset time zone). Browsing rows without customer_id get it from
    customer_session.csv. fraud_transaction.csv may list only the frauds, as the assignment's
    does: a transaction it does not name is labelled legitimate. ``ts`` is each row's own time.

    Raises UsageError when a required file is missing or a row cannot be read (naming the
    file, line and field of the first; ``fraudlab check-csv`` lists them all).
    """
    from contextlib import ExitStack

    from fraudlab.field_values import event_time
    from simulator.csv_dataset import locate_dataset
    from simulator.csv_rows import Problem

    dataset = locate_dataset(data_dir)
    if "truth" not in dataset.files:
        raise UsageError(f"{data_dir} has no fraud_transaction.csv: training needs the labels.")
    problems: list[Problem] = []
    rows: dict[str, list[dict[str, Any]]] = {}
    with ExitStack() as stack:
        for stream in ("customer", "customer_session", "browsing", "transactions", "truth"):
            rows[stream] = list(dataset.rows(stack, stream, problems.append))
    if problems:
        raise UsageError(
            f"{len(problems)} row(s) of {data_dir} cannot be read (the first: {problems[0]}); "
            f"fraudlab check-csv {data_dir} lists them all."
        )
    sessions = {r["session_id"]: r["customer_id"] for r in rows["customer_session"]}
    for row in rows["browsing"]:
        row["customer_id"] = row.get("customer_id") or sessions.get(row["session_id"], "")
        row["ts"] = int(event_time(row["event_time"], dataset.zone))
    for row in rows["transactions"]:
        row["ts"] = int(event_time(row["created_at"], dataset.zone))
    for row in rows["customer"]:
        row["ts"] = 0
    listed = {r["transaction_id"]: r for r in rows["truth"]}
    rows["truth"] = [
        {
            "transaction_id": tx["transaction_id"],
            "is_fraud": (listed[tx["transaction_id"]].get("is_fraud") or "1")
            if tx["transaction_id"] in listed
            else "0",
            "pattern": listed.get(tx["transaction_id"], {}).get("pattern", ""),
            "ts": tx["ts"],
        }
        for tx in rows["transactions"]
    ]
    return History(*(_frame(spark, HISTORY_STREAMS[s], rows[s]) for s in HISTORY_STREAMS))
