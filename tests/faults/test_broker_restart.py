"""Fault: the broker stops and starts again while a run is produced, paced.

The producer is idempotent with acks=all: batches it could not get acknowledged are retried once
the broker is back, and the broker drops a retried batch it had already written. The run's
topics, and its archive, then hold every simulated message exactly once.
"""

from __future__ import annotations

import asyncio
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
from fraudlab.broker import LocalBroker
from fraudlab.net import free_port
from fraudlab.settings import Settings
from simulator.clock import DEFAULT_START
from simulator.producer import ProduceReport, produce_run, run_details
from simulator.simulation import Simulation

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

SCENARIO, SEED, MINUTES = "baseline", 7, 3.0
SPEED = 4.0  # 180 simulated seconds in about 45 wall seconds
STOP_AFTER_SIM_S = 40.0  # the broker stops once the producer has reached this simulated time
DOWN_S = 3.0  # how long it stays down before it is started again


@pytest.fixture
def own_broker(base_settings: Settings, tmp_path: Path) -> Iterator[LocalBroker]:
    """A broker of this test alone: stopping it disturbs no other test."""
    broker = LocalBroker(tmp_path / "kafka", free_port(), base_settings.jvm_lib_dir, heap="512m")
    broker.up()
    try:
        yield broker
    finally:
        broker.down()


@pytest.mark.fault("broker-restart", SCENARIO, SEED)
def test_a_broker_restarted_mid_run_leaves_every_event_exactly_once(
    own_broker: LocalBroker, base_settings: Settings, tmp_path: Path
) -> None:
    bootstrap, run_id = own_broker.bootstrap, "broker-restart"
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
    while reached[0] < STOP_AFTER_SIM_S and producer.is_alive():
        assert time.monotonic() < deadline, "the producer did not get going in 120 s"
        time.sleep(0.1)
    assert producer.is_alive(), f"the producer ended before the broker stopped: {outcome}"
    stopped_at = reached[0]
    assert own_broker.down(), "the broker was not running"
    time.sleep(DOWN_S)
    own_broker.up()
    producer.join(timeout=300)
    assert not producer.is_alive(), "the producer did not finish within 300 s of the restart"
    assert "error" not in outcome, f"the producer failed across the restart: {outcome['error']!r}"
    report: ProduceReport = outcome["report"]
    assert stopped_at < MINUTES * 60, "the broker must stop while the run is produced"

    # the topics: every simulated message once, byte for byte, none lost, none repeated
    for stream in sorted({s for s, _, _ in expected}):
        want = Counter({(k, v): n for (s, k, v), n in expected.items() if s == stream})
        got = topic_messages(bootstrap, run_id, stream)
        assert got == want, (
            f"{stream}: {sum((got - want).values())} messages repeated or foreign, "
            f"{sum((want - got).values())} missing"
        )
        assert report.delivered[stream] == sum(want.values())

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
