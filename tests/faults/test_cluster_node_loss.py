"""Fault: one node of a three-broker KRaft cluster is SIGKILLed while a run is produced, paced,
and started again later.

The cluster is started as a user starts it (``fraudlab broker up --brokers 3``). Its topics are
replicated on all three nodes with two in sync, so the cluster keeps taking writes with a node
down: the partitions the dead node led get new leaders, and the idempotent producer (acks=all)
sends its unacknowledged batches to them. The run's topics, and its archive, then hold every
simulated message exactly once, and the node that comes back catches up.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from faulted_runs import PacedRun

from fraudlab.cluster import LocalCluster
from fraudlab.net import free_port, port_in_use
from fraudlab.settings import Settings
from fraudlab.topics import topic_name

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

SCENARIO, SEED, MINUTES = "baseline", 11, 2.0
SPEED = 4.0  # 120 simulated seconds in about 30 wall seconds
KILL_AFTER_SIM_S = 20.0  # node 2 is killed once the producer has reached this simulated time
DOWN_S = 8.0  # how long it stays dead before it is started again


def _consecutive_free_ports(count: int) -> int:
    for _ in range(50):
        first = free_port()
        if all(not port_in_use(first + i) for i in range(count)) and first + count < 65536:
            return first
    raise RuntimeError(f"no {count} consecutive free ports found")


def _fraudlab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lab", "broker", *args],
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture
def cluster(base_settings: Settings, tmp_path: Path) -> Iterator[LocalCluster]:
    """Three nodes started with ``fraudlab broker up --brokers 3``, stopped with ``down``."""
    port, data = _consecutive_free_ports(3), tmp_path / "cluster"
    where = ["--port", str(port), "--data-dir", str(data)]
    up = _fraudlab("up", "--brokers", "3", *where)
    assert up.returncode == 0, up.stderr
    assert up.stdout.startswith(f"cluster ready at 127.0.0.1:{port},127.0.0.1:{port + 1},")
    status = _fraudlab("status", *where)
    assert status.returncode == 0, status.stdout
    assert status.stdout.count(": ready at 127.0.0.1:") == 3, status.stdout
    try:
        yield LocalCluster(data, port, base_settings.jvm_lib_dir, brokers=3)
    finally:
        down = _fraudlab("down", *where)
        assert down.returncode == 0 and down.stdout.strip() == "cluster stopped", down.stdout


async def _replicas(bootstrap: str, topic: str) -> list[tuple[int, int]]:
    """(replicas, in-sync replicas) of each partition of ``topic``."""
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
        return sorted((len(p["replicas"]), len(p["isr"])) for p in described["partitions"])
    finally:
        await admin.close()


@pytest.mark.fault("broker-node-killed", SCENARIO, SEED)
def test_a_node_of_three_killed_mid_run_loses_and_repeats_nothing(
    cluster: LocalCluster, base_settings: Settings, tmp_path: Path
) -> None:
    run = PacedRun(cluster.bootstrap, "node-killed", SCENARIO, SEED, MINUTES, SPEED)
    victim = cluster.nodes()[1]

    def kill_and_restart() -> None:
        pid = victim.status().pid
        assert pid is not None, "node 2 is not running"
        os.kill(pid, signal.SIGKILL)
        time.sleep(DOWN_S)
        victim.up()

    run.run_with(KILL_AFTER_SIM_S, kill_and_restart)
    # the topics: three replicas each, every simulated message once, byte for byte
    transactions = topic_name(run.run_id, "transactions")
    assert {r for r, _ in asyncio.run(_replicas(run.bootstrap, transactions))} == {3}
    run.check_topics()
    # the node that came back catches up: every replica of the run's transactions in sync
    deadline = time.monotonic() + 60
    while {i for _, i in asyncio.run(_replicas(run.bootstrap, transactions))} != {3}:
        assert time.monotonic() < deadline, "node 2 did not catch up within 60 s"
        time.sleep(1.0)
    # the archive of the run: one row per simulated event
    run.check_archive(base_settings, tmp_path / "archive")
