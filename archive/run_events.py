"""Folding a run's run-events into its metadata and deciding when the run is over.

Each part of a run (producer, engine, replay, ...) writes ``started`` with what it runs with in
``details`` (a JSON object) and ends with ``finished``, ``interrupted`` or ``failed``. Events are
taken in the order of the log (a run's events share one partition, keyed by run id); events
without a place in a log are taken in order of ``ts`` (wall-clock seconds), a start before an end
within the same second.

Details keys read here, from any part (the later event wins): ``scenario``, ``scenario_text``,
``seed``, ``model_name``, ``model_digest``, ``code_version``, ``replay_of``, and ``settings`` of
the engine (or ``engine_settings`` from any part).

The run is over when every part the archiver waits for (by default the producer and the engine)
has ended. Its outcome is ``failed`` if a part failed, else ``interrupted`` if a part was
interrupted, else ``complete``. A producer that starts again after it ended resumes the run
(``fraudlab run --resume``): the other parts' earlier endings then no longer count, and the run
is over once each has ended again.

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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import orjson

__all__ = [
    "DEFAULT_WAIT_FOR",
    "TERMINAL_EVENTS",
    "Event",
    "PartState",
    "RunInfo",
    "fold_run_events",
]

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
