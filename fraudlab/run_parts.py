"""The parts of a run as child processes: the producer (or a replay), the engine, the archiver.

Each part is a ``fraudlab`` command of its own, started in a session of its own (so a Ctrl-C
reaches the parent alone, which stops the parts in order), with its output in a log file under
``<logs_dir>/<run_id>/``. A part that fails has said why in its last ``fraudlab: ...`` line.

>>> last_sentence(["starting Spark", "fraudlab: no saved model named 'x' in models/."], 1)
"no saved model named 'x' in models/."
>>> last_sentence(["Traceback (most recent call last):", "  ..."], -9)
'it was killed (signal 9)'
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["PartProcess", "fraudlab_argv", "last_sentence"]

PREFIX = "fraudlab: "


def fraudlab_argv(settings_file: Path, *args: str) -> list[str]:
    """The command line of a ``fraudlab`` command run with the given settings file."""
    return [sys.executable, "-m", "fraudlab", "--settings", str(settings_file), *args]


def last_sentence(lines: Sequence[str], returncode: int) -> str:
    """Why a part ended badly: its last one-sentence error, or how it exited."""
    for line in reversed(lines):
        if line.startswith(PREFIX):
            return line[len(PREFIX) :].strip()
    if returncode < 0:
        return f"it was killed (signal {-returncode})"
    return f"it exited with code {returncode} (see its log)"


@dataclass
class PartProcess:
    """One part of a run running as a child process."""

    name: str
    argv: list[str]
    log_path: Path
    label: str = ""  # what to call it in messages, when not its run-events name
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    stop_asked: bool = False

    @property
    def title(self) -> str:
        return self.label or self.name

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "120"},
            )

    @property
    def started(self) -> bool:
        return self.process is not None

    @property
    def returncode(self) -> int | None:
        """The exit code once the part has exited, else None."""
        return None if self.process is None else self.process.poll()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def interrupt(self) -> None:
        """Ask the part to stop as after a Ctrl-C: it ends its work cleanly and says so."""
        self.stop_asked = True
        # the part alone: its own children (Spark's JVM) must live on while it closes its work
        self._signal(signal.SIGINT, group=False)

    def kill(self) -> None:
        """Kill the part and whatever it started."""
        self.stop_asked = True
        self._signal(signal.SIGKILL, group=True)

    def wait(self, timeout_s: float) -> int | None:
        """Wait up to ``timeout_s`` for the part to exit; its exit code, or None."""
        if self.process is None:
            return None
        try:
            return self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, grace_s: float) -> int | None:
        """Interrupt the part, and kill it if it has not exited within ``grace_s``."""
        if not self.running:
            return self.returncode
        self.interrupt()
        code = self.wait(grace_s)
        if code is None:
            self.kill()
            code = self.wait(10.0)
        return code

    def failure(self) -> str:
        """Why the part ended badly, from its log."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()[-200:]
        except OSError:
            lines = []
        return last_sentence(lines, self.returncode or 0)

    def _signal(self, sig: signal.Signals, *, group: bool) -> None:
        if self.process is None:
            return
        try:
            if group:
                os.killpg(self.process.pid, sig)
            elif self.process.poll() is None:
                os.kill(self.process.pid, sig)
        except ProcessLookupError:
            pass
