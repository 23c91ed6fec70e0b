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

import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import orjson

from engine.frontier import close_out_report, frontier_topic
from fraudlab.blocking_kafka import BlockingKafka
from fraudlab.records import RunEvent
from fraudlab.run_events import decoded_run_events, latest_details, part_ending
from fraudlab.topics import topic_name

__all__ = [
    "ProducerWatch",
    "close_out",
    "consumed_up_to",
    "progress_reached",
    "publish_report",
]

POLL_S = 1.0


class ProducerWatch:
    """The run's producer as its run-events tell: followed by a consumer that keeps its place
    (the whole topic is read once, at the first refresh, then only what arrived since)."""

    def __init__(self, kafka: BlockingKafka, run_id: str) -> None:
        self._events = kafka.follow(topic_name(run_id, RunEvent.STREAM))
        self.events: list[RunEvent] = []

    def refresh(self) -> None:
        """Read the run-events that arrived since the last refresh."""
        self.events.extend(decoded_run_events(self._events.poll()))

    @property
    def ending(self) -> str | None:
        """How the producer ended (finished, interrupted, failed), or None while it runs."""
        return part_ending(self.events, "producer")

    @property
    def reached(self) -> int | None:
        """The event time (s) its last progress event says every earlier record is in Kafka
        before (None without one)."""
        reached = latest_details(self.events, "producer", "progress").get("event_time")
        return int(reached) if isinstance(reached, int) else None

    def wait_for_end(self, should_stop: Callable[[], bool] | None = None) -> str | None:
        """Wait until the producer has ended; its ending, or None if asked to stop first."""
        while True:
            self.refresh()
            if self.ending is not None:
                return self.ending
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


def publish_report(kafka: BlockingKafka, run_id: str, value: bytes) -> dict[tuple[str, int], int]:
    """Write a frontier report from the engine itself; the offsets the scoring query has read
    it at, as targets."""
    topic, partition, offset = kafka.send(frontier_topic(run_id), b"engine", value)
    return {(topic, partition): offset + 1}


def close_out(kafka: BlockingKafka, run_id: str) -> dict[tuple[str, int], int]:
    """Write the report that closes the run's frontier (every input record has been read, so
    nothing stays held); the offsets the scoring query has read it at, as targets."""
    return publish_report(kafka, run_id, close_out_report())
