"""Progress of long work on stderr: step lines with elapsed time, and a live bar for loops.

stdout stays clean for what a command prints as its result (digests, JSON).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

if TYPE_CHECKING:
    from fraudlab.publisher import BrokerWait

# Wall seconds between two lines about the same broker outage when stderr is not a terminal.
WAIT_LINE_EVERY_S = 10.0

# soft wrap: a line longer than the terminal (or than 80 columns in a log file) stays one line
stderr = Console(stderr=True, highlight=False, soft_wrap=True)


class Steps:
    """Prints ``[  12.3s] message`` lines: how far a multi-step command has come."""

    def __init__(self, console: Console = stderr) -> None:
        self._console = console
        self._started = time.monotonic()

    def __call__(self, message: str) -> None:
        self._console.print(f"[dim][{time.monotonic() - self._started:7.1f}s][/dim] {message}")


@contextmanager
def progress_bar(description: str, total: float, unit: str = "") -> Iterator[Progress]:
    """A live bar on stderr; update it with ``bar.update(task_id, completed=...)`` (task 0)."""
    columns = [
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[status]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=stderr, transient=False) as bar:
        bar.add_task(description, total=total, status=unit)
        yield bar


class BrokerWaitStatus:
    """Shows a publisher's wait for the broker (its ``on_wait``) without flooding anything.

    On a terminal the wait is the status of the live bar (one line, updated in place); written
    to a file or pipe, it is a line every :data:`WAIT_LINE_EVERY_S`. When acknowledgements come
    again, one line says how long the broker was away.
    """

    def __init__(
        self,
        bar: Progress | None = None,
        console: Console = stderr,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bar = bar
        self._console = console
        self._clock = clock
        self._longest = 0.0
        self._printed_at: float | None = None

    def __call__(self, wait: BrokerWait | None) -> None:
        if wait is None:
            if self._longest:
                self._console.print(f"broker back: acknowledging again after {self._longest:.0f} s")
            self._longest, self._printed_at = 0.0, None
            return
        self._longest = max(self._longest, wait.seconds)
        if self._bar is not None and self._console.is_terminal:
            self._bar.update(TaskID(0), status=wait.sentence())
            return
        now = self._clock()
        if self._printed_at is None or now - self._printed_at >= WAIT_LINE_EVERY_S:
            self._printed_at = now
            self._console.print(wait.sentence(), soft_wrap=True)
