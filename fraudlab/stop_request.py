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
from types import FrameType

__all__ = ["StopRequest"]


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
