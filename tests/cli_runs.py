"""``fraudlab`` run as a user runs it, in a process of its own, with no broker to reach: for the
commands that must answer a mistake before they need one (the refusals, the checks)."""

from __future__ import annotations

import subprocess
import sys

from fraudlab.net import free_port

__all__ = ["fraudlab_offline", "one_sentence"]


def fraudlab_offline(*args: str) -> subprocess.CompletedProcess[str]:
    """``fraudlab ARGS`` with no broker answering at its address (a command that reached for one
    would say so), its output captured as text."""
    env = {"FRAUDLAB_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}", "PATH": "/usr/bin:/bin"}
    return subprocess.run(
        [sys.executable, "-m", "lab.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def one_sentence(result: subprocess.CompletedProcess[str]) -> str:
    """The one ``fraudlab:`` line a refused command wrote to stderr (no traceback)."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("fraudlab:")]
    assert len(lines) == 1, result.stderr
    return lines[0]
