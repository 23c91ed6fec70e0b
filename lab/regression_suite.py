"""The scenario regression suite: every named scenario, end to end, against its golden digests.

Each scenario runs as ``fraudlab run SCENARIO --fast --minutes M --customers N`` runs it: a
:class:`~lab.run_plan.RunPlan` whose producer, engine (available-now) and archiver are
supervised ``fraudlab`` processes (:func:`lab.run_supervisor.supervised_run`), on a run of its
own, with no rules. The producer digests the messages it sends and announces the digest when it
finishes; the suite reads that and the run's fraud alerts back, and compares them with
:mod:`lab.regression_goldens`. A scenario is simulated in this process only to locate a
difference (or to write goldens with their chunk digests), so a passing suite simulates each
scenario once, in the producer.

Regression scale: the horizon holds the start of each scenario's own pattern (see
:data:`HORIZONS`), and the world has at most :data:`REGRESSION_CUSTOMERS` customers; traffic,
patterns, faults and seed are the file's. The world is cut because the engine's cost per run is
set by its customers (every profile is folded into per-customer state in the first
micro-batch), not by the horizon: at 5,000 customers a run costs about twice as much as at 1,000
whether it lasts one simulated minute or five, and nine of them would not fit CI's time.

Why this lives in ``lab/``: like ``fraudlab run``, the suite composes the simulator, the models
and the engine, through the run plan and the parts' own commands.

The model is trained from a fixed recipe (:data:`MODEL_RECIPE`) because none is committed
(saved models are not in git, and ``var/models/default`` is whatever ``make model`` trained last).
Training is repeatable (sorted feature rows in one partition, xgboost trees grown without
sampling), and so is the saved booster, byte for byte; the model is nevertheless pinned by what it
says on its validation rows (the exact operating threshold and the validation metrics) rather
than by its digest, which would also change with the xgboost version that wrote it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from fraudlab.blocking_kafka import BlockingKafka
from fraudlab.errors import FraudlabError
from fraudlab.records import RunEvent
from fraudlab.runs import new_run_id
from fraudlab.settings import REPO_ROOT, Settings
from fraudlab.topics import run_topics, topic_name
from lab.regression_goldens import (
    CHUNK_MESSAGES,
    UPDATE_HINT,
    EventDigest,
    Goldens,
    ModelFingerprint,
    RecordsDigest,
    ScenarioDigests,
    alert_digest,
    chunk_digests,
    model_failure,
    records_digest,
    scenario_failures,
)

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from models.registry import SavedModel
    from simulator.messages import Message
    from simulator.scenario import Scenario

GOLDEN_FILE = REPO_ROOT / "tests" / "regression" / "goldens.json"

# Simulated minutes of a scenario's regression run, unless HORIZONS says otherwise.
REGRESSION_MINUTES = 5.0
# Customers of a scenario's world at most (its products stay as they are).
REGRESSION_CUSTOMERS = 1_000
# Scenarios whose own pattern starts later than REGRESSION_MINUTES: long enough to hold a good
# part of it, since a pattern's first transactions come a minute or so after its episodes begin
# and a parameter whose draws never come up changes nothing. The history scenario's bursts start
# two hours in and stay out of reach; its first minutes are baseline traffic over a larger world.
HORIZONS: dict[str, float] = {
    "account-takeover-wave": 10.0,  # the ramp starts at minute 5
    "bot-swarm": 10.0,  # the first burst runs from minute 4 to 10
    "card-testing-burst": 10.0,  # the first burst runs from minute 5 to 10
    "flash-sale": 11.0,  # the surge (four times the traffic) starts at minute 10
}
MODEL_NAME = "regression"
# the regression model's demand forecast looks this far ahead: runs of 5 to 11 minutes hold
# forecasts over 5 minutes, not over the default 30
FORECAST_MINUTES = 5.0
# the named scenario at full scale, as the tests' small model is trained
MODEL_RECIPE: dict[str, Any] = {
    "scenario": "baseline",
    "seed": 7,
    "minutes": 20.0,
    "validation_scenario": "baseline",
    "validation_seeds": [1007],
    "candidates": ["xgboost"],
}

ABOUT = (
    "Golden digests of the scenario regression suite (lab/regression_suite.py): each "
    "named "
    f"scenario run for a short horizon in a world of at most {REGRESSION_CUSTOMERS:,} customers "
    "with its seed, produced fast, scored available-now by a model trained from the recipe below. "
    "`events.digest` is the canonical digest of every message produced; alert pairs are "
    "'window_start transaction_id'; `inventory` and `forecast` digest the sorted values of the "
    "inventory stream and of the inventory-forecast report (a 5-minute demand forecast). "
    "`make regress` checks them; `fraudlab regress --update` rewrites this file and says what "
    "changed."
)

Step = Callable[[str], None]


@dataclass(frozen=True)
class RegressionPlan:
    """One scenario's regression run: which scenario, its seed, horizon and world size."""

    name: str
    seed: int
    minutes: float
    customers: int


