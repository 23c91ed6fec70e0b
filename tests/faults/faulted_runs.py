"""Runs for the fault-injection tests: a small world, its messages, and poison among them."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from run_results import partition_logs, topic_values

from fraudlab.kafka_io import DEFAULT_TUNING, ProducerTuning
from fraudlab.malformed import MALFORMED_KINDS, malformed_value
from fraudlab.publisher import partition_for
from fraudlab.settings import Settings
from fraudlab.topics import topic_name
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


@dataclass
class PacedRun:
    """A small scenario produced paced on a thread of its own, with a fault injected once the
    producer has reached a simulated time: what the broker-fault tests share."""

    bootstrap: str
    run_id: str
    scenario_name: str
    seed: int
    minutes: float
    speed: float
    tuning: ProducerTuning = DEFAULT_TUNING
    report: Any = None
    error: BaseException | None = None
    reached_s: float = 0.0
    # what the producer's publisher said while it waited for the broker (seconds; None: back)
    waits: list[float | None] = field(default_factory=list)

    @property
    def expected(self) -> Counter[tuple[str, bytes, bytes]]:
        """Every simulated message as (stream, key, value), counted."""
        scenario = small_scenario(self.scenario_name)
        return Counter(
            (m.stream, m.key, m.value)
            for m in Simulation(scenario, self.seed, None, self.minutes).messages()
        )

    def _produce(self) -> None:
        from simulator.clock import DEFAULT_START
        from simulator.producer import produce_run, run_details

        scenario = small_scenario(self.scenario_name)
        details = run_details(
            scenario.text, self.scenario_name, self.seed, DEFAULT_START, self.minutes, self.speed
        )
        try:
            self.report = asyncio.run(
                produce_run(
                    Simulation(scenario, self.seed, DEFAULT_START, self.minutes),
                    DEFAULT_START,
                    self.run_id,
                    self.bootstrap,
                    2,
                    self.speed,
                    details=details,
                    tuning=self.tuning,
                    progress=lambda sim_s, _sent: setattr(self, "reached_s", sim_s),
                    on_wait=lambda wait: self.waits.append(None if wait is None else wait.seconds),
                )
            )
        except BaseException as exc:  # told by the test
            self.error = exc

    def run_with(self, fault_at_s: float, fault: Callable[[], None]) -> float:
        """Produce the run, calling ``fault`` once the producer has reached ``fault_at_s``
        simulated seconds (it must still be producing then, and afterwards); return when the
        producer has ended well, with the simulated time the fault came at."""
        at = self.run_until(fault_at_s, fault)
        assert self.error is None, f"the producer failed across the fault: {self.error!r}"
        return at

    def run_until(self, fault_at_s: float, fault: Callable[[], None]) -> float:
        """As :meth:`run_with`, but the producer may end in an error (kept in ``error``)."""
        producer = threading.Thread(target=self._produce, name="producer")
        producer.start()
        deadline = time.monotonic() + 120
        while self.reached_s < fault_at_s and producer.is_alive():
            assert time.monotonic() < deadline, "the producer did not get going in 120 s"
            time.sleep(0.1)
        assert producer.is_alive(), f"the producer ended before the fault: {self.error!r}"
        at = self.reached_s
        fault()
        assert producer.is_alive(), "the run must still be produced after the fault"
        producer.join(timeout=300)
        assert not producer.is_alive(), "the producer did not finish within 300 s of the fault"
        assert at < self.minutes * 60
        return at

    def check_logs(self) -> None:
        """Every partition of every stream holds the simulated messages of that partition,
        byte for byte and in the order they were simulated: nothing lost, repeated or moved."""
        scenario = small_scenario(self.scenario_name)
        expected: dict[tuple[str, int], list[tuple[bytes, bytes]]] = {}
        for m in Simulation(scenario, self.seed, None, self.minutes).messages():
            where = (m.stream, partition_for(m.key, 2))
            expected.setdefault(where, []).append((m.key, m.value))
        for stream in sorted({s for s, _ in expected}):
            topic = topic_name(self.run_id, stream)
            got = asyncio.run(partition_logs(self.bootstrap, topic))
            for partition in (0, 1):
                want = expected.get((stream, partition), [])
                have = got.get(partition, [])
                differ = (i for i, (a, b) in enumerate(zip(have, want, strict=False)) if a != b)
                assert have == want, (
                    f"{stream} partition {partition}: {len(have)} messages against {len(want)}"
                    f" simulated; the first difference at offset {next(differ, None)}"
                )

    def check_topics(self) -> None:
        """Every simulated message is in the run's topics once, byte for byte, and counted as
        delivered."""
        expected = self.expected
        for stream in sorted({s for s, _, _ in expected}):
            want = Counter({(k, v): n for (s, k, v), n in expected.items() if s == stream})
            got = topic_messages(self.bootstrap, self.run_id, stream)
            assert got == want, (
                f"{stream}: {sum((got - want).values())} messages repeated or foreign, "
                f"{sum((want - got).values())} missing"
            )
            assert self.report.delivered[stream] == sum(want.values())

    def check_archive(self, settings: Settings, archive_dir: Path) -> None:
        """The run's archive holds one row per simulated event and nothing undecodable."""
        import duckdb

        from archive.archiver import ArchiveOptions, Mode, archive_run

        own = settings.model_copy(
            update={"bootstrap_servers": self.bootstrap, "archive_dir": archive_dir}
        )
        result = asyncio.run(archive_run(own, self.run_id, ArchiveOptions(mode=Mode.SNAPSHOT)))
        expected = self.expected
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
