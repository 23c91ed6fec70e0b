"""A run's rules topic: rule changes published, read back as a rule book (see rulebook.rules).

Changes travel on ``fraudlab.<run_id>.rules``, one partition so that they keep their order,
keyed by rule id. The engine reads the topic in its scoring query; the CLI
(``fraudlab rules add|disable|list``) and ``fraudlab run --rules`` write and read it here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

import orjson

from fraudlab.kafka_io import (
    create_topics,
    existing_partitions,
    make_consumer,
    read_to_end,
    start_or_report,
)
from fraudlab.publisher import Publisher
from fraudlab.records import RuleChangeRecord
from fraudlab.topics import topic_name
from rulebook.rules import Rule, RuleChange, RuleError

# the rule book new runs start from (`fraudlab rules add default FILE`): its changes travel on
# the topic a run of this name would have, so no run may take the name
DEFAULT_BOOK = "default"
# a change with no effective time of its own, on a run under way, takes effect this many
# seconds of event time past the latest event the run's topics hold: the engine holds each
# transaction until every input has passed it, so none it has scored falls under the change
MARGIN_S = 30
EVENT_STREAMS = ("browsing", "transactions")


def rules_topic(run_id: str) -> str:
    return topic_name(run_id, RuleChangeRecord.STREAM)


async def publish_changes(bootstrap: str, run_id: str, changes: Iterable[RuleChange]) -> int:
    """Publish ``changes`` to the run's rules topic, in order; how many were sent."""
    topic = rules_topic(run_id)
    await create_topics(bootstrap, [topic], 1)
    publisher = Publisher(bootstrap)
    await publisher.start()
    sent = 0
    try:
        for change in changes:
            await publisher.send(topic, change.rule_id.encode(), change.to_json(), None)
            sent += 1
    finally:
        await publisher.close()
    return sent


async def read_changes(bootstrap: str, run_id: str) -> tuple[list[RuleChange], list[str]]:
    """The run's rule changes in log order, and a sentence for each message that is none."""
    changes: list[RuleChange] = []
    refused: list[str] = []
    for partition, offset, value in await read_to_end(bootstrap, rules_topic(run_id)):
        where = f"rule change at partition {partition} offset {offset}"
        try:
            changes.append(RuleChange.from_json(value, where))
        except RuleError as exc:
            refused.append(str(exc))
    return changes, refused


async def latest_event_time(bootstrap: str, run_id: str) -> int | None:
    """The greatest ``ts`` of the last message of each partition of the run's browsing and
    transactions topics (None when they hold nothing yet)."""
    from aiokafka import TopicPartition

    consumer = make_consumer(bootstrap)
    await start_or_report(consumer, bootstrap)
    latest: int | None = None
    try:
        known = await existing_partitions(consumer, [topic_name(run_id, s) for s in EVENT_STREAMS])
        parts = [TopicPartition(t, p) for t, partitions in known.items() for p in partitions]
        if not parts:
            return None
        ends = await consumer.end_offsets(parts)
        last = [tp for tp in parts if ends[tp] > 0]
        if not last:
            return None
        consumer.assign(last)
        for tp in last:
            consumer.seek(tp, ends[tp] - 1)
        pending = set(last)
        while pending:
            batches = await consumer.getmany(*pending, timeout_ms=2_000)
            if not batches:
                break
            for tp, messages in batches.items():
                for m in messages:
                    latest = max(latest or 0, _ts(m.value))
                pending.discard(tp)
    finally:
        await consumer.stop()
    return latest


def _ts(value: bytes | None) -> int:
    """The ``ts`` of a message's record, or of the last record of a JSON array; 0 without."""
    try:
        body = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return 0
    if isinstance(body, list):
        body = body[-1] if body else {}
    ts = body.get("ts") if isinstance(body, dict) else None
    return int(ts) if isinstance(ts, int | float) else 0


async def default_book(bootstrap: str) -> list[Rule]:
    """The rules of the default rule book, in id order. The book is a log of edits, not a run:
    the latest change of each rule, in log order, says whether it is in (each keeps its own
    effective time, which applies in every run that starts with it)."""
    changes, _ = await read_changes(bootstrap, DEFAULT_BOOK)
    latest = {c.rule_id: c for c in changes}
    return sorted(
        (c.rule for c in latest.values() if c.kind == "add" and c.rule is not None),
        key=lambda r: r.id,
    )


def default_effective(bootstrap: str, run_id: str) -> int:
    """When a change with no effective time of its own takes effect on ``run_id``: from the
    start (0) when the run holds no events yet, else :data:`MARGIN_S` past its latest event."""
    latest = asyncio.run(latest_event_time(bootstrap, run_id))
    return 0 if latest is None else latest + MARGIN_S


__all__ = [
    "DEFAULT_BOOK",
    "MARGIN_S",
    "default_book",
    "default_effective",
    "latest_event_time",
    "publish_changes",
    "read_changes",
    "rules_topic",
]