@dataclass
class ScenarioOutcome:
    """What one scenario gave, and why it fails its golden ([] when it passes)."""

    digests: ScenarioDigests
    failures: list[str]
    wall_s: float


@dataclass
class SuiteOutcome:
    """The whole suite: the model, each scenario, and goldens with no scenario to check."""

    model: ModelFingerprint
    model_failure: str | None = None
    scenarios: list[ScenarioOutcome] = field(default_factory=list)
    orphans: list[str] = field(default_factory=list)
    wall_s: float = 0.0

    @property
    def failed(self) -> list[str]:
        """Names of the scenarios that fail, then goldens without a scenario."""
        return [s.digests.name for s in self.scenarios if s.failures] + self.orphans

    def failure_text(self) -> str:
        """Every failure, the model's first; empty when the suite passes."""
        parts = [self.model_failure] if self.model_failure else []
        for s in self.scenarios:
            parts.extend(s.failures)
        parts.extend(
            f"{name}: the goldens hold it but there is no such scenario; {UPDATE_HINT}."
            for name in self.orphans
        )
        return "\n".join(parts)

    def as_goldens(self, kept: Goldens | None = None) -> Goldens:
        """Goldens of this outcome; scenarios it did not run are kept from ``kept``."""
        scenarios = dict(kept.scenarios) if kept is not None else {}
        for name in self.orphans:
            scenarios.pop(name, None)
        scenarios.update({s.digests.name: s.digests for s in self.scenarios})
        return Goldens(self.model, scenarios)


def regression_plans(scenarios_dir: Path, names: Sequence[str] = ()) -> list[RegressionPlan]:
    """The plans of the named scenarios (every scenario when ``names`` is empty), by name."""
    from simulator.scenario import list_scenarios, load_scenario

    scenarios = (
        [load_scenario(n, scenarios_dir) for n in dict.fromkeys(names)]
        if names
        else list_scenarios(scenarios_dir)
    )
    return sorted(
        (
            RegressionPlan(
                s.name,
                s.seed,
                HORIZONS.get(s.name, REGRESSION_MINUTES),
                min(s.world.customers, REGRESSION_CUSTOMERS),
            )
            for s in scenarios
        ),
        key=lambda p: p.name,
    )


def at_regression_scale(scenario: Scenario, plan: RegressionPlan) -> Scenario:
    """``scenario`` with the plan's world size (the file's text and path are kept), as
    ``fraudlab produce --customers`` cuts it."""
    return scenario.with_customers(plan.customers)


def event_digest(messages: Sequence[Message]) -> EventDigest:
    """The canonical digest of a run's messages, their count per stream, and chunk digests."""
    from simulator.simulation import canonical_digest

    streams: dict[str, int] = {}
    for m in messages:
        streams[m.stream] = streams.get(m.stream, 0) + 1
    chunks = chunk_digests(
        canonical_digest(messages[i : i + CHUNK_MESSAGES])
        for i in range(0, len(messages), CHUNK_MESSAGES)
    )
    return EventDigest(canonical_digest(messages), streams, chunks)


def message_line(m: Message) -> str:
    """One message as a short line: delivery time, stream, key and the start of its value."""
    value = m.value.decode("utf-8", "replace")
    value = value if len(value) <= 100 else value[:99] + "…"
    return f"{m.deliver_at:10.3f} s  {m.stream:<16} {m.key.decode('utf-8', 'replace'):<12} {value}"


