"""``fraudlab regress``: what it says before any Spark starts when it cannot run."""

from __future__ import annotations

import os
import subprocess
import sys

from fraudlab.net import free_port

FRAUDLAB = [sys.executable, "-m", "lab.cli"]


def _regress(*args: str, bootstrap: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "FRAUDLAB_BOOTSTRAP_SERVERS": bootstrap}
    return subprocess.run(
        [*FRAUDLAB, "regress", *args], capture_output=True, text=True, timeout=120, env=env
    )


def test_a_stopped_broker_is_one_sentence() -> None:
    bootstrap = f"127.0.0.1:{free_port()}"
    result = _regress("baseline", bootstrap=bootstrap)
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"fraudlab: no Kafka broker answers at {bootstrap}: start one with `make kafka-up` "
        "or set FRAUDLAB_BOOTSTRAP_SERVERS."
    )


def test_an_unknown_scenario_is_one_sentence() -> None:
    result = _regress("no-such-scenario", bootstrap=f"127.0.0.1:{free_port()}")
    assert result.returncode == 2
    assert result.stderr.startswith("fraudlab: unknown scenario 'no-such-scenario'")
    assert result.stderr.strip().count("\n") == 0
