"""A run's rules topic: rule changes published, read back as a rule book (see rulebook.rules).

Changes travel on ``fraudlab.<run_id>.rules``, one partition so that they keep their order,
keyed by rule id. The engine reads the topic in its scoring query; the CLI
(``fraudlab rules add|disable|list``) and ``fraudlab run --rules`` write and read it here,
through the process's :class:`~fraudlab.kafka_session.KafkaSession`.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from fraudlab.kafka_session import KafkaSession
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


async def publish_changes(kafka: KafkaSession, run_id: str, changes: Iterable[RuleChange]) -> int:
    """Publish ``changes`` to the run's rules topic, in order, each acknowledged before the
    next is sent; how many were sent."""
    topic = rules_topic(run_id)
    await kafka.create_topics([topic], 1)
    sent = 0
    for change in changes:
        await kafka.send(topic, change.rule_id.encode(), change.to_json())
        sent += 1
    return sent


async def read_changes(kafka: KafkaSession, run_id: str) -> tuple[list[RuleChange], list[str]]:
    """The run's rule changes in log order, and a sentence for each message that is none."""
    changes: list[RuleChange] = []
    refused: list[str] = []
    for m in await kafka.read_to_end(rules_topic(run_id)):
        if m.value is None:
            continue
        where = f"rule change at partition {m.partition} offset {m.offset}"
        try:
            changes.append(RuleChange.from_json(m.value, where))
        except RuleError as exc:
            refused.append(str(exc))
    return changes, refused


async def latest_event_time(kafka: KafkaSession, run_id: str) -> int | None:
    """The greatest ``ts`` of the last message of each partition of the run's browsing and
    transactions topics (None when they hold nothing yet)."""
    topics = [topic_name(run_id, s) for s in EVENT_STREAMS]
    ends = await kafka.end_offsets(topics)
    latest: int | None = None
    for topic in topics:
        last = {p: end - 1 for (t, p), end in ends.items() if t == topic and end > 0}
        if not last:
            continue
        # from each partition's last message on (a message that came since is later still)
        for m in await kafka.read_to_end(topic, last):
            latest = max(latest or 0, _ts(m.value))
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


async def default_book(kafka: KafkaSession) -> list[Rule]:
    """The rules of the default rule book, in id order. The book is a log of edits, not a run:
    the latest change of each rule, in log order, says whether it is in (each keeps its own
    effective time, which applies in every run that starts with it)."""
    changes, _ = await read_changes(kafka, DEFAULT_BOOK)
    latest = {c.rule_id: c for c in changes}
    return sorted(
        (c.rule for c in latest.values() if c.kind == "add" and c.rule is not None),
        key=lambda r: r.id,
    )


async def default_effective(kafka: KafkaSession, run_id: str) -> int:
    """When a change with no effective time of its own takes effect on ``run_id``: from the
    start (0) when the run holds no events yet, else :data:`MARGIN_S` past its latest event."""
    latest = await latest_event_time(kafka, run_id)
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
