"""The processes a test started, found by a marker in their environment.

Every process inherits its parent's environment, so a marker set where a test starts a command
is carried by everything that command starts in turn: its parts, Spark's JVM, the JVM's Python
workers, brokers. Unlike a walk of the process tree, this also finds processes whose parent has
died (they are then the children of init).
"""

from __future__ import annotations

import os
import time
import uuid

import psutil

MARKER = "FRAUDLAB_TEST_TREE"


def new_marker(label: str) -> str:
    """A marker value of its own for ``label``, within this process's marker if it has one (so
    that whoever looks for that one finds these processes too)."""
    own = f"{label}-{uuid.uuid4().hex[:8]}"
    outer = os.environ.get(MARKER)
    return f"{outer}/{own}" if outer else own


def marked_env(value: str) -> dict[str, str]:
    """This process's environment with the marker set to ``value``."""
    return {**os.environ, MARKER: value}


def marked(value: str) -> list[psutil.Process]:
    """The live processes (zombies left out, this one too) whose marker is ``value`` or a
    marker made within it."""
    found = []
    for process in psutil.process_iter(["status"]):
        if process.pid == os.getpid() or process.info["status"] == psutil.STATUS_ZOMBIE:
            continue
        try:
            marker = process.environ().get(MARKER, "")
            if marker == value or marker.startswith(value + "/"):
                found.append(process)
        except psutil.Error:  # ended meanwhile, or not ours to read
            continue
    return found


def describe(processes: list[psutil.Process]) -> str:
    """One line per process: pid and command line (shortened)."""
    lines = []
    for process in processes:
        try:
            line = " ".join(process.cmdline())[:160]
        except psutil.Error:
            line = "(ended)"
        lines.append(f"pid {process.pid}: {line}")
    return "\n".join(lines)


def left_after(value: str, timeout_s: float) -> list[psutil.Process]:
    """The processes marked ``value`` still alive after waiting up to ``timeout_s`` for them
    all to end."""
    deadline = time.monotonic() + timeout_s
    while True:
        left = marked(value)
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.25)


def kill_marked(value: str) -> None:
    """SIGKILL every process marked ``value`` (after a failed test)."""
    for process in marked(value):
        try:
            process.kill()
        except psutil.Error:
            continue
