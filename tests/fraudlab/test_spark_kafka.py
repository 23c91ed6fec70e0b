"""Spark's Kafka source reads what a test wrote to the real broker (connector + broker)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pyspark.sql import functions as F

from fraudlab import codec
from fraudlab.records import Truth, message_key
from fraudlab.schemas import spark_from_wire, spark_wire_schema

pytestmark = [pytest.mark.kafka, pytest.mark.spark]


async def _write(bootstrap: str, topic: str, records: list[Truth]) -> None:
    from fraudlab.kafka_io import make_producer, start_or_report

    producer = make_producer(bootstrap)
    await start_or_report(producer, bootstrap)
    try:
        for r in records:
            await producer.send(topic, codec.encode(r), key=message_key(r))
        await producer.flush()
    finally:
        await producer.stop()


async def test_structured_streaming_reads_a_topic_through_the_kafka_source(
    spark: Any, bootstrap: str, topic_factory: Callable[..., str], tmp_path: Any
) -> None:
    topic = topic_factory(partitions=2)
    records = [Truth(f"t{i}", i % 3 == 0, "", 1_700_000_000 + i) for i in range(50)]
    await _write(bootstrap, topic, records)

    stream = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", bootstrap)
        .option("subscribe", topic)
        .option("startingOffsets", "earliest")
        .load()
        .select(
            F.col("key").cast("string").alias("key"),
            F.from_json(F.col("value").cast("string"), spark_wire_schema(Truth)).alias("r"),
        )
        .select("key", *spark_from_wire(Truth, F.col("r")))
    )
    query = (
        stream.writeStream.format("memory")
        .queryName("truth_from_kafka")
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination(120)
    assert query.exception() is None
    rows = spark.sql("SELECT * FROM truth_from_kafka ORDER BY ts").collect()
    assert [Truth(r.transaction_id, r.is_fraud, r.pattern, r.ts) for r in rows] == records
    assert all(r.key == r.transaction_id for r in rows)