def train_regression_model(spark: SparkSession, settings: Settings, step: Step) -> SavedModel:
    """Train the suite's model from :data:`MODEL_RECIPE` into ``settings.models_dir``."""
    from lab.demand_training import train_demand
    from lab.training_runs import simulated_history
    from models.demand import save_demand
    from models.training import TrainingPlan, feature_rows, fit_and_save

    recipe = MODEL_RECIPE
    rows, histories = [], []
    for scenario, seed in [
        (recipe["scenario"], recipe["seed"]),
        *((recipe["validation_scenario"], s) for s in recipe["validation_seeds"]),
    ]:
        step(f"simulating {recipe['minutes']:g} minutes of {scenario}, seed {seed}")
        history = simulated_history(
            spark, scenario, settings.scenarios_dir, seed, recipe["minutes"]
        )
        rows.append(feature_rows(spark, history, settings.location_cell_resolution))
        histories.append(history)
    import pandas as pd

    plan = TrainingPlan(
        name=MODEL_NAME,
        scenario=recipe["scenario"],
        seed=recipe["seed"],
        minutes=recipe["minutes"],
        validation_seeds=tuple(recipe["validation_seeds"]),
        validation_scenario=recipe["validation_scenario"],
        candidates=tuple(recipe["candidates"]),
    )
    saved = fit_and_save(
        spark, settings, plan, rows[0], pd.concat(rows[1:], ignore_index=True), step
    )
    step(f"fitting the demand forecast over {FORECAST_MINUTES:g} minutes ahead")
    save_demand(saved.folder, train_demand(spark, histories[0], FORECAST_MINUTES))
    return saved


def model_fingerprint(model: SavedModel) -> ModelFingerprint:
    """How a saved model was trained, and a digest of what it says on its validation rows."""
    meta = model.metadata
    training, validation = meta["training"], meta["validation"]
    recipe = {
        "scenario": training["scenario"],
        "seed": training["seed"],
        "minutes": float(training["minutes"]),
        "validation_scenario": validation["scenario"],
        "validation_seeds": list(validation["seeds"]),
        "candidates": sorted(validation["average_precision"]),
    }
    said = {
        "kind": meta["kind"],
        "features": meta["features"],
        "threshold": meta["threshold"],
        "training": {k: training[k] for k in ("transactions", "frauds")},
        "validation": {k: v for k, v in validation.items() if k not in ("scenario", "seeds")},
    }
    digest = hashlib.sha256(json.dumps(said, sort_keys=True).encode()).hexdigest()
    return ModelFingerprint(recipe, str(meta["kind"]), model.threshold, digest)


def alert_pairs(kafka: BlockingKafka, run_id: str) -> list[tuple[int, str]]:
    """(window start, transaction id) of every potential fraud in the run's fraud alerts."""
    pairs: list[tuple[int, str]] = []
    for message in kafka.read_to_end(topic_name(run_id, "fraud-alerts")):
        if message.value is None:
            continue
        alert = orjson.loads(message.value)
        pairs.extend(
            (int(alert["window_start"]), t["transaction_id"]) for t in alert["transactions"]
        )
    return pairs


def topic_records(kafka: BlockingKafka, run_id: str, stream: str) -> RecordsDigest:
    """The digest of the values a run's topic holds (sorted: partitions are read in turn)."""
    found = kafka.read_to_end(topic_name(run_id, stream))
    return records_digest(m.value for m in found if m.value is not None)


def announced_digest(kafka: BlockingKafka, run_id: str) -> EventDigest:
    """The canonical digest the run's producer announced when it finished (whole, without
    chunks); FraudlabError when it announced none."""
    from fraudlab.run_events import decode_run_event, latest_details

    found = kafka.read_to_end(topic_name(run_id, RunEvent.STREAM))
    events = [decode_run_event(m.value) for m in found if m.value is not None]
    digest = latest_details(events, "producer", "finished").get("digest")
    if not isinstance(digest, dict):
        raise FraudlabError(f"run {run_id}'s producer announced no digest of its messages.")
    return EventDigest(str(digest["sha256"]), dict(digest["messages"]), ())


def simulated_events(settings: Settings, plan: RegressionPlan) -> list[Message]:
    """Every message of the plan's scenario, simulated here (in delivery order)."""
    from simulator.clock import DEFAULT_START
    from simulator.scenario import load_scenario
    from simulator.simulation import Simulation

    scenario = at_regression_scale(load_scenario(plan.name, settings.scenarios_dir), plan)
    return list(Simulation(scenario, plan.seed, DEFAULT_START, plan.minutes).messages())


@dataclass
class ScenarioRun:
    """One scenario's regression run: its digests, and its messages when they were simulated
    here (to show a difference, or to write goldens with their chunks)."""

    digests: ScenarioDigests
    messages: list[Message] | None = None


