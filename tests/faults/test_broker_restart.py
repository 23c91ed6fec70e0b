"""Faults: the broker stops while a run is produced, paced, and starts again.

The producer is idempotent with acks=all: batches it could not get acknowledged are retried once
the broker is back, and the broker drops a retried batch it had already written. Through an
outage shorter than the delivery timeout the producer waits (saying so), and the run's topics,
and its archive, then hold every simulated message exactly once. Past the timeout it gives up in
one sentence, and ``fraudlab produce --resume`` continues the run from what its topics hold, to
the very logs an uninterrupted run leaves.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from faulted_runs import PacedRun
from run_results import run_events

from fraudlab.broker import LocalBroker
from fraudlab.errors import BrokerUnavailable
from fraudlab.kafka_io import ProducerTuning
from fraudlab.net import free_port
from fraudlab.run_events import latest_details, part_ending
from fraudlab.settings import Settings, settings_toml

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

SCENARIO, SEED, MINUTES = "baseline", 7, 2.0
SPEED = 4.0  # 120 simulated seconds in about 30 wall seconds
STOP_AFTER_SIM_S = 40.0  # the broker stops once the producer has reached this simulated time
DOWN_S = 32.0  # how long it stays down: longer than 30 s, shorter than the delivery timeout
GIVE_UP_S = 4.0  # the delivery timeout of the run that outlives it


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
def test_a_broker_down_32_s_mid_run_leaves_every_event_exactly_once(
    own_broker: LocalBroker,
    base_settings: Settings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO)
    run = PacedRun(own_broker.bootstrap, "broker-restart", SCENARIO, SEED, MINUTES, SPEED)

    def restart() -> None:
        assert own_broker.down(), "the broker was not running"
        time.sleep(DOWN_S)
        own_broker.up()

    run.run_with(STOP_AFTER_SIM_S, restart)
    # it said it waited, about once a second, for about as long as the broker was down, and
    # that the broker was back; no client chatter, no failure left unretrieved
    longest = max((w for w in run.waits if w is not None), default=0.0)
    assert DOWN_S - 3 <= longest <= DOWN_S + 30, run.waits
    assert run.waits[-1] is None
    assert len(run.waits) <= DOWN_S + 30
    noise = [r for r in caplog.records if r.name.startswith(("aiokafka", "asyncio"))]
    assert len(noise) <= 5, [r.getMessage() for r in noise]
    # the topics: every simulated message once, byte for byte, none lost, none repeated
    run.check_topics()
    # the archive of the run: one row per simulated event
    run.check_archive(base_settings, tmp_path / "archive")


@pytest.mark.fault("broker-outage-resumed", SCENARIO, SEED)
def test_a_run_that_outlived_its_delivery_timeout_resumes_to_the_uninterrupted_logs(
    own_broker: LocalBroker, base_settings: Settings, tmp_path: Path
) -> None:
    tuning = ProducerTuning(delivery_timeout_s=GIVE_UP_S)
    run = PacedRun(own_broker.bootstrap, "outage-resumed", SCENARIO, SEED, MINUTES, SPEED, tuning)

    def outage() -> None:
        assert own_broker.down(), "the broker was not running"

    run.run_until(STOP_AFTER_SIM_S, outage)
    # one sentence that says what happened and how to go on
    assert isinstance(run.error, BrokerUnavailable), repr(run.error)
    message = str(run.error)
    assert f"acknowledged nothing for {GIVE_UP_S:.0f} s" in message
    assert f"`--resume {run.run_id}` continues it" in message
    own_broker.up()

    # as a user goes on: the command line, with the run's own scenario, seed and start
    settings_file = tmp_path / "fraudlab.toml"
    settings_file.write_text(
        settings_toml(base_settings.model_copy(update={"bootstrap_servers": own_broker.bootstrap}))
    )
    argv = [sys.executable, "-m", "lab", "--settings", str(settings_file), "produce"]
    resumed = subprocess.run(
        [*argv, "--resume", run.run_id, "--fast"], capture_output=True, text=True, timeout=300
    )
    assert resumed.returncode == 0, resumed.stderr
    assert "in the run's topics already (resumed)" in resumed.stdout
    # every partition's log is the uninterrupted one: nothing lost, repeated or out of order
    run.check_logs()
    events = run_events(own_broker.bootstrap, run.run_id)
    assert part_ending(events, "producer") == "finished"
    assert latest_details(events, "producer", "started")["resumed_from"] > 0

    # a finished run has nothing to resume: one sentence, exit 2
    again = subprocess.run(
        [*argv, "--resume", run.run_id], capture_output=True, text=True, timeout=120
    )
    assert again.returncode == 2
    assert again.stderr.strip().splitlines()[-1] == (
        f"fraudlab: run {run.run_id} was produced to its end: there is nothing to resume."
    )
