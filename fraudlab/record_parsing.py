"""Kafka values to records, and every value that is not one to a dead letter with its reason.

Works on batch and streaming frames with Kafka's columns (value, topic, partition, offset,
timestamp). Each value is parsed once, into a VARIANT (Spark's binary JSON): the rules below and
every field a later stage needs are read from that one parse, by path, without parsing again.

A message holds one record, or a JSON array of records (the format most of the assignment's
consumers write): each element of an array is a record of its own, with its position in the
array as ``element`` (0 for a message of one record), and is classified on its own.

A record is good when it is valid UTF-8 of at most :data:`MAX_VALUE_BYTES` (the limit applies per
record, so to each element of an array), a JSON object, carries an integer ``ts`` and the fields
its stream is keyed and joined by; anything else becomes a :class:`~fraudlab.records.DeadLetter`
whose reason is the first rule it breaks, in the order of :func:`rejection_reason`. Nothing is
dropped silently (an empty array is a dead letter too) and a bad value never stops a query.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fraudlab.records import EMPTY_ARRAY, Record, fields_of

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

MAX_VALUE_BYTES = 64 * 1024
# Fields without which a record of the stream cannot be used.
REQUIRED: dict[str, tuple[str, ...]] = {
    "browsing": ("session_id", "customer_id", "event_type"),
    "transactions": ("transaction_id", "customer_id", "session_id"),
}
KAFKA_COLUMNS = ("topic", "partition", "offset", "timestamp")
# which record of its message a row is: 0 for a message of one record, i for an array's i-th
ELEMENT = "element"
KAFKA_RECORD_COLUMNS = ("value", *KAFKA_COLUMNS, ELEMENT, "stream", "v", "empty_array")
# the largest ts written with at most 12 digits: seconds, never milliseconds
MAX_TS = 10**12
INTEGER_TYPES = ("TINYINT", "SMALLINT", "INT", "BIGINT")


def field(name: str, kind: str = "string") -> Column:
    """Field ``name`` of the parsed value (column ``v``) as ``kind``; null when absent."""
    from pyspark.sql import functions as F

    return F.expr(f"try_variant_get(v, '$.{name}', '{kind}')")


def rejection_reason(stream: Column) -> Column:
    """Why a Kafka value (parsed into ``v``) cannot be a record of ``stream``; null when it can."""
    from pyspark.sql import functions as F

    text = F.col("value").cast("string")
    ts_type = F.expr("schema_of_variant(try_variant_get(v, '$.ts', 'variant'))")
    ts = field("ts", "bigint")
    reason = (
        F.when(F.col("empty_array"), F.lit(EMPTY_ARRAY))
        .when(F.col("value").isNull(), F.lit("empty value"))
        .when(
            F.length("value") > MAX_VALUE_BYTES,
            F.lit(f"oversized: more than {MAX_VALUE_BYTES} bytes"),
        )
        .when(~F.expr("is_valid_utf8(cast(value as string))"), F.lit("invalid UTF-8"))
        .when(F.col("v").isNull(), F.lit("not JSON"))
        .when(~F.ltrim(text).startswith("{"), F.lit("not a JSON object"))
        .when(ts_type.isNull() | (ts_type == "VOID"), F.lit("missing ts"))
        .when(~ts_type.isin(*INTEGER_TYPES) | (F.abs(ts) >= MAX_TS), F.lit("ts is not an integer"))
    )
    for name, required in REQUIRED.items():
        for column in required:
            # customer_id as resolved by classify (a browsing record may lack it)
            value = F.col(column) if column == "customer_id" else field(column)
            reason = reason.when(
                (stream == name) & (value.isNull() | (value == "")), F.lit(f"missing {column}")
            )
    return reason.otherwise(F.lit(None).cast("string"))


def session_customers(raw: DataFrame) -> DataFrame:
    """Which customer each session belongs to: (``session_key``, ``session_customer``) from the
    Kafka rows of a run's customer_session topic, one row per session."""
    from pyspark.sql import functions as F

    sessions = classify(raw, F.lit("customer_session"))
    session, customer = field("session_id"), F.col("customer_id")
    return (
        sessions.where(F.col("reason").isNull() & (session != "") & (customer != ""))
        .groupBy(session.alias("session_key"))
        .agg(F.min(customer).alias("session_customer"))
    )


