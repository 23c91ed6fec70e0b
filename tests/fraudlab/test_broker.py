"""The local broker's lifecycle, through the CLI a user types."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from fraudlab.broker import LocalBroker, server_properties
from fraudlab.kafka_io import create_topics, list_topics
from fraudlab.net import free_port, port_in_use

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

FRAUDLAB = [sys.executable, "-m", "lab.cli"]


def fraudlab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FRAUDLAB, *args], capture_output=True, text=True, timeout=180)


def test_up_status_down_and_up_again_keeps_topics(tmp_path: Path) -> None:
    port = free_port()
    data = tmp_path / "kafka"
    where = ["--port", str(port), "--data-dir", str(data)]
    try:
        up = fraudlab("broker", "up", *where)
        assert up.returncode == 0, up.stderr
        assert f"broker ready at 127.0.0.1:{port}" in up.stdout

        status = fraudlab("broker", "status", *where)
        assert status.returncode == 0 and "ready" in status.stdout

        again = fraudlab("broker", "up", *where)
        assert again.returncode == 1
        assert again.stderr.count("\n") == 1 and "already runs" in again.stderr

        bootstrap = f"127.0.0.1:{port}"
        asyncio.run(create_topics(bootstrap, ["kept.across.restarts"], 2))

        down = fraudlab("broker", "down", *where)
        assert down.returncode == 0 and "stopped" in down.stdout
        assert not port_in_use(port)
        gone = fraudlab("broker", "status", *where)
        assert gone.returncode == 1 and "no broker is running" in gone.stdout

        assert fraudlab("broker", "up", *where).returncode == 0
        assert "kept.across.restarts" in asyncio.run(list_topics(bootstrap))
    finally:
        LocalBroker(data, port, Path("unused")).down()


def test_up_on_a_port_where_a_broker_answers_says_so(
    kafka_broker: LocalBroker, tmp_path: Path
) -> None:
    result = fraudlab(
        "broker", "up", "--port", str(kafka_broker.port), "--data-dir", str(tmp_path / "other")
    )
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert f"port {kafka_broker.port} is already in use by a Kafka broker" in result.stderr
    assert "Traceback" not in result.stderr


def test_up_on_a_port_held_by_another_program_says_so(tmp_path: Path) -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        result = fraudlab("broker", "up", "--port", str(port), "--data-dir", str(tmp_path / "k"))
    assert result.returncode != 0
    assert "already in use by another program" in result.stderr


def test_kafka_tools_run_from_the_same_jars(kafka_broker: LocalBroker) -> None:
    asyncio.run(create_topics(kafka_broker.bootstrap, ["seen.by.the.tools"], 1))
    result = fraudlab(
        "broker", "tool", "topics", "--bootstrap-server", kafka_broker.bootstrap, "--list"
    )
    assert result.returncode == 0, result.stderr
    assert "seen.by.the.tools" in result.stdout.split()


def test_server_properties_bind_loopback_only() -> None:
    props = server_properties(9092, 9093, Path("/data"))
    listeners = [line for line in props.splitlines() if "listeners=" in line]
    assert listeners and all("0.0.0.0" not in line for line in listeners)
    assert "process.roles=broker,controller" in props
