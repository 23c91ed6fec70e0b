"""The replay's playback clock: where in a run's event time the replay is, and how it moves.

The clock is a value: playing, pausing, seeking and choosing a speed return a new clock, and
:meth:`Playback.advanced` moves it by the wall-clock seconds the caller measured. The replay view
reads the wall clock in one place (its tick) and nowhere else.

At speed ``k`` the clock moves ``k`` event seconds per wall second. ``FASTEST`` plays as fast as
the views redraw: each tick moves a fixed share of the run, so any run plays in about
``FASTEST_TICKS`` ticks.

>>> clock = Playback(start=100, end=200)
>>> clock.position
100.0
>>> clock.playing_at(10).advanced(2.0).position
120.0
>>> clock.playing_at(10).advanced(60.0).position, clock.playing_at(10).advanced(60.0).playing
(200.0, False)
>>> clock.seek(150).advanced(5.0).position
150.0
>>> Playback(0, 1000).playing_at(FASTEST).advanced(0.01).position
10.0
>>> speed_label(0.5), speed_label(FASTEST)
('0.5x', 'fastest')
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

__all__ = [
    "FASTEST",
    "FASTEST_TICKS",
    "REDRAW_EVERY_S",
    "SPEEDS",
    "Playback",
    "parse_speed",
    "speed_label",
]

FASTEST = math.inf
SPEEDS: tuple[float, ...] = (0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, FASTEST)
FASTEST_TICKS = 100
# reports come every 10 s of event time: redrawing more often shows nothing new
REDRAW_EVERY_S = 10


def speed_label(speed: float) -> str:
    """How a picker shows a speed."""
    return "fastest" if math.isinf(speed) else f"{speed:g}x"


def parse_speed(label: str) -> float | None:
    """The speed a picker label stands for, or None for anything else.

    >>> parse_speed("20x"), parse_speed("fastest"), parse_speed("7x")
    (20.0, inf, None)
    """
    return next((s for s in SPEEDS if speed_label(s) == label), None)


@dataclass(frozen=True)
class Playback:
    """A playback clock over ``[start, end]`` (event-time Unix seconds)."""

    start: int
    end: int
    position: float = math.nan
    speed: float = 1.0
    playing: bool = False

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError(f"the end {self.end} comes before the start {self.start}")
        if self.speed not in SPEEDS:
            raise ValueError(f"speed {self.speed} is not one of {SPEEDS}")
        position = self.start if math.isnan(self.position) else self.position
        object.__setattr__(self, "position", float(min(max(position, self.start), self.end)))

    def playing_at(self, speed: float | None = None) -> Playback:
        """Playing (from the start again when at the end), at ``speed`` if given."""
        position = self.start if self.position >= self.end else self.position
        return replace(self, playing=True, position=position, speed=speed or self.speed)

    def paused(self) -> Playback:
        return replace(self, playing=False)

    def at_speed(self, speed: float) -> Playback:
        return replace(self, speed=speed)

    def seek(self, position: float) -> Playback:
        """At ``position`` (clamped to the run)."""
        return replace(self, position=position)

    def advanced(self, wall_s: float) -> Playback:
        """Moved by ``wall_s`` wall-clock seconds of playing; stops at the end."""
        if not self.playing:
            return self
        if math.isinf(self.speed):
            step = max(float(REDRAW_EVERY_S), (self.end - self.start) / FASTEST_TICKS)
        else:
            step = self.speed * max(wall_s, 0.0)
        position = min(self.position + step, float(self.end))
        return replace(self, position=position, playing=position < self.end)

    @property
    def clock(self) -> int:
        """The position as whole event-time seconds, the bound of what has happened."""
        return int(self.position)

    @property
    def fraction(self) -> float:
        """How far through the run, 0 to 1."""
        span = self.end - self.start
        return (self.position - self.start) / span if span else 1.0

    def redraw_due(self, drawn_at: int | None) -> bool:
        """Whether the charts drawn at ``drawn_at`` are stale at this position."""
        if drawn_at is None:
            return True
        if self.clock < drawn_at or self.clock >= self.end:
            return self.clock != drawn_at
        return self.clock // REDRAW_EVERY_S != drawn_at // REDRAW_EVERY_S
