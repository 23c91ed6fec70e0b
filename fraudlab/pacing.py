"""Pacing a simulation against the wall clock: the one place the simulator reads real time.

Like SimPy's ``RealtimeEnvironment``, a pacer maps simulated seconds to wall-clock seconds at a
speed factor k (k = 1 is real time, 10 is ten times faster); ``speed=None`` is as fast as
possible. Event times never depend on it: only when a message is sent does.
"""

from __future__ import annotations

import asyncio
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

    def delay_until(self, sim_seconds: float) -> float:
        """Wall seconds to wait before simulated second ``sim_seconds`` is due (0 if late)."""
        if self.speed is None:
            return 0.0
        return max(0.0, self._started + sim_seconds / self.speed - self._clock())

    async def wait_until(self, sim_seconds: float) -> None:
        """Sleep until simulated second ``sim_seconds`` is due on the wall clock."""
        delay = self.delay_until(sim_seconds)
        if delay > 0:
            await asyncio.sleep(delay)

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

    def elapsed(self) -> float:
        """Wall seconds since the pacer started."""
        return self._clock() - self._started

    def achieved_speed(self, sim_seconds: float) -> float:
        """Simulated seconds per wall second so far."""
        return sim_seconds / max(self.elapsed(), 1e-9)
