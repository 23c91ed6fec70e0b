"""A run, described once: the typed, frozen plan from which every part of it is started.

``fraudlab run`` (a scenario or a CSV folder), ``fraudlab replay`` and a resumed run each build
one :class:`RunPlan`; :meth:`RunPlan.invocation` turns it into each part's command, here and
nowhere else, and the supervisor (:mod:`lab.run_supervisor`) starts those. Nothing reads a
command line back: what a part needs of the run (its model, whether it is a replay) is a field
of the plan.

>>> plan = RunPlan("r1", ScenarioSource("baseline", seed=7, minutes=5), speed=20.0,
...                model="m1", quick_start=True)
>>> plan.invocation("producer")
['produce', 'baseline', '--seed', '7', '--run-id', 'r1', '--speed', '20', '--minutes', '5']
>>> plan.invocation("engine")
['engine', 'r1', '--model', 'm1', '--until-producer-ends', '--speed', '20', '--quick-start']
>>> RunPlan("r4", ScenarioSource("baseline", 7, 5, customers=1000), speed=None).invocation(
...     "producer")[-4:]
['--minutes', '5', '--customers', '1000']
>>> RunPlan("r2", CsvSource(Path("data"), seed=0), speed=None).invocation("engine")[-1]
'--available-now'
>>> RunPlan("r5", ReplaySource("r1"), speed=None, model="m1", challenger="m2").invocation(
...     "engine")[2:]
['--model', 'm1', '--until-producer-ends', '--challenger', 'm2', '--available-now']
>>> RunPlan("r3", ReplaySource("r1"), speed=None, resume=True).invocation("producer")
['republish', 'r1', '--run-id', 'r3', '--resume', '--fast']
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from rulebook.rules import RuleChange

Part = Literal["producer", "engine", "archiver", "delivery"]

# A live engine whose input stays under this many events per second starts its JVM with the C1
# JIT alone (fraudlab.spark): half the 8,000 events/s such an engine sustains on two cores, so
# it keeps up with room to spare, and its first scores come seconds sooner (make demo's first
# alert: 33 s with both JIT tiers, 25 s with C1 alone).
QUICK_START_MAX_RATE = 4_000.0
# A fast run (available-now) whose events stay under this many, by the source's peak rate over
# its minutes (an upper estimate, 2 to 8 times the events a scenario makes), quick-starts too:
# C2's compilations do not pay for themselves on a small backlog. Measured on two cores, a
# 37,000-event run (card-testing-burst, 10 minutes, 1,000 customers): 24 and 27 s with C1
# alone, 31 and 33 s with both tiers; by those figures the two meet near 130,000 events.
QUICK_START_MAX_EVENTS = 150_000.0
# a CSV run's pace: one batch of at most 500 rows every 5 s
CSV_PEAK_EVENTS_PER_S = 100.0


@dataclass(frozen=True)
class ScenarioSource:
    """A named scenario (or a scenario file) simulated as the run's events; ``minutes`` None:
    the scenario's own horizon; ``customers`` None: the scenario's own world size."""

    scenario: str
    seed: int
    minutes: float | None = None
    customers: int | None = None


@dataclass(frozen=True)
class CsvSource:
    """An assignment-layout CSV folder streamed as the run's events (``fraudlab produce-csv``)."""

    folder: Path
    seed: int = 0
    first_ts: int | None = None


@dataclass(frozen=True)
class ReplaySource:
    """A finished run's archived events, played again as a new run."""

    run_id: str


Source = ScenarioSource | CsvSource | ReplaySource


