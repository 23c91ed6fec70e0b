"""Producing a run and reading an engine's results back, for the engine tests."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

from simulator.clock import DEFAULT_START
from simulator.producer import produce_run, run_details
from simulator.scenario import load_scenario
from simulator.simulation import Simulation

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def produce(
    bootstrap: str,
    run_id: str,
    scenario: str,
    seed: int,
    minutes: float,
    speed: float | None = None,
) -> dict[str, int]:
    """Publish a simulated run with --fast (or paced at ``speed``); the delivered counts per
    stream."""
    loaded = load_scenario(scenario, SCENARIOS)
    details = run_details(loaded.text, loaded.name, seed, DEFAULT_START, minutes, speed)
    report = asyncio.run(
        produce_run(
            Simulation(loaded, seed, DEFAULT_START, minutes),
            DEFAULT_START,
            run_id,
            bootstrap,
            2,
            speed,
            details=details,
        )
    )
    return report.delivered


def reasons(letters: list[dict[str, Any]]) -> Counter[str]:
    """Dead letters counted by the kind of their reason (late, duplicate, not JSON, ...)."""
    return Counter(d["reason"].split(":")[0] for d in letters)
