"""Kafka values to records, and every value that is not one to a dead letter with its reason.

Works on batch and streaming frames with Kafka's columns (value, topic, partition, offset,
timestamp). A value is good when it is valid UTF-8 of at most :data:`MAX_VALUE_BYTES`, a JSON
object, carries an integer ``ts`` and the fields its stream is keyed and joined by; anything else
becomes a :class:`~fraudlab.records.DeadLetter` whose reason is the first rule it breaks, in the
order below. Nothing is dropped silently and a bad value never stops a query.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fraudlab.records import Record
from fraudlab.schemas import spark_schema

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

MAX_VALUE_BYTES = 64 * 1024
# Fields without which a record of the stream cannot be used.
REQUIRED: dict[str, tuple[str, ...]] = {
    "browsing": ("session_id", "customer_id", "event_type"),
    "transactions": ("transaction_id", "customer_id", "session_id"),
}
KAFKA_COLUMNS = ("topic", "partition", "offset", "timestamp")


def rejection_reason(stream: str, parsed_ts: Column | None = None) -> Column:
    """Why a Kafka value cannot be a record of ``stream``; null when it can.

    ``parsed_ts`` is ts as the record's schema read it: null when the JSON holds it as a string.
    """
    from pyspark.sql import functions as F

    text = F.col("value").cast("string")
    raw_ts = F.get_json_object(text, "$.ts")
    reason = (
        F.when(F.col("value").isNull(), F.lit("empty value"))
        .when(
            F.length("value") > MAX_VALUE_BYTES,
            F.lit(f"oversized: more than {MAX_VALUE_BYTES} bytes"),
        )
        .when(~F.expr("is_valid_utf8(cast(value as string))"), F.lit("invalid UTF-8"))
        .when(F.expr("try_parse_json(cast(value as string))").isNull(), F.lit("not JSON"))
        .when(~F.ltrim(text).startswith("{"), F.lit("not a JSON object"))
        .when(raw_ts.isNull(), F.lit("missing ts"))
        .when(~raw_ts.rlike(r"^-?[0-9]{1,12}$"), F.lit("ts is not an integer"))
    )
    if parsed_ts is not None:
        reason = reason.when(parsed_ts.isNull(), F.lit("ts is not an integer"))
    for name in REQUIRED.get(stream, ()):
        value = F.get_json_object(text, f"$.{name}")
        reason = reason.when(value.isNull() | (value == ""), F.lit(f"missing {name}"))
    return reason.otherwise(F.lit(None).cast("string"))


def parse_records(raw: DataFrame, cls: type[Record]) -> tuple[DataFrame, DataFrame]:
    """(records, dead letters) of a frame of Kafka rows of one stream.

    Records get the contract's columns, ``event_timestamp`` (a timestamp from ``ts``) and the Kafka
    coordinates; dead letters have exactly the columns of DeadLetter.
    """
    from pyspark.sql import functions as F

    parsed = raw.withColumn("r", F.from_json(F.col("value").cast("string"), spark_schema(cls)))
    checked = parsed.withColumn("reason", rejection_reason(cls.STREAM, F.col("r.ts")))
    good = (
        checked.where(F.col("reason").isNull())
        .select("r.*", *KAFKA_COLUMNS)
        .withColumn("event_timestamp", F.timestamp_seconds("ts"))
    )
    dead = checked.where(F.col("reason").isNotNull()).select(
        F.col("value").alias("raw"),
        "reason",
        F.col("topic").alias("source_topic"),
        F.col("partition").cast("long").alias("source_partition"),
        F.col("offset").alias("source_offset"),
        F.unix_timestamp("timestamp").alias("ts"),
    )
    return good, dead
