"""A run's run-events, in one place: writing them, reading them, and folding them into what
they say about the run, with the one definition of a part's end.

Each part of a run (producer, engine, replay, ...) writes ``started`` with what it runs with in
``details`` (a JSON object: scenario, seed, model, settings, code version), ``progress`` while it
runs, and ends with ``finished``, ``interrupted`` or ``failed``. The archive folds these into the
run's metadata; the engine, the ``fraudlab run`` status line and the views read them while it
happens.

Events are taken in the order of the log (a run's events share one partition, keyed by run id);
events without a place in a log are taken in order of ``ts`` (wall-clock seconds), a start
before an end within the same second. Details keys read by the fold, from any part (the later
event wins): ``scenario``, ``scenario_text``, ``seed``, ``model_name``, ``model_digest``,
``code_version``, ``replay_of``, and ``settings`` of the engine (or ``engine_settings`` from any
part).

A part has ended when its last event is an ending. The run is over when every part waited for
(by default the producer and the engine) has ended; its outcome is ``failed`` if a part failed,
else ``interrupted`` if a part was interrupted, else ``complete``. A producer that starts again
after it ended resumes the run (``fraudlab run --resume``): the other parts' earlier endings then
no longer count, and the run is over once each has ended again.

>>> info = fold_run_events("r1", [
...     Event("producer", "started", '{"scenario": "baseline", "seed": 7}', 100),
...     Event("engine", "started", '{"model_name": "gbt"}', 101),
...     Event("producer", "finished", "{}", 160),
... ])
>>> info.scenario, info.seed, info.model_name, info.started_at
('baseline', 7, 'gbt', 100)
>>> info.over(("producer", "engine")), info.over(("producer",)), info.outcome()
(False, True, 'complete')

Resumed after both parts were interrupted, the run is not over until the engine ends again:

>>> log = [("producer", "started"), ("engine", "started"), ("producer", "interrupted"),
...        ("engine", "interrupted"), ("producer", "started"), ("producer", "finished")]
>>> resumed = fold_run_events(
...     "r1", [Event(part, event, "{}", 100 + i, (0, i)) for i, (part, event) in enumerate(log)]
... )
>>> resumed.over(("producer", "engine")), resumed.parts["engine"].event
(False, 'resuming')

>>> events = [RunEvent("r1", "producer", "started", "{}", 100),
...           RunEvent("r1", "producer", "progress", '{"simulated_s": 60.0}', 102),
...           RunEvent("r1", "producer", "interrupted", "{}", 103)]
>>> part_ending(events, "producer"), part_ending(events, "engine")
('interrupted', None)
>>> part_ending([*events, RunEvent("r1", "producer", "started", "{}", 110)], "producer") is None
True
>>> latest_details(events, "producer", "progress")
{'simulated_s': 60.0}
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import orjson

from fraudlab import codec
from fraudlab.kafka_session import KafkaSession, Message
from fraudlab.publisher import Publisher
from fraudlab.records import RunEvent, message_key
from fraudlab.topics import topic_name
from fraudlab.version import code_version

__all__ = [
    "DEFAULT_WAIT_FOR",
    "END_TIMEOUT_S",
    "PROGRESS_EVERY_S",
    "RESUMING",
    "TERMINAL_EVENTS",
    "Event",
    "PartState",
    "RunInfo",
    "announce",
    "announce_end",
    "announce_now",
    "decode_details",
    "decode_run_event",
    "decoded_run_events",
    "fold_run_events",
    "latest_details",
    "log_events",
    "part_ending",
    "read_run_events",
    "run_event",
]

# --- writing ---------------------------------------------------------------------------------

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


async def announce_now(kafka: KafkaSession, partitions: int, event: RunEvent) -> None:
    """Publish one run event through ``kafka`` and wait until the broker has it (the run's
    run-events topic is created with ``partitions`` partitions if it does not exist)."""
    topic = topic_name(event.run_id, RunEvent.STREAM)
    await kafka.create_topics([topic], partitions)
    await kafka.send(topic, message_key(event), codec.encode(event))


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


# --- reading ---------------------------------------------------------------------------------


async def read_run_events(kafka: KafkaSession, run_id: str) -> list[RunEvent]:
    """Every run-event of ``run_id`` the broker holds now, in log order ([] if none yet)."""
    return decoded_run_events(await kafka.read_to_end(topic_name(run_id, RunEvent.STREAM)))


def decoded_run_events(messages: Iterable[Message]) -> list[RunEvent]:
    """The run-events of a follower's messages of a run-events topic, in their order (messages
    without a value left out)."""
    return [decode_run_event(m.value) for m in messages if m.value is not None]


def decode_run_event(value: bytes) -> RunEvent:
    """A run-event from its message value (an ``undecodable`` one when it is none)."""
    try:
        return codec.decode(RunEvent, value)
    except (ValueError, KeyError, TypeError):
        return RunEvent("", "", "undecodable", "{}", 0)


def latest_details(events: Sequence[RunEvent], part: str, event: str) -> dict[str, Any]:
    """The details of the last ``event`` of ``part`` ({} if there is none)."""
    for e in reversed(events):
        if e.part == part and e.event == event:
            return decode_details(e)
    return {}


def decode_details(event: RunEvent) -> dict[str, Any]:
    """A run-event's details object ({} when they are not one)."""
    try:
        value = orjson.loads(event.details)
    except orjson.JSONDecodeError:
        return {}
    return value if isinstance(value, dict) else {}


