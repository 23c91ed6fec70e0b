"""aiokafka producer -> real broker -> aiokafka consumer, keyed, acks=all, idempotent."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fraudlab import codec
from fraudlab.errors import BrokerUnavailable
from fraudlab.kafka_io import end_offsets, make_consumer, make_producer, start_or_report
from fraudlab.net import free_port
from fraudlab.records import Truth, message_key

pytestmark = pytest.mark.kafka


async def test_keyed_idempotent_round_trip(
    bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory(partitions=3)
    records = [
        Truth(f"t{i}", i % 2 == 1, "card_testing" if i % 2 else "", 1_700_000_000 + i)
        for i in range(200)
    ]
    producer = make_producer(bootstrap)
    await start_or_report(producer, bootstrap)
    try:
        futures = [await producer.send(topic, codec.encode(r), key=message_key(r)) for r in records]
        metadata = [await f for f in futures]
        # aiokafka exposes no public getter: the broker handed this producer an idempotent id
        assert producer._txn_manager is not None and producer._txn_manager.producer_id >= 0
        assert producer._sender._acks == -1  # acks=all
    finally:
        await producer.stop()
    # a key always lands on the same partition
    by_key: dict[bytes, set[int]] = {}
    for r, m in zip(records, metadata, strict=True):
        by_key.setdefault(message_key(r), set()).add(m.partition)
    assert all(len(p) == 1 for p in by_key.values())

    consumer = make_consumer(bootstrap, topic)
    await start_or_report(consumer, bootstrap)
    got = []
    try:
        while len(got) < len(records):
            batch = await consumer.getmany(timeout_ms=5000)
            assert batch, "no messages within 5 s"
            for messages in batch.values():
                got.extend(messages)
    finally:
        await consumer.stop()
    decoded = sorted((codec.decode(Truth, m.value) for m in got), key=lambda r: r.ts)
    assert decoded == records
    assert all(m.key == message_key(codec.decode(Truth, m.value)) for m in got)
    ends = await end_offsets(bootstrap, [topic])
    assert sum(ends.values()) == len(records)


async def test_a_stopped_broker_is_reported_in_one_sentence() -> None:
    producer = make_producer(f"127.0.0.1:{free_port()}")
    with pytest.raises(BrokerUnavailable, match=r"^no Kafka broker answers at 127\.0\.0\.1:\d+"):
        await start_or_report(producer, producer.client._bootstrap_servers)
