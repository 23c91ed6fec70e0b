"""The scoring stream: a run's events in, one score (or one accounted drop) per record out.

browsing, transactions and customer records are read from Kafka, parsed (bad values go to the
dead-letter stream, see :mod:`engine.parsing`), watermarked 2 minutes behind event time, folded
per customer into features (:mod:`engine.feature_frames`) and scored by the saved model. Every
transaction comes out once as a Score; a record dropped as late or as a duplicate delivery comes
out as a dead letter whose reason starts with "late" or "duplicate", so that
produced = scored + dropped as late + dead-lettered holds, each term counted.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from engine.feature_frames import SCORED, customer_events, streaming_features, watermarked
from engine.parsing import parse_records
from fraudlab.records import (
    Browsing,
    Customer,
    DeadLetter,
    Record,
    Score,
    Transaction,
    field_names,
)
from models.pipelines import fraud_probability

if TYPE_CHECKING:
    from pyspark.ml import PipelineModel
    from pyspark.sql import Column, DataFrame

    from models.registry import SavedModel

INPUT_RECORDS = (Browsing, Transaction, Customer)


def kafka_rows(frame: DataFrame, cls: type[Record], topic: Column | str) -> DataFrame:
    """``frame`` (in ``cls``'s columns) as Kafka sink rows: topic, key, JSON value."""
    from pyspark.sql import functions as F

    topic_col = F.lit(topic) if isinstance(topic, str) else topic
    return frame.select(
        topic_col.alias("topic"),
        F.concat_ws("|", *(F.col(k).cast("string") for k in cls.KEY)).alias("key"),
        F.to_json(F.struct(*field_names(cls))).alias("value"),
    )


def split_by_stream(raw: DataFrame, topics: dict[str, str]) -> dict[str, DataFrame]:
    """The Kafka rows of each input stream of a source subscribed to all of them."""
    from pyspark.sql import functions as F

    return {cls.STREAM: raw.where(F.col("topic") == topics[cls.STREAM]) for cls in INPUT_RECORDS}


def dead_letters(raw: DataFrame, topics: dict[str, str]) -> DataFrame:
    """Kafka sink rows of every input value that cannot be parsed (to the dead-letter topic)."""
    by_stream = split_by_stream(raw, topics)
    dead = [parse_records(by_stream[cls.STREAM], cls)[1] for cls in INPUT_RECORDS]
    union = dead[0].unionByName(dead[1]).unionByName(dead[2])
    return kafka_rows(union, DeadLetter, topics[DeadLetter.STREAM])


def scores(
    raw_events: DataFrame,
    raw_customers: DataFrame,
    topics: dict[str, str],
    pipeline: PipelineModel,
    model: SavedModel,
) -> DataFrame:
    """Kafka sink rows of scores (to the scores topic) and of late or duplicate records (to the
    dead-letter topic), from raw Kafka rows of browsing and transactions, and of customers.

    Customers come from a source of their own with no rate limit: every micro-batch brings all
    customer records there are, so no transaction is scored before its customer's profile
    arrived (as in training, where every profile is there from the start).
    """
    from pyspark.sql import functions as F

    by_stream = split_by_stream(raw_events, topics)
    by_stream["customer"] = split_by_stream(raw_customers, topics)["customer"]
    good = {cls.STREAM: parse_records(by_stream[cls.STREAM], cls)[0] for cls in INPUT_RECORDS}
    events = watermarked(customer_events(good["browsing"], good["transactions"], good["customer"]))
    folded = streaming_features(events).withColumnRenamed("topic", "source_topic")
    # one pass through the model for every row keeps a single branch after the stateful fold;
    # the rows that were not scored ignore their (meaningless) probability
    out = pipeline.transform(folded.fillna("unknown", subset=["payment_method"]))
    probability = F.coalesce(fraud_probability(), F.lit(0.0))
    is_scored = F.col("outcome") == SCORED
    score = F.struct(
        "transaction_id",
        "session_id",
        "customer_id",
        "ts",
        probability.alias("probability"),
        (probability >= F.lit(model.threshold)).cast("long").alias("prediction"),
        F.lit(model.name).alias("model_name"),
        F.lit(model.digest).alias("model_digest"),
        F.col("total_amount"),
        F.col("shipment_lat").alias("shipment_location_lat"),
        F.col("shipment_long").alias("shipment_location_long"),
        F.coalesce("product_metadata", F.lit("[]")).alias("product_metadata"),
    )
    dropped = F.struct(
        F.to_json(F.struct("event_id", "customer_id", "session_id", "transaction_id", "ts"))
        .cast("binary")
        .alias("raw"),
        F.concat_ws(": ", "outcome", "note").alias("reason"),
        F.col("source_topic"),
        F.col("partition").cast("long").alias("source_partition"),
        F.col("offset").alias("source_offset"),
        F.col("ts"),
    )
    return out.select(
        F.when(is_scored, F.lit(topics[Score.STREAM]))
        .otherwise(F.lit(topics[DeadLetter.STREAM]))
        .alias("topic"),
        F.when(is_scored, F.col("transaction_id"))
        .otherwise(F.concat_ws("|", "source_topic", "partition", "offset"))
        .alias("key"),
        F.when(is_scored, F.to_json(score)).otherwise(F.to_json(dropped)).alias("value"),
    )


def parse_scores(raw: DataFrame) -> DataFrame:
    """Score records (with ``event_timestamp``) from Kafka rows of a scores topic."""
    from pyspark.sql import functions as F

    from fraudlab.schemas import spark_schema

    return (
        raw.select(F.from_json(F.col("value").cast("string"), spark_schema(Score)).alias("s"))
        .select("s.*")
        .where(F.col("transaction_id").isNotNull())
        .withColumn("event_timestamp", F.timestamp_seconds("ts"))
    )
