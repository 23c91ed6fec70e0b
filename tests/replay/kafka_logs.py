"""Reading a topic back whole: each partition's messages in offset order."""

from __future__ import annotations

from dataclasses import dataclass

from fraudlab.kafka_io import end_offsets, make_consumer, start_or_report


@dataclass(frozen=True)
class Logged:
    """A message as the log holds it."""

    key: bytes | None
    value: bytes
    timestamp_ms: int


async def partition_logs(bootstrap: str, topic: str) -> dict[int, list[Logged]]:
    """Every message of ``topic``, by partition, in offset order."""
    ends = await end_offsets(bootstrap, [topic])
    total = sum(ends.values())
    logs: dict[int, list[Logged]] = {}
    if not total:
        return logs
    consumer = make_consumer(bootstrap, topic, max_partition_fetch_bytes=8 << 20)
    await start_or_report(consumer, bootstrap)
    got = 0
    try:
        while got < total:
            batch = await consumer.getmany(timeout_ms=5000)
            assert batch, f"{topic}: {got} of {total} messages within 5 s"
            for tp, messages in batch.items():
                logs.setdefault(tp.partition, []).extend(
                    Logged(m.key, m.value, m.timestamp) for m in messages
                )
                got += len(messages)
    finally:
        await consumer.stop()
    return logs
