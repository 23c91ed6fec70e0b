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
from fraudlab.kafka_io import read_to_end
from fraudlab.records import RunEvent
from fraudlab.topics import topic_name

__all__ = ["ENDINGS", "latest_details", "part_ending", "read_run_events"]

ENDINGS = ("finished", "interrupted", "failed")


async def read_run_events(bootstrap: str, run_id: str) -> list[RunEvent]:
    """Every run-event of ``run_id`` the broker holds now, in log order ([] if none yet)."""
    found = await read_to_end(bootstrap, topic_name(run_id, RunEvent.STREAM))
    return [_decode(value) for _, _, value in found]


def _decode(value: bytes) -> RunEvent:
    try:
        return codec.decode(RunEvent, value)
    except (ValueError, KeyError, TypeError):
        return RunEvent("", "", "undecodable", "{}", 0)


def part_ending(events: Sequence[RunEvent], part: str) -> str | None:
    """How ``part`` ended (finished, interrupted, failed), or None while it has not: a part
    that started again after an ending (a resumed producer, a restarted engine) has not.

    >>> again = [RunEvent("r1", "producer", e, "{}", 100) for e in ("interrupted", "started")]
    >>> part_ending(again, "producer") is None
    True
    """
    ending = None
    for e in events:
        if e.part == part and e.event in ENDINGS:
            ending = e.event
        elif e.part == part and e.event == "started":
            ending = None
    return ending


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
