"""What the engine tells about itself: the progress of its queries and the counts of a run.

The counts are read back from the run's topics, so that produced = scored + dropped as late +
duplicates + dead-lettered can be checked against what the broker holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from engine.scoring import INPUT_STREAMS
from engine.sources import kafka_batch
from fraudlab.blocking_kafka import BlockingKafka
from fraudlab.records import DeadLetter
from fraudlab.schemas import spark_schema
from fraudlab.settings import Settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession
    from pyspark.sql.streaming import StreamingQuery

__all__ = ["INPUT_STREAMS", "EngineReport", "count_results", "produced_messages", "query_progress"]


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
    # of the dead letters: transactions that claimed another customer's transaction id or
    # session (engine.identity)
    conflicts: int = 0
    # folded in within the lateness limit, but after the frontier had passed them
    after_frontier: int = 0
    # changes to the run's rules that could not be used (dead letters from the rules topic, not
    # input records)
    rule_changes_refused: int = 0
    fraud_alert_windows: int = 0
    top_product_rows: int = 0
    inventory_forecast_rows: int = 0
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


def produced_messages(kafka: BlockingKafka, topics: dict[str, str]) -> dict[str, int]:
    """Messages in each input stream's topic (a message may hold a JSON array of records)."""
    produced: dict[str, int] = {}
    ends = kafka.end_offsets([topics[s] for s in INPUT_STREAMS])
    for (topic, _), offset in ends.items():
        stream = topic.rsplit(".", 1)[1]
        produced[stream] = produced.get(stream, 0) + offset
    return produced


def count_results(
    spark: SparkSession,
    settings: Settings,
    report: EngineReport,
    topics: dict[str, str],
    kafka: BlockingKafka,
) -> None:
    """Fill the report's counts from the run's topics, in one Spark job over the five of them.

    Scores count once per transaction, dead letters once per key (a replayed micro-batch writes
    them again), fraud-alert windows and top-product rows once per Kafka key.
    """
    from pyspark.sql import functions as F

    bootstrap = settings.bootstrap_servers
    report.produced = produced_messages(kafka, topics)
    streams = ["scores", "dead-letter", "fraud-alerts", "top-products"]
    streams += [s for s in ("inventory-forecast", "frontier") if s in topics]
    rows = kafka_batch(spark, bootstrap, [topics[s] for s in streams])
    value = F.col("value").cast("string")

    def on(stream: str, column: Any) -> Any:
        return F.when(F.col("topic") == topics[stream], column)

    letter = F.from_json(value, spark_schema(DeadLetter))
    letter_key = F.to_json(F.struct(*(letter[k] for k in DeadLetter.KEY)))
    kind = F.coalesce(F.split(letter["reason"], ":").getItem(0), F.lit(""))

    def letters(condition: Any) -> Any:
        return F.count_distinct(on("dead-letter", F.when(condition, letter_key)))

    from_rules = letter["source_topic"] == F.lit(topics.get("rules", ""))

    counts = rows.select(
        F.count_distinct(on("scores", F.get_json_object(value, "$.transaction_id"))).alias(
            "scored"
        ),
        letters(kind == "late").alias("late"),
        letters(kind == "duplicate").alias("duplicate"),
        letters(~kind.isin("late", "duplicate") & ~from_rules).alias("dead_lettered"),
        letters(from_rules).alias("rule_changes_refused"),
        letters(kind == "conflict").alias("conflicts"),
        F.sum(
            on("frontier", F.get_json_object(value, "$.after_frontier").cast("long"))
            if "frontier" in topics
            else F.lit(0)
        ).alias("after_frontier"),
        F.count_distinct(on("fraud-alerts", F.col("key"))).alias("fraud_alert_windows"),
        F.count_distinct(on("top-products", F.col("key"))).alias("top_product_rows"),
        (
            F.count_distinct(on("inventory-forecast", F.col("key")))
            if "inventory-forecast" in topics
            else F.lit(0)
        ).alias("inventory_forecast_rows"),
    ).collect()[0]  # an aggregate without grouping: one row
    report.scored = counts["scored"]
    report.dropped_late = counts["late"]
    report.duplicates = counts["duplicate"]
    report.dead_lettered = counts["dead_lettered"]
    report.rule_changes_refused = counts["rule_changes_refused"]
    report.conflicts = counts["conflicts"]
    report.after_frontier = int(counts["after_frontier"] or 0)
    report.fraud_alert_windows = counts["fraud_alert_windows"]
    report.top_product_rows = counts["top_product_rows"]
    report.inventory_forecast_rows = counts["inventory_forecast_rows"]
