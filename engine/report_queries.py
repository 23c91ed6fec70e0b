"""The run's reports as Spark queries: live, the fraud-alerts and top-products queries over the
scores topic; at the end, both over every score as batch jobs, so that every window closes.

The windows themselves (10 s fraud alerts over the last 2 minutes, 30 s top products) are
defined in :mod:`engine.reports`; this module reads, triggers and writes them.

Each report window reaches its topic once per run, in its final form: live, a window is written
when the watermark closes it (append mode: a window is never written before it is whole), and
closing a run writes only the windows that were never written (the run's last ones, which no
watermark closed), read from what the topics hold. A window's key names the run and the window
(and the product, for top products; :attr:`fraudlab.records.Record.RUN_IN_KEY`): a micro-batch
that Spark runs again after a crash writes the same windows under the same keys, so a consumer
tells a repeat by its key.

The fraud-alerts topic is in window-end order: each micro-batch's windows are written by one
task, sorted by window end, to partition 0, and a micro-batch's windows all end after those of
the batches before it (the watermark only moves on). A consumer that acts on each new alert
(:mod:`delivery.sending`) reads them in the order they happened without holding any back. The
windows a run's close writes end after every live one.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.reports import fraud_alerts, product_quantities, top_products
from engine.scoring import LATENESS, kafka_rows, parse_scores
from engine.sources import kafka_batch, kafka_stream
from fraudlab.records import FraudAlerts, Product, TopProduct
from fraudlab.schemas import spark_schema

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

# Live triggers at speed 1, divided by the speed of a faster run: seconds between fraud-alert
# reports, and between top-products reports.
ALERTS_TRIGGER_S, TOP_TRIGGER_S = 10.0, 30.0

__all__ = [
    "ALERTS_TRIGGER_S",
    "TOP_TRIGGER_S",
    "alerts_query",
    "close_reports",
    "read_products",
    "sink_query",
    "top_products_query",
    "windows_query",
    "write_batch",
]


def read_products(spark: SparkSession, bootstrap: str, topic: str) -> DataFrame:
    """The run's products (one row per id), read once and cached: top products name them."""
    from pyspark.sql import functions as F

    raw = kafka_batch(spark, bootstrap, [topic])
    parsed = raw.select(
        F.from_json(F.col("value").cast("string"), spark_schema(Product)).alias("p")
    )
    return parsed.select("p.*").where(F.col("id").isNotNull()).dropDuplicates(["id"]).cache()


def sink_query(
    frame: DataFrame, name: str, checkpoints: Path, bootstrap: str, trigger: dict[str, Any]
) -> StreamingQuery:
    """Start query ``name`` writing ``frame``'s Kafka rows (topic, key, value), acks=all."""
    return (
        frame.writeStream.format("kafka")
        .queryName(name)
        .option("kafka.bootstrap.servers", bootstrap)
        .option("kafka.acks", "all")
        .option("checkpointLocation", str(checkpoints / name))
        .outputMode("append")
        .trigger(**trigger)
        .start()
    )


def write_batch(frame: DataFrame, bootstrap: str) -> None:
    """Write a batch frame's Kafka rows (topic, key, value), acks=all."""
    frame.write.format("kafka").option("kafka.bootstrap.servers", bootstrap).option(
        "kafka.acks", "all"
    ).save()


def ordered_alert_rows(alerts: DataFrame, topic: str, run_id: str) -> DataFrame:
    """A batch frame of fraud-alerts windows as Kafka rows for partition 0, in one task and
    sorted by window end (then start), so that the topic is in window-end order."""
    from pyspark.sql import functions as F

    ordered = alerts.coalesce(1).sortWithinPartitions("window_end", "window_start")
    return kafka_rows(ordered, FraudAlerts, topic, run_id).withColumn("partition", F.lit(0))


