"""What the engine tells about itself: the progress of its queries and the counts of a run.

The counts are read back from the run's topics, so that produced = scored + dropped as late +
duplicates + dead-lettered can be checked against what the broker holds.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.scoring import INPUT_STREAMS, parse_scores
from engine.sources import kafka_batch
from fraudlab.kafka_io import end_offsets
from fraudlab.records import DeadLetter
from fraudlab.schemas import spark_schema
from fraudlab.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.streaming import StreamingQuery

__all__ = ["INPUT_STREAMS", "EngineReport", "count_results", "query_progress"]


@dataclass
class EngineReport:
    """What the engine did, counted from the topics it wrote."""

    run_id: str
    # messages per input stream (a message may hold a JSON array of records)
    produced: dict[str, int] = field(default_factory=dict)
    scored: int = 0
    dropped_late: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    # folded in within the lateness limit, but after the frontier had passed them
    after_frontier: int = 0
    fraud_alert_windows: int = 0
    top_product_rows: int = 0
    wall_s: float = 0.0


def query_progress(query: StreamingQuery) -> dict[str, Any]:
    """The figures of a query's last micro-batch that the CLI prints and the views read."""
    p: dict[str, Any] = query.lastProgress or {}
    ops = p.get("stateOperators") or []
    return {
        "query": query.name,
        "batch": p.get("batchId"),
        "input_rows": p.get("numInputRows", 0),
        "input_per_s": round(p.get("inputRowsPerSecond") or 0.0, 1),
        "processed_per_s": round(p.get("processedRowsPerSecond") or 0.0, 1),
        "batch_ms": (p.get("durationMs") or {}).get("triggerExecution"),
        "watermark": (p.get("eventTime") or {}).get("watermark"),
        "dropped_by_watermark": sum(op.get("numRowsDroppedByWatermark", 0) for op in ops),
        "state_rows": sum(op.get("numRowsTotal", 0) for op in ops),
    }


def count_results(
    spark: SparkSession, settings: Settings, report: EngineReport, topics: dict[str, str]
) -> None:
    """Fill the report's counts from the run's topics."""
    from pyspark.sql import functions as F

    bootstrap = settings.bootstrap_servers
    ends = asyncio.run(end_offsets(bootstrap, [topics[s] for s in INPUT_STREAMS]))
    for (topic, _), offset in ends.items():
        stream = topic.rsplit(".", 1)[1]
        report.produced[stream] = report.produced.get(stream, 0) + offset
    report.scored = (
        parse_scores(kafka_batch(spark, bootstrap, [topics["scores"]]))
        .select("transaction_id")
        .distinct()
        .count()
    )
    letters = (
        kafka_batch(spark, bootstrap, [topics["dead-letter"]])
        .select(F.from_json(F.col("value").cast("string"), spark_schema(DeadLetter)).alias("d"))
        .select("d.*")
        .dropDuplicates(list(DeadLetter.KEY))
    )
    by_kind = {
        r["kind"]: r["n"]
        for r in letters.groupBy(F.split("reason", ":").getItem(0).alias("kind"))
        .agg(F.count("*").alias("n"))
        .collect()
    }
    report.dropped_late = by_kind.pop("late", 0)
    report.duplicates = by_kind.pop("duplicate", 0)
    report.dead_lettered = sum(by_kind.values())
    if "frontier" in topics:
        reports = kafka_batch(spark, bootstrap, [topics["frontier"]])
        count = F.get_json_object(F.col("value").cast("string"), "$.after_frontier")
        report.after_frontier = int(
            reports.select(F.sum(count.cast("long")).alias("n")).first()["n"] or 0  # type: ignore[index]
        )
    report.fraud_alert_windows = (
        kafka_batch(spark, bootstrap, [topics["fraud-alerts"]]).select("key").distinct().count()
    )
    report.top_product_rows = (
        kafka_batch(spark, bootstrap, [topics["top-products"]]).select("key").distinct().count()
    )
