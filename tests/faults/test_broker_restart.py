"""Fault: the broker stops and starts again while a run is produced, paced.

The producer is idempotent with acks=all: batches it could not get acknowledged are retried once
the broker is back, and the broker drops a retried batch it had already written. The run's
topics, and its archive, then hold every simulated message exactly once.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from faulted_runs import PacedRun

from fraudlab.broker import LocalBroker
from fraudlab.net import free_port
from fraudlab.settings import Settings

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

SCENARIO, SEED, MINUTES = "baseline", 7, 2.0
SPEED = 4.0  # 120 simulated seconds in about 30 wall seconds
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
    run = PacedRun(own_broker.bootstrap, "broker-restart", SCENARIO, SEED, MINUTES, SPEED)

    def restart() -> None:
        assert own_broker.down(), "the broker was not running"
        time.sleep(DOWN_S)
        own_broker.up()

    run.run_with(STOP_AFTER_SIM_S, restart)
    # the topics: every simulated message once, byte for byte, none lost, none repeated
    run.check_topics()
    # the archive of the run: one row per simulated event
    run.check_archive(base_settings, tmp_path / "archive")
