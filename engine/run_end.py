"""When the engine of a run that is still being produced may stop.

`fraudlab run` starts the engine next to the producer and lets it stop by itself once the
producer has ended and every input record the producer left has been read:
- with available-now, the engine waits for the producer's end and then processes everything;
- live, it keeps its processing-time triggers until its queries have read up to the input
  topics' end offsets of the moment the producer ended.

>>> consumed_up_to([{"endOffset": '{"fraudlab.r.browsing": {"0": 5, "1": 7}}'}],
...                {("fraudlab.r.browsing", 0): 5, ("fraudlab.r.browsing", 1): 7})
True
>>> consumed_up_to([{"endOffset": '{"fraudlab.r.browsing": {"0": 5}}'}],
...                {("fraudlab.r.browsing", 0): 6})
False
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from engine.frontier import close_out_report, frontier_topic
from fraudlab.kafka_io import make_producer, start_or_report
from fraudlab.run_events import latest_details, part_ending, read_run_events

__all__ = [
    "close_out",
    "consumed_up_to",
    "producer_ending",
    "producer_state",
    "progress_reached",
    "publish_report",
    "wait_for_producer",
]

POLL_S = 1.0


def producer_ending(bootstrap: str, run_id: str) -> str | None:
    """How the run's producer ended (finished, interrupted, failed), or None while it runs."""
    return part_ending(asyncio.run(read_run_events(bootstrap, run_id)), "producer")


def producer_state(bootstrap: str, run_id: str) -> tuple[str | None, int | None]:
    """How the run's producer ended (None while it runs), and the event time (s) its last
    progress event says every earlier record is in Kafka before (None without one)."""
    events = asyncio.run(read_run_events(bootstrap, run_id))
    reached = latest_details(events, "producer", "progress").get("event_time")
    return part_ending(events, "producer"), int(reached) if isinstance(reached, int) else None


def wait_for_producer(
    bootstrap: str, run_id: str, should_stop: Callable[[], bool] | None = None
) -> str | None:
    """Wait until the producer has ended; its ending, or None if asked to stop first."""
    while True:
        ending = producer_ending(bootstrap, run_id)
        if ending is not None:
            return ending
        if should_stop is not None and should_stop():
            return None
        time.sleep(POLL_S)


def _offsets(source: Mapping[str, Any]) -> dict[tuple[str, int], int]:
    text = source.get("endOffset")
    try:
        value = orjson.loads(text) if text else {}
    except orjson.JSONDecodeError:
        return {}
    if not isinstance(value, dict):
        return {}
    return {
        (topic, int(partition)): int(offset)
        for topic, partitions in value.items()
        if isinstance(partitions, dict)
        for partition, offset in partitions.items()
    }


def consumed_up_to(
    sources: Iterable[Mapping[str, Any]], targets: Mapping[tuple[str, int], int]
) -> bool:
    """Whether the sources of a query's last micro-batch reached every target offset."""
    reached: dict[tuple[str, int], int] = {}
    for source in sources:
        reached.update(_offsets(source))
    return all(reached.get(tp, 0) >= offset for tp, offset in targets.items() if offset > 0)


def progress_reached(
    last_progress: Mapping[str, Any] | None, targets: Mapping[tuple[str, int], int]
) -> bool:
    """Whether a query's last progress (``query.lastProgress``) reached every target offset."""
    return consumed_up_to((last_progress or {}).get("sources") or (), targets)


def publish_report(bootstrap: str, run_id: str, value: bytes) -> dict[tuple[str, int], int]:
    """Write a frontier report from the engine itself; the offsets the scoring query has read
    it at, as targets."""

    async def send() -> dict[tuple[str, int], int]:
        producer = make_producer(bootstrap)
        await start_or_report(producer, bootstrap)
        try:
            sent = await producer.send_and_wait(frontier_topic(run_id), value, key=b"engine")
        finally:
            await producer.stop()
        return {(sent.topic, sent.partition): sent.offset + 1}

    return asyncio.run(send())


def close_out(bootstrap: str, run_id: str) -> dict[tuple[str, int], int]:
    """Write the report that closes the run's frontier (every input record has been read, so
    nothing stays held); the offsets the scoring query has read it at, as targets."""
    return publish_report(bootstrap, run_id, close_out_report())
