"""A ``fraudlab`` command run as a process of its own: its command line, and what it said.

The parts of a run, the views' forms and buttons, and a notebook's run handle all start
``fraudlab`` commands rather than calling their code in-process: the same code path as a user
at a terminal, with its checks and its one-sentence refusals.

>>> last_sentence(["starting Spark", "fraudlab: no saved model named 'x' in models/."], 1)
"no saved model named 'x' in models/."
>>> last_sentence(["Usage: fraudlab pace ...", "Error: No such option: --paws"], 2)
'No such option: --paws'
>>> last_sentence(["Traceback (most recent call last):", "  ..."], -9)
'it was killed (signal 9)'
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from fraudlab.settings import Settings, settings_toml

__all__ = ["COMMAND_TIMEOUT_S", "fraudlab_argv", "last_sentence", "run_fraudlab"]

PREFIX = "fraudlab: "  # how a fraudlab command says why it stopped
USAGE_PREFIX = "Error: "  # how click says a usage error
COMMAND_TIMEOUT_S = 90.0


def fraudlab_argv(settings_file: Path, *args: str) -> list[str]:
    """The command line of a ``fraudlab`` command run with the given settings file."""
    return [sys.executable, "-m", "lab", "--settings", str(settings_file), *args]


def last_sentence(lines: Sequence[str], returncode: int) -> str:
    """Why a command ended badly: its last one-sentence error, or how it exited."""
    for line in reversed(lines):
        if line.startswith((PREFIX, USAGE_PREFIX)):
            return line.removeprefix(PREFIX).removeprefix(USAGE_PREFIX).strip()
    if returncode < 0:
        return f"it was killed (signal {-returncode})"
    return f"it exited with code {returncode} (see its log)"


def run_fraudlab(
    settings: Settings, *args: str, timeout_s: float = COMMAND_TIMEOUT_S
) -> tuple[bool, str]:
    """Run ``fraudlab ARGS...`` with ``settings`` and wait for it; whether it succeeded, and
    its sentence (its first line of output, or its one-sentence refusal)."""
    with tempfile.TemporaryDirectory(prefix="fraudlab-command-") as folder:
        settings_file = Path(folder) / "settings.toml"
        settings_file.write_text(settings_toml(settings))
        try:
            done = subprocess.run(
                fraudlab_argv(settings_file, *args),
                capture_output=True,
                text=True,
                timeout=timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return False, f"fraudlab {args[0]} did not answer in {timeout_s:g} s."
    if done.returncode == 0:
        lines = done.stdout.strip().splitlines()
        return True, lines[0] if lines else "done."
    return False, last_sentence(done.stderr.splitlines(), done.returncode)
