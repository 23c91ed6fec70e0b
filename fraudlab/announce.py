"""Parts of a run announcing themselves on the run's ``run-events`` topic.

A producer, an engine or a replay says when it starts (with what it runs: scenario, seed,
model, settings, code version), how it progresses, and how it ends; the archive folds these
into the run's metadata and the views read them.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import orjson

from fraudlab import codec
from fraudlab.kafka_io import create_topics
from fraudlab.publisher import Publisher
from fraudlab.records import RunEvent, message_key
from fraudlab.topics import topic_name
from fraudlab.version import code_version


def run_event(run_id: str, part: str, event: str, details: dict[str, Any]) -> RunEvent:
    """A RunEvent stamped with the wall clock (bookkeeping, not simulated time)."""
    body = orjson.dumps({**details, "code_version": code_version()}, option=orjson.OPT_SORT_KEYS)
    return RunEvent(run_id, part, event, body.decode(), int(time.time()))


async def announce(publisher: Publisher, event: RunEvent) -> None:
    """Queue a run event on an open publisher (delivered at its next flush)."""
    await publisher.send(
        topic_name(event.run_id, RunEvent.STREAM), message_key(event), codec.encode(event), None
    )


async def _announce_now(bootstrap: str, partitions: int, event: RunEvent) -> None:
    topic = topic_name(event.run_id, RunEvent.STREAM)
    await create_topics(bootstrap, [topic], partitions)
    publisher = Publisher(bootstrap)
    await publisher.start()
    try:
        await announce(publisher, event)
    finally:
        await publisher.close()


def announce_now(bootstrap: str, partitions: int, event: RunEvent) -> None:
    """Publish one run event and wait until the broker has it."""
    asyncio.run(_announce_now(bootstrap, partitions, event))
