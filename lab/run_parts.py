"""The parts of a run as child processes: the producer (or a replay), the engine, the archiver.

Each part is a ``fraudlab`` command of its own, started in a session of its own (so a Ctrl-C
reaches the parent alone, which stops the parts in order), with its output in a log file under
``<logs_dir>/<run_id>/``. A part that fails has said why in its last ``fraudlab: ...`` line
(:func:`fraudlab.command_line.last_sentence`).

Parts end with their supervisor, and take what they started with them:

- On Linux a part is armed with a parent-death signal: when the supervisor dies, even by
  SIGKILL, the part gets SIGINT, its Ctrl-C, and ends its work cleanly.
- Once a part has exited, whatever is left in its process group (Spark's JVM and its Python
  workers) gets SIGTERM, then SIGKILL (:meth:`PartProcess.reap`). A JVM whose Python driver was
  interrupted while Spark was starting never hears that its driver is gone.

"""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from fraudlab.command_line import last_sentence

__all__ = ["PartProcess", "group_members"]

REAP_GRACE_S = 10.0  # what a JVM gets to end by itself after SIGTERM, before SIGKILL
PR_SET_PDEATHSIG = 1  # prctl(2), Linux


def group_members(pgid: int) -> list[psutil.Process]:
    """The live processes (zombies left out) of process group ``pgid``."""
    members = []
    for process in psutil.process_iter(["status"]):
        try:
            if process.info["status"] == psutil.STATUS_ZOMBIE or os.getpgid(process.pid) != pgid:
                continue
        except (ProcessLookupError, psutil.Error):
            continue
        members.append(process)
    return members


def _stop_with_parent(parent: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that arms SIGINT as the child's parent-death signal (Linux only)."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork

    def arm() -> None:
        # a supervisor started in the background of a script (or under nohup) has SIGINT
        # ignored, and a child would inherit that: it would hear neither a stop nor its
        # parent's death. Python installs its KeyboardInterrupt only where SIGINT is not ignored.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        prctl(PR_SET_PDEATHSIG, int(signal.SIGINT))
        if os.getppid() != parent:  # the supervisor died before the signal was armed
            os._exit(130)

    return arm


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
                preexec_fn=_stop_with_parent(os.getpid()),
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

    def reap(self, grace_s: float = REAP_GRACE_S) -> None:
        """Once the part has exited, end what it left in its process group: SIGTERM, and
        SIGKILL for what is still there after ``grace_s``."""
        if self.process is None or self.process.poll() is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            if not group_members(self.process.pid):
                break
            try:
                os.killpg(self.process.pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + grace_s
            while group_members(self.process.pid) and time.monotonic() < deadline:
                time.sleep(0.2)

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
