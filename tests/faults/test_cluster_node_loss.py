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
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest
from faulted_runs import EVENT_STREAMS, small_scenario, topic_messages

from archive.archiver import ArchiveOptions, Mode, archive_run
from fraudlab.broker import LocalCluster
from fraudlab.net import free_port, port_in_use
from fraudlab.settings import Settings
from fraudlab.topics import topic_name
from simulator.clock import DEFAULT_START
from simulator.producer import ProduceReport, produce_run, run_details
from simulator.simulation import Simulation

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

SCENARIO, SEED, MINUTES = "baseline", 11, 3.0
SPEED = 4.0  # 180 simulated seconds in about 45 wall seconds
KILL_AFTER_SIM_S = 30.0  # node 2 is killed once the producer has reached this simulated time
DOWN_S = 15.0  # how long it stays dead before it is started again


def _consecutive_free_ports(count: int) -> int:
    for _ in range(50):
        first = free_port()
        if all(not port_in_use(first + i) for i in range(count)) and first + count < 65536:
            return first
    raise RuntimeError(f"no {count} consecutive free ports found")


def _fraudlab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "fraudlab", "broker", *args],
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
    bootstrap, run_id = cluster.bootstrap, "node-killed"
    scenario = small_scenario(SCENARIO)
    expected: Counter[tuple[str, bytes, bytes]] = Counter(
        (m.stream, m.key, m.value) for m in Simulation(scenario, SEED, None, MINUTES).messages()
    )
    details = run_details(scenario.text, SCENARIO, SEED, DEFAULT_START, MINUTES, SPEED)
    reached: list[float] = [0.0]
    outcome: dict[str, Any] = {}

    def produce() -> None:
        try:
            outcome["report"] = asyncio.run(
                produce_run(
                    Simulation(scenario, SEED, DEFAULT_START, MINUTES),
                    DEFAULT_START,
                    run_id,
                    bootstrap,
                    2,
                    SPEED,
                    details=details,
                    progress=lambda sim_s, _sent: reached.__setitem__(0, sim_s),
                )
            )
        except BaseException as exc:  # told by the test below
            outcome["error"] = exc

    producer = threading.Thread(target=produce, name="producer")
    producer.start()
    deadline = time.monotonic() + 120
    while reached[0] < KILL_AFTER_SIM_S and producer.is_alive():
        assert time.monotonic() < deadline, "the producer did not get going in 120 s"
        time.sleep(0.1)
    assert producer.is_alive(), f"the producer ended before the node was killed: {outcome}"
    victim = cluster.nodes()[1]
    pid = victim.status().pid
    assert pid is not None, "node 2 is not running"
    os.kill(pid, signal.SIGKILL)
    killed_at = reached[0]
    time.sleep(DOWN_S)
    assert producer.is_alive(), "the run must still be produced when the node comes back"
    victim.up()
    producer.join(timeout=300)
    assert not producer.is_alive(), "the producer did not finish within 300 s"
    assert "error" not in outcome, f"the producer failed with a node down: {outcome['error']!r}"
    report: ProduceReport = outcome["report"]
    assert killed_at < MINUTES * 60

    # the topics: three replicas each, every simulated message once, byte for byte
    transactions = topic_name(run_id, "transactions")
    assert {r for r, _ in asyncio.run(_replicas(bootstrap, transactions))} == {3}
    for stream in sorted({s for s, _, _ in expected}):
        want = Counter({(k, v): n for (s, k, v), n in expected.items() if s == stream})
        got = topic_messages(bootstrap, run_id, stream)
        assert got == want, (
            f"{stream}: {sum((got - want).values())} messages repeated or foreign, "
            f"{sum((want - got).values())} missing"
        )
        assert report.delivered[stream] == sum(want.values())

    # the node that came back catches up: every replica of the run's transactions in sync
    deadline = time.monotonic() + 60
    while {i for _, i in asyncio.run(_replicas(bootstrap, transactions))} != {3}:
        assert time.monotonic() < deadline, "node 2 did not catch up within 60 s"
        time.sleep(1.0)

    # the archive of the run: one row per simulated event
    settings = base_settings.model_copy(
        update={"bootstrap_servers": bootstrap, "archive_dir": tmp_path / "archive"}
    )
    result = asyncio.run(archive_run(settings, run_id, ArchiveOptions(mode=Mode.SNAPSHOT)))
    con = duckdb.connect(str(result.path), read_only=True)
    try:
        for stream, key in zip(EVENT_STREAMS, ("event_id", "transaction_id"), strict=True):
            simulated = sum(n for (s, _, _), n in expected.items() if s == stream)
            sql = f"SELECT count(*), count(DISTINCT {key}) FROM {stream}"
            rows, distinct = con.execute(sql).fetchone()  # type: ignore[misc]
            assert rows == distinct == simulated, f"{stream}: {rows} rows, {distinct} distinct"
        assert con.execute("SELECT count(*) FROM undecodable").fetchone() == (0,)
    finally:
        con.close()
