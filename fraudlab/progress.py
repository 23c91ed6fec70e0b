"""Progress of long work on stderr: step lines with elapsed time, and a live bar for loops.

stdout stays clean for what a command prints as its result (digests, JSON).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

stderr = Console(stderr=True, highlight=False)


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
