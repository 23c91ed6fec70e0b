"""Small simulated runs for the simulator tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from fraudlab import codec
from fraudlab.records import Truth
from simulator.messages import Message
from simulator.scenario import Scenario
from simulator.simulation import Simulation

REPO = Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "scenarios"
# fmt: off
NAMED_SCENARIOS = (
    "baseline", "card-testing-burst", "account-takeover-wave", "promo-abuse", "bot-swarm",
    "regional-fraud-ring", "flash-sale", "late-and-dirty", "history",
)
# fmt: on


def small_scenario(**overrides: Any) -> Scenario:
    """A small shop (500 customers, 200 products) with no fraud unless ``patterns`` says so."""
    data: dict[str, Any] = {
        "name": "small",
        "description": "a small shop for tests",
        "minutes": 10,
        "seed": 1,
        "world": {"customers": 500, "products": 200},
        "traffic": {"sessions_per_minute": 200, "signups_per_minute": 1},
    }
    data.update(overrides)
    return Scenario.model_validate(data)


def run(scenario: Scenario, seed: int = 1, minutes: float | None = None) -> list[Message]:
    """Every message of a run of ``scenario`` from the default start."""
    return list(Simulation(scenario, seed, minutes=minutes).messages())


def truths(messages: list[Message]) -> list[Truth]:
    """The truth records of the messages, decoded by the codec (is_fraud a bool)."""
    return [codec.decode(Truth, m.value) for m in messages if m.stream == Truth.STREAM]


def records(messages: list[Message], stream: str) -> list[dict[str, Any]]:
    """The decoded values of the messages of one stream (malformed ones left out)."""
    out = []
    for m in messages:
        if m.stream == stream:
            try:
                out.append(orjson.loads(m.value))
            except orjson.JSONDecodeError:
                continue
    return out
