"""A long-running command's stop request: SIGINT (Ctrl-C) or SIGTERM asks it to end its work
cleanly, instead of raising wherever the command happens to be.

>>> stop = StopRequest()
>>> stop()
False
>>> stop.ask()
>>> stop()
True
"""

from __future__ import annotations

import signal
import time
from types import FrameType
from typing import Literal

__all__ = ["REPEATED_STOP_S", "StopRequest", "StopSignals"]

# A stop signal this soon after the first repeats it instead of cutting the stop short. A part's
# parent-death signal (lab.run_parts) comes once for each thread of its dying supervisor that it
# is handed to in turn (prctl(2)), all within milliseconds; a person's second Ctrl-C comes later.
REPEATED_STOP_S = 2.0


class StopSignals:
    """What a stop signal (SIGINT, SIGTERM) means when it comes: the first ``ask``s for a clean
    stop, one within :data:`REPEATED_STOP_S` of it ``repeat``s that, a later one ``insist``s
    (stop now).

    >>> signals = StopSignals()
    >>> signals.hear(at=10.0), signals.hear(at=10.5), signals.hear(at=13.0)
    ('ask', 'repeat', 'insist')
    """

    def __init__(self) -> None:
        self.first: float | None = None

    def hear(self, at: float | None = None) -> Literal["ask", "repeat", "insist"]:
        now = time.monotonic() if at is None else at
        if self.first is None:
            self.first = now
            return "ask"
        return "repeat" if now - self.first < REPEATED_STOP_S else "insist"


class StopRequest:
    """Call it to know whether a stop was asked; :meth:`install` routes both signals to it."""

    def __init__(self) -> None:
        self.asked = False

    def ask(self) -> None:
        self.asked = True

    def install(self) -> StopRequest:
        """Route SIGINT and SIGTERM to this request (again, after a library took SIGINT)."""
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        return self

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self.ask()

    def __call__(self) -> bool:
        return self.asked