@dataclass(frozen=True)
class RunPlan:
    """One run: its id, where its events come from, its pace (``speed`` None: as fast as it
    goes, the engine then available-now), the model that scores it, the rule changes it starts
    with (None: the default rule book's, unless ``resume``), whether alerts go to the settings'
    sinks, whether it continues a run stopped part way, and whether its engine quick-starts
    its JVM (see :func:`quick_start_for`); ``challenger``: a second model the engine scores
    beside ``model`` (``model`` alone decides alerts)."""

    run_id: str
    source: Source
    speed: float | None
    model: str = "default"
    challenger: str | None = None
    rules: tuple[RuleChange, ...] | None = None
    deliver: bool = True
    resume: bool = False
    quick_start: bool = False

    @property
    def is_replay(self) -> bool:
        return isinstance(self.source, ReplaySource)

    @property
    def default_rules(self) -> bool:
        """Whether the run starts with the default rule book (no rules of its own, not resumed)."""
        return self.rules is None and not self.resume

    def invocation(self, part: Part, wait_for: str = "producer,engine") -> list[str]:
        """The ``fraudlab`` command (without the program and settings) that runs ``part``."""
        if part == "producer":
            return self._source_args()
        if part == "engine":
            flags = ["engine", self.run_id, "--model", self.model, "--until-producer-ends"]
            if self.challenger is not None:
                flags += ["--challenger", self.challenger]
            if self.speed is None:
                flags += ["--available-now"]
            else:
                flags += ["--speed", f"{self.speed:g}"]
            return [*flags, "--quick-start"] if self.quick_start else flags
        if part == "archiver":
            return ["archive", self.run_id, "--until-end", "--wait-for", wait_for]
        return ["deliver", self.run_id]

    def _pace(self) -> list[str]:
        return ["--fast"] if self.speed is None else ["--speed", f"{self.speed:g}"]

    def _source_args(self) -> list[str]:
        source = self.source
        if isinstance(source, ReplaySource):
            resume = ["--resume"] if self.resume else []
            return ["republish", source.run_id, "--run-id", self.run_id, *resume, *self._pace()]
        if isinstance(source, CsvSource):
            args = ["produce-csv", str(source.folder), "--run-id", self.run_id]
            args += ["--seed", str(source.seed)]
            if source.first_ts is not None:
                args += ["--first-ts", str(source.first_ts)]
            return [*args, *(["--fast"] if self.speed is None else [])]
        if self.resume:
            return ["produce", "--resume", self.run_id, *self._pace()]
        args = ["produce", source.scenario, "--seed", str(source.seed), "--run-id", self.run_id]
        args += self._pace()
        args += [] if source.minutes is None else ["--minutes", f"{source.minutes:g}"]
        return args + ([] if source.customers is None else ["--customers", str(source.customers)])

    @property
    def source_label(self) -> str:
        """What the run's source is called in messages."""
        return "replay" if self.is_replay else "producer"


def quick_start_for(
    speed: float | None, peak_events_per_s: float | None, minutes: float | None = None
) -> bool:
    """Whether a run's engine quick-starts its JVM (the C1 JIT alone): live, when its source's
    busiest rate (events/s at speed 1, an upper estimate) times the speed stays under
    :data:`QUICK_START_MAX_RATE`; fast, when that rate over the run's ``minutes`` stays under
    :data:`QUICK_START_MAX_EVENTS`.

    >>> quick_start_for(20, 147.0), quick_start_for(20, 590.0), quick_start_for(None, 1.0)
    (True, False, False)
    >>> quick_start_for(None, 147.0, 10), quick_start_for(None, 147.0, 60)
    (True, False)
    """
    if peak_events_per_s is None:
        return False
    if speed is None:
        return minutes is not None and peak_events_per_s * minutes * 60 <= QUICK_START_MAX_EVENTS
    return peak_events_per_s * speed <= QUICK_START_MAX_RATE


__all__ = [
    "CSV_PEAK_EVENTS_PER_S",
    "QUICK_START_MAX_EVENTS",
    "QUICK_START_MAX_RATE",
    "CsvSource",
    "ReplaySource",
    "RunPlan",
    "ScenarioSource",
    "Source",
    "quick_start_for",
]
