"""``produce`` and ``produce-csv`` against a real broker: what arrives is what was meant to."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import orjson
import pytest

from fraudlab import codec
from fraudlab.kafka_io import end_offsets, make_consumer, start_or_report
from fraudlab.net import free_port
from fraudlab.records import Truth
from fraudlab.topics import topic_name
from simulator.clock import DEFAULT_START
from simulator.csv_batches import BatchRule
from simulator.csv_producer import CsvRunOptions, produce_csv
from simulator.export import export_csv
from simulator.producer import PRODUCED_STREAMS, produce_run, run_details
from simulator.scenario import load_scenario
from simulator.simulation import Simulation, canonical_digest

pytestmark = pytest.mark.kafka

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


async def _consume_all(bootstrap: str, topic: str) -> list[object]:
    consumer = make_consumer(bootstrap, topic)
    await start_or_report(consumer, bootstrap)
    total = sum((await end_offsets(bootstrap, [topic])).values())
    got: list[object] = []
    try:
        while len(got) < total:
            batch = await consumer.getmany(timeout_ms=5000)
            assert batch, f"{topic}: {len(got)} of {total} messages within 5 s"
            for messages in batch.values():
                got.extend(messages)
    finally:
        await consumer.stop()
    return got


async def test_produce_fast_delivers_exactly_the_simulated_messages(bootstrap: str) -> None:
    scenario = load_scenario("late-and-dirty", SCENARIOS)
    expected = Counter(m.stream for m in Simulation(scenario, 3, DEFAULT_START, 3).messages())
    run_id = "test-produce-fast"
    details = run_details(scenario.text, scenario.name, 3, DEFAULT_START, 3, None)
    report = await produce_run(
        Simulation(scenario, 3, DEFAULT_START, 3),
        DEFAULT_START,
        run_id,
        bootstrap,
        2,
        None,
        details=details,
    )
    assert report.delivered == dict(sorted(expected.items()))
    streams = [s for s in PRODUCED_STREAMS if s != "run-events"]
    ends = await end_offsets(bootstrap, [topic_name(run_id, s) for s in streams])
    in_kafka = Counter({s: 0 for s in streams})
    for (topic, _), offset in ends.items():
        in_kafka[topic.rsplit(".", 1)[1]] += offset
    assert +in_kafka == expected
    events = [
        orjson.loads(m.value)
        for m in await _consume_all(  # type: ignore[attr-defined]
            bootstrap, topic_name(run_id, "run-events")
        )
    ]
    assert [e["event"] for e in events] == ["started", "finished"]
    assert orjson.loads(events[0]["details"])["scenario_text"] == scenario.text
    # the run says which bytes it was made of: the simulation's canonical digest
    simulated = canonical_digest(Simulation(scenario, 3, DEFAULT_START, 3).messages())
    announced = orjson.loads(events[1]["details"])["digest"]
    assert announced == {"sha256": simulated, "messages": dict(expected)}
    assert report.digest == simulated


async def test_produce_cuts_the_world_to_customers_and_announces_it(bootstrap: str) -> None:
    run_id = "test-produce-customers"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "lab.cli", "produce", "baseline", "--minutes", "1"),
            *("--customers", "40", "--fast", "--run-id", run_id),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "FRAUDLAB_BOOTSTRAP_SERVERS": bootstrap},
    )
    assert result.returncode == 0, result.stderr
    scenario = load_scenario("baseline", SCENARIOS)
    simulated = canonical_digest(
        Simulation(scenario.with_customers(40), scenario.seed, DEFAULT_START, 1).messages()
    )
    assert f"canonical digest of the run's messages: {simulated}" in result.stdout
    events = [
        orjson.loads(m.value)
        for m in await _consume_all(  # type: ignore[attr-defined]
            bootstrap, topic_name(run_id, "run-events")
        )
    ]
    started, finished = (orjson.loads(e["details"]) for e in events)
    assert started["customers"] == 40
    assert finished["digest"]["sha256"] == simulated


async def test_produce_csv_follows_the_assignment_rule(bootstrap: str, tmp_path: Path) -> None:
    # a minute and a half of baseline at dawn (2,796 browsing records) is 4 or 5 batches of
    # 500-900: about 20 s of pacing
    sim = Simulation(load_scenario("baseline", SCENARIOS), 7, DEFAULT_START, 1.5)
    export_csv(sim.messages(), tmp_path)
    run_id = "test-produce-csv"
    report = await produce_csv(
        tmp_path,
        run_id,
        bootstrap,
        2,
        CsvRunOptions(BatchRule(500, 900, 5), "batch", seed=1, first_ts=1_800_000_000),
    )
    batches = await _consume_all(bootstrap, topic_name(run_id, "browsing"))
    arrays = sorted((orjson.loads(m.value) for m in batches), key=lambda rows: rows[0]["ts"])  # type: ignore[attr-defined]
    assert len(arrays) >= 3
    for n, rows in enumerate(arrays):
        assert 500 <= len(rows) <= 900 or n == len(arrays) - 1
        first = 1_800_000_000 + 5 * n
        assert [r["ts"] for r in rows] == [first + i * 5 // len(rows) for i in range(len(rows))]
        assert all(isinstance(v, str) for r in rows for k, v in r.items() if k != "ts")
        assert all(r["customer_id"] for r in rows)
    # batches went out 5 s apart on the wall clock
    sent_ms = sorted(m.timestamp for m in batches)  # type: ignore[attr-defined]
    gaps = [b - a for a, b in itertools.pairwise(sent_ms)]
    assert all(4_500 <= g <= 6_500 for g in gaps), gaps
    assert report.delivered["browsing"] == len(arrays)
    values = [
        m.value
        for m in await _consume_all(  # type: ignore[attr-defined]
            bootstrap, topic_name(run_id, "truth")
        )
    ]
    assert values and {orjson.loads(v)["is_fraud"] for v in values} <= {"0", "1"}  # the wire
    labels = [codec.decode(Truth, v) for v in values]
    assert all(label.pattern for label in labels if label.is_fraud)


def test_a_broker_that_is_down_is_one_sentence() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "lab.cli",
            "produce",
            "baseline",
            "--minutes",
            "1",
            "--fast",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env={"FRAUDLAB_BOOTSTRAP_SERVERS": f"127.0.0.1:{free_port()}", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.startswith("fraudlab:")]
    assert len(lines) == 1 and "no Kafka broker answers" in lines[0], result.stderr
    assert "Traceback" not in result.stderr
