"""Where an interrupted run stands: what its producer announced, and what its topics hold.

A run's producer is deterministic (the same scenario, seed and start give the same messages in
the same order, and a key always lands on the same partition), so a producer that stopped part
way can continue: it produces the run again and skips, partition by partition, the messages the
topics already hold (:attr:`fraudlab.publisher.Publisher.skip`). What counts is what the broker
has, not what the stopped producer heard acknowledged: a batch written whose ack was lost is
held, and skipped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from fraudlab.errors import UsageError
from fraudlab.kafka_session import KafkaSession
from fraudlab.records import RunEvent
from fraudlab.run_events import latest_details, part_ending, read_run_events
from fraudlab.topics import topic_name


@dataclass(frozen=True)
class ResumePoint:
    """An interrupted run: its producer's ``started`` details, how its previous attempt ended
    (``ending``: interrupted, failed, or None when it never said), and ``held``: messages each
    (topic, partition) of its produced streams holds; ``events``: the run's run-events, as
    read then, in log order."""

    run_id: str
    details: dict[str, Any]
    ending: str | None
    held: dict[tuple[str, int], int]
    events: tuple[RunEvent, ...] = ()

    @property
    def held_total(self) -> int:
        return sum(self.held.values())


def resumed_pace(details: dict[str, Any], speed: float | None, fast: bool) -> float | None:
    """The pace a continued run plays at (None: as fast as possible): ``fast``, else ``speed``,
    else the speed its producer announced in ``details``.

    >>> resumed_pace({"speed": 20.0}, None, False), resumed_pace({"speed": "fast"}, None, False)
    (20.0, None)
    >>> resumed_pace({"speed": 20.0}, 5.0, False), resumed_pace({"speed": 20.0}, None, True)
    (5.0, None)
    """
    if fast:
        return None
    if speed is not None:
        return speed
    announced = details.get("speed")
    return float(announced) if isinstance(announced, int | float) else None


async def resume_point(kafka: KafkaSession, run_id: str, streams: Iterable[str]) -> ResumePoint:
    """Where run ``run_id`` stands, for its producer to continue it over ``streams`` (the run-events
    stream is never skipped: a resumed producer announces itself again).

    Raises UsageError when the run has no producer announcement (an unknown run) or when its
    producer finished (nothing to resume)."""
    events = await read_run_events(kafka, run_id)
    details = latest_details(events, "producer", "started")
    if not details:
        raise UsageError(
            f"run {run_id} has no producer announcement at {kafka.bootstrap}: there is no such run "
            "to resume (see `fraudlab runs`)."
        )
    ending = part_ending(events, "producer")
    if ending == "finished":
        raise UsageError(f"run {run_id} was produced to its end: there is nothing to resume.")
    topics = [topic_name(run_id, s) for s in streams if s != "run-events"]
    held = {tp: n for tp, n in (await kafka.end_offsets(topics)).items() if n > 0}
    return ResumePoint(run_id, details, ending, held, tuple(events))
