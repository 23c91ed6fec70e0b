"""Archive files written straight with the archive's writer, as if consumed from Kafka.

Each message lands on the partition Kafka's default partitioner gives its key (murmur2), at the
next offset, with its Kafka timestamp: the file is the one the archiver would write.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from run_files import FileMessage, write_run_file

from fraudlab import codec
from fraudlab.publisher import partition_for
from fraudlab.records import Record, RunEvent, message_key
from simulator.clock import DEFAULT_START
from simulator.scenario import load_scenario
from simulator.simulation import Simulation

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
START_MS = int(DEFAULT_START.timestamp() * 1000)


@dataclass(frozen=True)
class Sent:
    """One message as a producer sent it."""

    stream: str
    key: bytes
    value: bytes
    timestamp_ms: int


def sent_records(records: Iterable[Record], run_id: str = "written") -> list[Sent]:
    """Records as messages of run ``run_id``, stamped with their ``ts`` (run events with 0)."""
    return [
        Sent(r.STREAM, message_key(r, run_id), codec.encode(r), getattr(r, "ts", 0) * 1000)
        for r in records
    ]


def producer_events(run_id: str, details: dict[str, object]) -> tuple[RunEvent, RunEvent]:
    """A producer's started (with ``details``) and finished run-events."""
    return (
        RunEvent(run_id, "producer", "started", json.dumps(details), 1000),
        RunEvent(run_id, "producer", "finished", "{}", 1001),
    )


def simulated_run(scenario: str, seed: int, minutes: float) -> tuple[list[Sent], dict[str, object]]:
    """Every message ``produce --fast`` sends for a scenario, in its order, and its details."""
    loaded = load_scenario(scenario, SCENARIOS)
    sim = Simulation(loaded, seed, DEFAULT_START, minutes)
    messages = sim.static_messages()
    until = 0.0
    while until < sim.horizon_s:
        until = min(until + 60.0, sim.horizon_s)
        messages += sim.advance(until)
    messages += sim.advance(float("inf"))
    sent = [Sent(m.stream, m.key, m.value, START_MS + int(m.deliver_at * 1000)) for m in messages]
    details = {
        "scenario": scenario,
        "scenario_text": loaded.text,
        "seed": seed,
        "start": DEFAULT_START.isoformat(),
        "minutes": minutes,
    }
    return sent, details


def partitioned(messages: Iterable[Sent], partitions: int = 2) -> dict[tuple[str, int], list[Sent]]:
    """Messages by (stream, partition), in order: what each partition's log holds."""
    logs: dict[tuple[str, int], list[Sent]] = {}
    for m in messages:
        logs.setdefault((m.stream, partition_for(m.key, partitions)), []).append(m)
    return logs


def write_archive(
    archive_dir: Path,
    run_id: str,
    messages: Iterable[Sent],
    *,
    partitions: int = 2,
    close: bool = True,
) -> Path:
    """Write the file of run ``run_id`` holding ``messages``; closed as complete if ``close``."""
    held = (FileMessage(m.stream, m.key, m.value, m.timestamp_ms) for m in messages)
    return write_run_file(archive_dir, run_id, held, partitions=partitions, close=close)
