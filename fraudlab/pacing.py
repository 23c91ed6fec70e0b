"""Pacing a simulation against the wall clock: the one place the simulator reads real time.

Like SimPy's ``RealtimeEnvironment``, a pacer maps simulated seconds to wall-clock seconds at a
speed factor k (k = 1 is real time, 10 is ten times faster); ``speed=None`` is as fast as
possible. Event times never depend on it: only when a message is sent does.

A paced run's pace can change while it plays (:mod:`fraudlab.run_control`): :meth:`Pacer.pause`
holds every wait until :meth:`Pacer.resume`, and :meth:`Pacer.set_speed` goes on from the
simulated instant due at that moment at the new speed. Neither moves an event in simulated
time, so a run paused or sped up sends the same messages as one left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable


def wall_seconds() -> float:
    """A monotonic wall-clock reading, for how long sending took (never for event time)."""
    return time.monotonic()


def wall_epoch() -> float:
    """The current Unix time: for streams whose ``ts`` is the moment of sending (CSV replay)."""
    return time.time()


class Pacer:
    """Waits until the wall clock reaches a simulated instant scaled by ``speed``.

    >>> clock = iter([100.0, 100.0, 101.0]).__next__
    >>> pacer = Pacer(speed=10.0, clock=clock)
    >>> pacer.delay_until(20.0)  # 20 simulated s at 10x = 2 wall s after start, 0 elapsed
    2.0
    >>> pacer.delay_until(20.0)  # one wall second later
    1.0
    """

    def __init__(self, speed: float | None, clock: Callable[[], float] = time.monotonic) -> None:
        if speed is not None and speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._clock = clock
        self._started = clock()
        self._origin = self._started  # for elapsed(): the schedule's start moves, this does not
        self._paused_s = 0.0
        self._paused_at: float | None = None
        self._changed: asyncio.Event | None = None  # made in the loop that waits

    @property
    def paused(self) -> bool:
        return self._paused_at is not None

    def delay_until(self, sim_seconds: float) -> float:
        """Wall seconds to wait before simulated second ``sim_seconds`` is due (0 if late);
        while paused, as if the pause ended now."""
        if self.speed is None:
            return 0.0
        now = self._clock()
        started = self._started + (0.0 if self._paused_at is None else now - self._paused_at)
        return max(0.0, started + sim_seconds / self.speed - now)

    async def wait_until(self, sim_seconds: float) -> None:
        """Sleep until simulated second ``sim_seconds`` is due on the wall clock, and for as
        long as the pacer is paused; a change of pace wakes the wait, which goes on at it."""
        if self._changed is None:
            self._changed = asyncio.Event()
        while True:
            delay = self.delay_until(sim_seconds)
            if delay <= 0 and not self.paused:
                return
            self._changed.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), None if self.paused else delay)

    def pause(self) -> None:
        """Hold every wait until :meth:`resume` (no effect on a pacer already paused)."""
        if self._paused_at is None:
            self._paused_at = self._clock()
            self._wake()

    def resume(self) -> None:
        """Go on from the simulated instant that was due when the pause began.

        >>> clock = iter([100.0, 110.0, 130.0, 130.0]).__next__
        >>> pacer = Pacer(speed=10.0, clock=clock)
        >>> pacer.pause()  # at wall 110: simulated 100 s is due
        >>> pacer.resume()  # at wall 130: 20 s of pause
        >>> pacer.delay_until(120.0)  # simulated 120 s: 2 wall s on
        2.0
        """
        if self._paused_at is not None:
            paused_s = self._clock() - self._paused_at
            self._started += paused_s
            self._paused_s += paused_s
            self._paused_at = None
            self._wake()

    def set_speed(self, speed: float) -> None:
        """Go on at ``speed`` from the simulated instant due now (paused: when the pause began).

        >>> clock = iter([100.0, 110.0, 110.0]).__next__
        >>> pacer = Pacer(speed=10.0, clock=clock)
        >>> pacer.set_speed(50.0)  # at wall 110: simulated 100 s is due
        >>> pacer.delay_until(200.0)  # 100 simulated s on at 50x
        2.0
        """
        if speed <= 0:
            raise ValueError("speed must be positive")
        if self.speed is None:
            raise ValueError("a pacer that goes as fast as it can has no speed to change")
        now = self._clock() if self._paused_at is None else self._paused_at
        due = (now - self._started) * self.speed
        self._started = now - due / speed
        self.speed = speed
        self._wake()

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()

    def restart_at(self, sim_seconds: float) -> None:
        """Make simulated second ``sim_seconds`` due now (a resumed run paces on from where
        its topics end, not from its start).

        >>> clock = iter([100.0, 150.0, 150.0]).__next__
        >>> pacer = Pacer(speed=10.0, clock=clock)
        >>> pacer.restart_at(300.0)  # at wall 150: simulated 300 s is due now
        >>> pacer.delay_until(320.0)
        2.0
        """
        if self.speed is not None:
            self._started = self._clock() - sim_seconds / self.speed
            self._origin, self._paused_s = self._started, 0.0

    def elapsed(self) -> float:
        """Wall seconds since the pacer started, its pauses left out."""
        now = self._clock() if self._paused_at is None else self._paused_at
        return now - self._origin - self._paused_s

    def achieved_speed(self, sim_seconds: float) -> float:
        """Simulated seconds per wall second so far."""
        return sim_seconds / max(self.elapsed(), 1e-9)