def written_windows(spark: SparkSession, bootstrap: str, topic: str) -> DataFrame:
    """The (window_start, window_end) of every window a report topic holds now, once each."""
    from pyspark.sql import functions as F

    window = "struct<window_start:bigint,window_end:bigint>"
    return (
        kafka_batch(spark, bootstrap, [topic])
        .select(F.from_json(F.col("value").cast("string"), window).alias("w"))
        .select("w.window_start", "w.window_end")
        .where(F.col("window_start").isNotNull())
        .distinct()
    )


def close_reports(
    spark: SparkSession,
    bootstrap: str,
    topics: dict[str, str],
    products: DataFrame,
    run_id: str,
) -> None:
    """Both reports over every score of the run, as batch frames: every window closed, and
    written only if its topic does not hold it yet (a window is written once per run)."""
    window = ["window_start", "window_end"]
    all_scores = parse_scores(kafka_batch(spark, bootstrap, [topics["scores"]]))
    # read and parsed once for both reports
    all_scores = all_scores.dropDuplicates(["transaction_id"]).persist()
    try:
        alerts = fraud_alerts(all_scores).join(
            written_windows(spark, bootstrap, topics["fraud-alerts"]), window, "left_anti"
        )
        write_batch(ordered_alert_rows(alerts, topics["fraud-alerts"], run_id), bootstrap)
        # a top-products window is written whole (its 20 ranks at once): one written row of it
        # means all of it was
        quantities = product_quantities(all_scores, products).join(
            written_windows(spark, bootstrap, topics["top-products"]), window, "left_anti"
        )
        write_batch(
            kafka_rows(top_products(quantities), TopProduct, topics["top-products"], run_id),
            bootstrap,
        )
    finally:
        all_scores.unpersist()


def _scored(spark: SparkSession, bootstrap: str, topics: dict[str, str]) -> DataFrame:
    """The run's scores as a stream, read from the topic's start, watermarked by event time."""
    return parse_scores(kafka_stream(spark, bootstrap, [topics["scores"]])).withWatermark(
        "event_timestamp", LATENESS
    )


def alerts_query(
    spark: SparkSession,
    bootstrap: str,
    speed: float,
    topics: dict[str, str],
    checkpoints: Path,
    run_id: str,
) -> StreamingQuery:
    """The live fraud-alerts query (every 10 s / ``speed``): 2-minute windows of the scores
    topic read from its start, each written once the watermark passes its end."""

    def write_alerts(batch: DataFrame, _batch_id: int) -> None:
        write_batch(ordered_alert_rows(batch, topics["fraud-alerts"], run_id), bootstrap)

    scored = _scored(spark, bootstrap, topics)
    every_s = ALERTS_TRIGGER_S / speed
    return windows_query(fraud_alerts(scored), "fraud-alerts", checkpoints, every_s, write_alerts)


def top_products_query(
    spark: SparkSession,
    bootstrap: str,
    speed: float,
    topics: dict[str, str],
    products: DataFrame,
    checkpoints: Path,
    run_id: str,
) -> StreamingQuery:
    """The live top-products query (every 30 s / ``speed``): the 20 products most sold in
    non-fraud transactions, per window of the scores topic read from its start."""

    def write_top(batch: DataFrame, _batch_id: int) -> None:
        top = kafka_rows(top_products(batch), TopProduct, topics["top-products"], run_id)
        write_batch(top, bootstrap)

    quantities = product_quantities(_scored(spark, bootstrap, topics), products)
    every_s = TOP_TRIGGER_S / speed
    return windows_query(quantities, "top-products", checkpoints, every_s, write_top)


def windows_query(
    frame: DataFrame,
    name: str,
    checkpoints: Path,
    every_s: float,
    write: Callable[[DataFrame, int], None],
) -> StreamingQuery:
    """Start query ``name``: ``frame``'s finished windows (append mode), handed to ``write``
    as a batch frame every ``every_s`` seconds of processing time."""
    return (
        frame.writeStream.queryName(name)
        .option("checkpointLocation", str(checkpoints / name))
        .outputMode("append")
        .trigger(processingTime=f"{every_s:.3f} seconds")
        .foreachBatch(write)
        .start()
    )