def part_ending(events: Sequence[RunEvent], part: str) -> str | None:
    """How ``part`` ended (finished, interrupted, failed), or None while it has not: its state
    in the fold of ``events`` (in log order), so a part that started again after its end (a
    restarted engine, a resumed producer) has not ended."""
    state = fold_run_events("", log_events(events)).parts.get(part)
    return state.event if state is not None and state.ended else None


def log_events(events: Sequence[RunEvent]) -> list[Event]:
    """``events`` as read from the log (in log order), as the fold takes them."""
    return [Event(e.part, e.event, e.details, e.ts, (0, i)) for i, e in enumerate(events)]


# --- folding ---------------------------------------------------------------------------------

TERMINAL_EVENTS = ("finished", "interrupted", "failed")
# The state of a part that had ended when the run was resumed, until it starts again.
RESUMING = "resuming"
DEFAULT_WAIT_FOR = ("producer", "engine")


class Event(NamedTuple):
    """One run-event as the fold needs it; ``position`` is its (partition, offset) in the log."""

    part: str
    event: str
    details: str
    ts: int
    position: tuple[int, int] | None = None


@dataclass(frozen=True)
class PartState:
    """A part's last event, when it happened, and its details merged over all its events."""

    event: str
    ts: int
    details: Mapping[str, Any]

    @property
    def ended(self) -> bool:
        return self.event in TERMINAL_EVENTS


@dataclass(frozen=True)
class RunInfo:
    """What a run's run-events say about it."""

    run_id: str
    scenario: str | None = None
    scenario_text: str | None = None
    seed: int | None = None
    model_name: str | None = None
    model_digest: str | None = None
    engine_settings: str | None = None
    code_version: str | None = None
    replay_of: str | None = None
    started_at: int | None = None
    parts: Mapping[str, PartState] = field(default_factory=dict)

    def over(self, wait_for: Iterable[str]) -> bool:
        """Whether every part in ``wait_for`` has ended (an empty ``wait_for`` is always over)."""
        return all(p in self.parts and self.parts[p].ended for p in wait_for)

    def outcome(self) -> str:
        """``failed``, ``interrupted`` or ``complete``, from how the parts ended."""
        ends = {s.event for s in self.parts.values() if s.ended}
        if "failed" in ends:
            return "failed"
        return "interrupted" if "interrupted" in ends else "complete"

    def ended_at(self) -> int | None:
        """When the last part ended, if every part that started has ended."""
        if not self.parts or not all(s.ended for s in self.parts.values()):
            return None
        return max(s.ts for s in self.parts.values())

    def parts_json(self) -> str:
        """The parts as a JSON object: part -> {event, ts, details}."""
        return orjson.dumps(
            {
                name: {"event": s.event, "ts": s.ts, "details": s.details}
                for name, s in sorted(self.parts.items())
            }
        ).decode()


def _details(text: str) -> dict[str, Any]:
    """A details object; anything that is not a JSON object is kept under ``text``."""
    try:
        value = orjson.loads(text) if text else {}
    except orjson.JSONDecodeError:
        return {"text": text}
    return value if isinstance(value, dict) else {"text": text}


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def _as_text(value: Any) -> str | None:
    if value is None:
        return None
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def fold_run_events(run_id: str, events: Iterable[Event]) -> RunInfo:
    """Fold run-events (in any order) into what they say about the run."""
    events = list(events)
    if events and all(e.position is not None for e in events):
        # a run's events share one partition (keyed by run id): the log has their true order
        ordered = sorted(events, key=lambda e: e.position or (0, 0))
    else:
        ordered = sorted(events, key=lambda e: (e.ts, e.event in TERMINAL_EVENTS, e.part, e.event))
    merged: dict[str, Any] = {}
    engine_settings: Any = None
    parts: dict[str, PartState] = {}
    started: list[int] = []
    for e in ordered:
        details = _details(e.details)
        merged.update(details)
        if e.part == "engine" and "settings" in details:
            engine_settings = details["settings"]
        if "engine_settings" in details:
            engine_settings = details["engine_settings"]
        before = parts[e.part].details if e.part in parts else {}
        if e.event == "started":
            started.append(e.ts)
            if e.part == "producer" and e.part in parts and parts[e.part].ended:
                # resumed: every part that had ended is expected to run again
                for name, state in parts.items():
                    if state.ended:
                        parts[name] = PartState(RESUMING, state.ts, state.details)
        parts[e.part] = PartState(e.event, e.ts, {**before, **details})
    return RunInfo(
        run_id=run_id,
        scenario=_as_text(merged.get("scenario")),
        scenario_text=_as_text(merged.get("scenario_text")),
        seed=_as_int(merged.get("seed")),
        model_name=_as_text(merged.get("model_name")),
        model_digest=_as_text(merged.get("model_digest")),
        engine_settings=_as_text(engine_settings),
        code_version=_as_text(merged.get("code_version")),
        replay_of=_as_text(merged.get("replay_of")),
        started_at=min(started) if started else None,
        parts=parts,
    )
