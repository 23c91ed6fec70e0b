"""The CLI: help, and one-sentence errors with non-zero exits for user mistakes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

FRAUDLAB = [sys.executable, "-m", "lab.cli"]


def fraudlab(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FRAUDLAB, *args], capture_output=True, text=True, timeout=120, env=env)


def test_help_lists_broker() -> None:
    result = fraudlab("--help")
    assert result.returncode == 0
    assert "broker" in result.stdout


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("no-such-command",), "No such command"),
        (("broker", "up", "--no-such-option"), "No such option"),
        (("broker", "up", "--port", "seventy"), "is not a valid integer"),
        (
            ("broker", "up", "--port", "70000"),
            "setting --port: Input should be less than or equal to 65535",
        ),
        (("--settings", "/nonexistent/fraudlab.toml", "broker", "status"), "does not exist"),
    ],
)
def test_user_mistakes_end_in_one_sentence_and_exit_2(args: tuple[str, ...], needle: str) -> None:
    result = fraudlab(*args)
    assert result.returncode == 2
    assert result.stderr.startswith("fraudlab: ")
    assert result.stderr.strip().count("\n") == 0
    assert needle in result.stderr


def test_java_missing_is_one_sentence(tmp_path: object) -> None:
    env = {k: v for k, v in os.environ.items() if k != "JAVA_HOME"}
    env["PATH"] = os.path.dirname(sys.executable)
    result = fraudlab("broker", "up", "--data-dir", str(tmp_path), env=env)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "fraudlab: Java is not installed: install a Java 17+ runtime or set JAVA_HOME."
    )