def classify(raw: DataFrame, stream: Column, sessions: DataFrame | None = None) -> DataFrame:
    """One row per record of the Kafka rows: ``value`` (the message, or the element's JSON for
    an element of an array), the Kafka columns, ``element``, ``stream`` (which stream the row
    belongs to), ``v`` (the record parsed once), ``customer_id`` and ``reason`` (null for a
    good record).

    A browsing record needs only the assignment's five columns: where it has no customer_id,
    ``sessions`` (:func:`session_customers`, a small static frame) gives it its session's.
    """
    from pyspark.sql import functions as F

    parsed = raw.select(
        "value",
        *KAFKA_COLUMNS,
        stream.alias("stream"),
        F.expr("try_parse_json(cast(value as string))").alias("message"),
    )
    array = F.expr("try_variant_get(message, '$', 'array<variant>')")
    # a message of one record is read as an array of one; an empty array keeps one row
    records = parsed.select(
        "*",
        array.isNotNull().alias("is_array"),
        F.posexplode_outer(F.coalesce(array, F.array("message"))).alias(ELEMENT, "v"),
    )
    in_array = F.col("is_array") & F.col(ELEMENT).isNotNull()
    value = F.when(in_array, F.expr("cast(to_json(v) as binary)")).otherwise(F.col("value"))
    classified = records.select(
        value.alias("value"),
        *KAFKA_COLUMNS,
        F.coalesce(F.col(ELEMENT), F.lit(0)).alias(ELEMENT),
        "stream",
        "v",
        (F.col("is_array") & F.col(ELEMENT).isNull()).alias("empty_array"),
    )
    customer = field("customer_id")
    if sessions is not None:
        lacking = (F.col("stream") == "browsing") & (customer.isNull() | (customer == ""))
        classified = classified.withColumn(
            "session_key", F.when(lacking, field("session_id"))
        ).join(F.broadcast(sessions), "session_key", "left")
        customer = F.when(lacking, F.col("session_customer")).otherwise(customer)
    classified = classified.select(*KAFKA_RECORD_COLUMNS, customer.alias("customer_id"))
    return classified.withColumn("reason", rejection_reason(F.col("stream"))).drop("empty_array")


def dead_letter_columns() -> list[Column]:
    """The columns of a :class:`~fraudlab.records.DeadLetter`, from classified rows."""
    from pyspark.sql import functions as F

    return [
        F.col("value").alias("raw"),
        F.col("reason"),
        F.col("topic").alias("source_topic"),
        F.col("partition").cast("long").alias("source_partition"),
        F.col("offset").alias("source_offset"),
        F.col(ELEMENT).alias("source_element"),
        F.unix_timestamp("timestamp").alias("ts"),
    ]


def parse_records(raw: DataFrame, cls: type[Record]) -> tuple[DataFrame, DataFrame]:
    """(records, dead letters) of a frame of Kafka rows of one stream.

    Records get the contract's columns, ``event_timestamp`` (a timestamp from ``ts``) and the Kafka
    coordinates; dead letters have exactly the columns of DeadLetter.
    """
    from pyspark.sql import functions as F

    checked = classify(raw, F.lit(cls.STREAM))
    columns = [
        F.col(f.name)
        if f.name == "customer_id"
        else field(f.name, "bigint" if f.type is int else "string").alias(f.name)
        for f in fields_of(cls)
    ]
    good = (
        checked.where(F.col("reason").isNull())
        .select(*columns, *KAFKA_COLUMNS, ELEMENT)
        .withColumn("event_timestamp", F.timestamp_seconds("ts"))
    )
    dead = checked.where(F.col("reason").isNotNull()).select(*dead_letter_columns())
    return good, dead
