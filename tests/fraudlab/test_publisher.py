"""The batching publisher against a real broker: where each message lands, and in what order."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from fraudlab.kafka_io import make_consumer, start_or_report
from fraudlab.publisher import Publisher, partition_for

pytestmark = pytest.mark.kafka


async def _logs(
    bootstrap: str, topic: str, total: int
) -> dict[int, list[tuple[bytes | None, bytes]]]:
    consumer = make_consumer(bootstrap, topic)
    await start_or_report(consumer, bootstrap)
    logs: dict[int, list[tuple[bytes | None, bytes]]] = {}
    got = 0
    try:
        while got < total:
            batch = await consumer.getmany(timeout_ms=5000)
            assert batch, f"{got} of {total} messages within 5 s"
            for tp, messages in batch.items():
                logs.setdefault(tp.partition, []).extend((m.key, m.value) for m in messages)
                got += len(messages)
    finally:
        await consumer.stop()
    return logs


async def test_a_given_partition_takes_the_message_in_turn_with_keyed_ones(
    bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory(partitions=2)
    key = b"c42"
    home = partition_for(key, 2)
    publisher = Publisher(bootstrap)
    await publisher.start()
    try:
        await publisher.send(topic, key, b"1", None)
        await publisher.send(topic, None, b"2", None, partition=home)
        await publisher.send(topic, key, b"3", None)
        await publisher.send(topic, key, b"4", None, partition=1 - home)
        with pytest.raises(ValueError, match="without a key needs a partition"):
            await publisher.send(topic, None, b"x", None)
        with pytest.raises(ValueError, match="has no partition 2"):
            await publisher.send(topic, key, b"x", None, partition=2)
    finally:
        await publisher.close()
    assert publisher.delivered[topic] == 4
    assert await _logs(bootstrap, topic, 4) == {
        home: [(key, b"1"), (None, b"2"), (key, b"3")],
        1 - home: [(key, b"4")],
    }


async def test_a_resumed_publisher_skips_what_each_partition_holds_and_sends_the_rest(
    bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory(partitions=2)
    key = b"c42"
    home = partition_for(key, 2)
    # the partition of `key` holds its first two messages already; the other holds none
    publisher = Publisher(bootstrap, skip={(topic, home): 2})
    await publisher.start()
    try:
        assert publisher.resuming
        for value in (b"1", b"2", b"3", b"4"):
            await publisher.send(topic, key, value, None)
        await publisher.send(topic, key, b"x", None, partition=1 - home)
        assert not publisher.resuming
    finally:
        await publisher.close()
    assert (publisher.skipped[topic], publisher.delivered[topic]) == (2, 3)
    assert await _logs(bootstrap, topic, 3) == {
        home: [(key, b"3"), (key, b"4")],
        1 - home: [(key, b"x")],
    }
