"""Reading a run's ``run-events`` topic: what its parts said so far, and whether they ended.

The archive folds the same events into a run's metadata once the run is over; the engine, the
`fraudlab run` status line and the views read them while it happens.

>>> events = [RunEvent("r1", "producer", "started", "{}", 100),
...           RunEvent("r1", "producer", "progress", '{"simulated_s": 60.0}', 102),
...           RunEvent("r1", "producer", "interrupted", "{}", 103)]
>>> part_ending(events, "producer"), part_ending(events, "engine")
('interrupted', None)
>>> latest_details(events, "producer", "progress")
{'simulated_s': 60.0}
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from fraudlab import codec
from fraudlab.kafka_io import existing_partitions, make_consumer, start_or_report
from fraudlab.records import RunEvent
from fraudlab.topics import topic_name

__all__ = ["ENDINGS", "latest_details", "part_ending", "read_run_events"]

ENDINGS = ("finished", "interrupted", "failed")


async def read_run_events(bootstrap: str, run_id: str) -> list[RunEvent]:
    """Every run-event of ``run_id`` the broker holds now, in log order ([] if none yet)."""
    from aiokafka import TopicPartition

    topic = topic_name(run_id, RunEvent.STREAM)
    consumer = make_consumer(bootstrap)
    await start_or_report(consumer, bootstrap)
    try:
        known = await existing_partitions(consumer, [topic])
        partitions = [TopicPartition(topic, p) for p in known.get(topic, [])]
        if not partitions:
            return []
        consumer.assign(partitions)
        ends = await consumer.end_offsets(partitions)
        await consumer.seek_to_beginning(*partitions)
        pending = {tp for tp in partitions if ends[tp] > 0}
        events: list[tuple[int, int, RunEvent]] = []
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=1_000)
            for tp, messages in batches.items():
                for m in messages:
                    if m.offset < ends[tp] and m.value is not None:
                        events.append((tp.partition, m.offset, _decode(m.value)))
                    if m.offset >= ends[tp] - 1:
                        pending.discard(tp)
        return [e for _, _, e in sorted(events, key=lambda x: (x[0], x[1]))]
    finally:
        await consumer.stop()


def _decode(value: bytes) -> RunEvent:
    try:
        return codec.decode(RunEvent, value)
    except (ValueError, KeyError, TypeError):
        return RunEvent("", "", "undecodable", "{}", 0)


def part_ending(events: Sequence[RunEvent], part: str) -> str | None:
    """How ``part`` ended (finished, interrupted, failed), or None while it has not."""
    endings = [e.event for e in events if e.part == part and e.event in ENDINGS]
    return endings[-1] if endings else None


def latest_details(events: Sequence[RunEvent], part: str, event: str) -> dict[str, Any]:
    """The details of the last ``event`` of ``part`` ({} if there is none)."""
    for e in reversed(events):
        if e.part == part and e.event == event:
            try:
                value = orjson.loads(e.details)
            except orjson.JSONDecodeError:
                return {}
            return value if isinstance(value, dict) else {}
    return {}
