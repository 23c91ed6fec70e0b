"""Runs for the fault-injection tests: a small world, its messages, and poison among them."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from run_results import topic_values

from fraudlab.topics import topic_name
from simulator.faults import MALFORMED_KINDS, malformed_value
from simulator.messages import Message
from simulator.scenario import Scenario, load_scenario
from simulator.simulation import Simulation

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
EVENT_STREAMS = ("browsing", "transactions")


def small_scenario(name: str, customers: int = 1_000) -> Scenario:
    """A named scenario in a world of at most ``customers`` customers (the engine's first
    micro-batch folds in every customer profile: a small world keeps the tests quick)."""
    scenario = load_scenario(name, SCENARIOS)
    smaller = min(customers, scenario.world.customers)
    world = scenario.world.model_copy(update={"customers": smaller})
    return scenario.model_copy(update={"world": world})


@dataclass
class Poisoned:
    """A simulation with a malformed copy sent just before a share of its events.

    The copies come from their own random stream (``seed:poison``), so the good records are
    byte for byte those of the clean simulation; each copy is broken in one of the simulator's
    malformed kinds, in turn. ``poison`` holds (stream, kind, value) of every copy sent.
    """

    simulation: Simulation
    share: float
    seed: int
    poison: list[tuple[str, str, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = random.Random(f"{self.seed}:poison")

    @property
    def horizon_s(self) -> float:
        return self.simulation.horizon_s

    def static_messages(self) -> list[Message]:
        return self.simulation.static_messages()

    def advance(self, until_s: float) -> list[Message]:
        batch: list[Message] = []
        for m in self.simulation.advance(until_s):
            if m.stream in EVENT_STREAMS and self.rng.random() < self.share:
                kind = MALFORMED_KINDS[len(self.poison) % len(MALFORMED_KINDS)]
                value = malformed_value(kind, m.value, self.rng)
                self.poison.append((m.stream, kind, value))
                batch.append(Message(m.deliver_at, m.stream, m.key, value))
            batch.append(m)
        return batch


def topic_messages(bootstrap: str, run_id: str, stream: str) -> Counter[tuple[Any, bytes]]:
    """Every (key, value) of a run's stream as it is in Kafka, counted."""
    return Counter(asyncio.run(topic_values(bootstrap, topic_name(run_id, stream))))
