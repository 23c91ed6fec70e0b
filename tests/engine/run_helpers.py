"""Producing a run and reading an engine's results back, for the engine tests."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from fraudlab.kafka_io import end_offsets, make_consumer, start_or_report
from fraudlab.topics import topic_name
from simulator.clock import DEFAULT_START
from simulator.producer import produce_run, run_details
from simulator.scenario import load_scenario
from simulator.simulation import Simulation

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def produce(
    bootstrap: str, run_id: str, scenario: str, seed: int, minutes: float
) -> dict[str, int]:
    """Publish a simulated run with --fast; the delivered counts per stream."""
    loaded = load_scenario(scenario, SCENARIOS)
    details = run_details(loaded.text, loaded.name, seed, DEFAULT_START, minutes, None)
    report = asyncio.run(
        produce_run(
            Simulation(loaded, seed, DEFAULT_START, minutes),
            DEFAULT_START,
            run_id,
            bootstrap,
            2,
            None,
            details=details,
        )
    )
    return report.delivered


async def _values(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes]]:
    total = sum((await end_offsets(bootstrap, [topic])).values())
    consumer = make_consumer(bootstrap, topic)
    await start_or_report(consumer, bootstrap)
    got: list[tuple[bytes | None, bytes]] = []
    try:
        while len(got) < total:
            batch = await consumer.getmany(timeout_ms=5000)
            assert batch, f"{topic}: {len(got)} of {total} within 5 s"
            for messages in batch.values():
                got.extend((m.key, m.value) for m in messages)
    finally:
        await consumer.stop()
    return got


RESULTS = ("scores", "fraud-alerts", "top-products", "dead-letter")


def read(bootstrap: str, run_id: str, stream: str) -> list[dict[str, Any]]:
    """Every value of a run's stream, decoded; results deduplicated by key (a re-emission)."""
    by_key: dict[bytes | None, dict[str, Any]] = {}
    rows = []
    for key, value in asyncio.run(_values(bootstrap, topic_name(run_id, stream))):
        try:
            decoded = orjson.loads(value)
        except orjson.JSONDecodeError:
            continue
        if key is None or stream not in RESULTS:
            rows.append(decoded)
        else:
            by_key.setdefault(key, decoded)
    return rows + list(by_key.values())


def alert_set(bootstrap: str, run_id: str) -> set[tuple[int, str]]:
    """(window start, transaction id) of every potential fraud reported."""
    return {
        (a["window_start"], t["transaction_id"])
        for a in read(bootstrap, run_id, "fraud-alerts")
        for t in a["transactions"]
    }


def reasons(letters: list[dict[str, Any]]) -> Counter[str]:
    """Dead letters counted by the kind of their reason (late, duplicate, not JSON, ...)."""
    return Counter(d["reason"].split(":")[0] for d in letters)