def run_scenario(
    settings: Settings,
    plan: RegressionPlan,
    model_name: str,
    kafka: BlockingKafka,
    golden: ScenarioDigests | None,
    step: Step,
) -> ScenarioRun:
    """One scenario end to end, as ``fraudlab run SCENARIO --fast`` runs it: a run plan whose
    producer, engine and archiver are supervised processes, with no rules, so the alerts are
    the model's alone. The events are digested by the producer as it sends them (announced on
    the run's run-events); they are simulated here only when that digest is not the
    ``golden``'s, or there is no golden, for the chunk digests that locate a difference.

    Raises FraudlabError when the run does not complete."""
    from engine.frontier import frontier_topic
    from lab.run_plan import RunPlan, ScenarioSource, quick_start_for
    from lab.run_supervisor import supervised_run
    from simulator.scenario import load_scenario

    run_id = new_run_id(f"regress-{plan.name}", plan.seed)
    source = ScenarioSource(plan.name, plan.seed, plan.minutes, plan.customers)
    scenario = load_scenario(plan.name, settings.scenarios_dir)
    quick = quick_start_for(None, scenario.traffic.peak_events_per_s(), plan.minutes)
    run = RunPlan(
        run_id, source, None, model=model_name, rules=(), deliver=False, quick_start=quick
    )
    try:
        step(f"{plan.name}: run {run_id}, produced fast and scored available-now")
        outcome = supervised_run(settings, run, kafka)
        outcome.require_complete(f"{plan.name}: run {run_id}", settings.logs_dir)
        events = announced_digest(kafka, run_id)
        alerts = alert_digest(alert_pairs(kafka, run_id))
        inventory = topic_records(kafka, run_id, "inventory")
        forecast = topic_records(kafka, run_id, "inventory-forecast")
    finally:
        # the suite's runs are checked, never kept: leave nothing behind on the broker
        with contextlib.suppress(Exception):
            topics = [*run_topics(run_id), frontier_topic(run_id)]
            kafka.delete_topics(topics)
    messages = None
    if golden is None or golden.events.digest != events.digest:
        messages = simulated_events(settings, plan)
        here = event_digest(messages)
        if here.digest != events.digest:
            raise FraudlabError(
                f"{plan.name}: run {run_id}'s producer sent a stream with digest "
                f"{events.digest[:12]}, but the same scenario simulated here gives "
                f"{here.digest[:12]}: the producer does not send what the simulation makes."
            )
        events = here
    digests = ScenarioDigests(
        plan.name, plan.seed, plan.minutes, plan.customers, events, alerts, inventory, forecast
    )
    return ScenarioRun(digests, messages)


def _chunk_lines(messages: Sequence[Message]) -> Callable[[int], list[str]]:
    def lines(chunk: int) -> list[str]:
        first = chunk * CHUNK_MESSAGES
        return [message_line(m) for m in messages[first : first + CHUNK_MESSAGES]]

    return lines


def run_suite(
    settings: Settings,
    goldens: Goldens | None,
    model: SavedModel,
    names: Sequence[str] = (),
    step: Step = lambda _: None,
) -> SuiteOutcome:
    """Run the suite (``names``, or every scenario) with ``model`` and compare it with
    ``goldens`` if given.

    Each scenario is a run of its own (:func:`run_scenario`) whose parts read ``settings``: its
    checkpoints, archive and logs go to the settings' folders, which should be this suite's.
    """
    from fraudlab.broker import require_broker

    started = time.monotonic()
    require_broker(settings.bootstrap_servers)
    plans = regression_plans(settings.scenarios_dir, names)
    settings = settings.model_copy(update={"models_dir": model.folder.parent})
    fingerprint = model_fingerprint(model)
    step(
        f"model {model.name} ({fingerprint.kind}): threshold {fingerprint.threshold:.6g}, "
        f"fingerprint {fingerprint.fingerprint[:12]}, booster digest {model.digest[:12]}"
    )
    outcome = SuiteOutcome(fingerprint)
    if goldens is not None:
        outcome.model_failure = model_failure(goldens.model, fingerprint)
        if not names:
            outcome.orphans = sorted(set(goldens.scenarios) - {p.name for p in plans})
    with BlockingKafka(settings.bootstrap_servers) as kafka:
        for plan in plans:
            began = time.monotonic()
            golden = goldens.scenarios.get(plan.name) if goldens is not None else None
            run = run_scenario(settings, plan, model.name, kafka, golden, step)
            failures: list[str] = []
            if goldens is not None:
                if golden is None:
                    failures = [f"{plan.name}: the goldens have no entry for it; {UPDATE_HINT}."]
                else:
                    lines = None if run.messages is None else _chunk_lines(run.messages)
                    failures = scenario_failures(golden, run.digests, lines)
            wall = time.monotonic() - began
            verdict = "differs" if failures else ("ok" if goldens is not None else "digested")
            step(
                f"{plan.name}: {run.digests.events.count:,} messages, "
                f"{run.digests.alerts.count:,} alert pairs, {wall:.0f} s: {verdict}"
            )
            outcome.scenarios.append(ScenarioOutcome(run.digests, failures, wall))
    outcome.wall_s = time.monotonic() - started
    return outcome
