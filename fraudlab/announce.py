"""Parts of a run announcing themselves on the run's ``run-events`` topic.

A producer, an engine or a replay says when it starts (with what it runs: scenario, seed,
model, settings, code version), how it progresses, and how it ends; the archive folds these
into the run's metadata and the views read them.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import replace
from typing import Any

import orjson

from fraudlab import codec
from fraudlab.kafka_io import create_topics
from fraudlab.publisher import Publisher
from fraudlab.records import RunEvent, message_key
from fraudlab.topics import topic_name
from fraudlab.version import code_version

# Wall seconds an early end may take to reach the broker before the part gives up on it.
END_TIMEOUT_S = 5.0
# Wall seconds between a producer's progress run-events (what `fraudlab run` and the views show).
PROGRESS_EVERY_S = 2.0


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


async def announce_end(
    publisher: Publisher,
    run_id: str,
    part: str,
    ending: str,
    details: dict[str, Any] | None = None,
) -> None:
    """Say that ``part`` stopped early (``interrupted`` or ``failed``), with ``details``, if the
    broker still listens: a best effort, so that the run's other parts and its archive see it
    ended instead of waiting for it. A publisher that gave up on the broker is not used: a
    fresh one tries for :data:`END_TIMEOUT_S`."""
    event = run_event(run_id, part, ending, details or {})
    with contextlib.suppress(Exception):
        await asyncio.shield(asyncio.wait_for(_flush_end(publisher, event), timeout=END_TIMEOUT_S))


async def _flush_end(publisher: Publisher, event: RunEvent) -> None:
    if not publisher.failed:
        await announce(publisher, event)
        await publisher.flush()
        return
    fresh = Publisher(
        publisher.bootstrap, replace(publisher.tuning, delivery_timeout_s=END_TIMEOUT_S)
    )
    await fresh.start()
    try:
        await announce(fresh, event)
    finally:
        await fresh.close()
