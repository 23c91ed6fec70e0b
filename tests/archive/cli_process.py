"""Running the ``fraudlab`` CLI in a fresh process, as a user would."""

from __future__ import annotations

import subprocess
import sys

FRAUDLAB = [sys.executable, "-m", "lab.cli"]


def fraudlab(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``fraudlab ARGS`` and wait for it."""
    return subprocess.run(
        [*FRAUDLAB, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def start_fraudlab(*args: str) -> subprocess.Popen[str]:
    """Start ``fraudlab ARGS`` without waiting."""
    return subprocess.Popen(
        [*FRAUDLAB, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def one_sentence(result: subprocess.CompletedProcess[str]) -> str:
    """The error line of a failed command, checking it is one line and no traceback."""
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("fraudlab: ")
    assert "Traceback" not in result.stderr
    return lines[0]
