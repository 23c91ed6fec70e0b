"""The engine's sustained rate over a produced backlog, with the model or a constant score
(``bench_engine.py``).

The queries are the engine's live ones, built from its own functions; each variant writes to
result topics of its own, so that its reports read only its own scores. Events per micro-batch
are counted from the sources' offsets (browsing and transactions; the customer profiles, read
by the same query, come all in its first micro-batch).
"""

from __future__ import annotations

import asyncio
import math
import os
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import orjson

from engine import job, report_queries
from engine.frontier import frontier_topic, partition_key
from engine.inventory_report import INVENTORY_TRIGGER_S, ForecastWriter, inventory_query
from engine.job import SCORES_TRIGGER_S, cell_resolution, uses_cells
from engine.scoring import (
    ChallengerFactory,
    ExplainerFactory,
    ScorerFactory,
    scoring_rows,
    start_python_workers,
)
from engine.sources import kafka_stream
from engine.verdicts import ModelStamp
from fraudlab.blocking_kafka import BlockingKafka
from fraudlab.kafka_io import create_topics, end_offsets
from fraudlab.settings import Settings
from fraudlab.topics import topic_name
from models.demand import load_demand
from models.registry import SavedModel
from rulebook.rules import RuleChange
from rulebook.topics import publish_changes, rules_topic

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

BUSY = 0.8  # the p95 batch duration must stay under this share of the trigger
START_RATE, MIN_RATE = 2_000, 60
BISECTIONS = 2  # after the first failure: the limit within 2 ** (1 / 2**2) = 1.19
WARMUP_BATCHES, MEASURED_BATCHES = 1, 5
STEP_LIMIT_S = 130.0
FIRST_BATCH_LIMIT_S = 900.0


@dataclass
class Variant:
    """One scoring pipeline, its search for the highest rate it keeps up with, its steps."""

    name: str
    scorer: ScorerFactory  # the model's booster, or a constant
    model: SavedModel
    results_run: str  # the run id its result topics and checkpoints are named after
    hold: bool = True  # records held until the frontier passes them (engine.frontier)
    rules: list[RuleChange] = field(default_factory=list)  # in force from the run's start
    # what explains potential frauds, and a model scored beside (engine.verdicts); None: neither
    explainer: ExplainerFactory | None = None
    challenger: ChallengerFactory | None = None
    # the location cells' figures kept (engine.cell_fold) when the model uses them; else zero
    cells: bool = True
    # with the hold, transactions claim their ids (engine.identity)
    identities: bool = True
    # the inventory report's query beside the others, when the model has a demand forecast
    inventory: bool = True
    forecasts: ForecastWriter | None = None  # the inventory report's writer, across steps
    passed: float | None = None
    failed: float | None = None
    input_ran_out: bool = False
    steps: list[dict[str, Any]] = field(default_factory=list)
    first_batch_s: float | None = None  # the first scoring micro-batch: every profile folded in

    def next_rate(self) -> float | None:
        """Double until a rate fails, then halve the gap geometrically; None when done."""
        if self.input_ran_out:
            return None
        if self.passed is None and self.failed is None:
            return START_RATE
        if self.failed is None:
            return 2 * self.passed  # type: ignore[operator]
        if self.passed is None:
            return self.failed / 2 if self.failed / 2 >= MIN_RATE else None
        if self.failed / self.passed <= 2 ** (1 / 2**BISECTIONS) * 1.01:
            return None
        return round(math.sqrt(self.passed * self.failed) / 10) * 10


def processing_ratio(variants: list[Variant]) -> tuple[float | None, list[float]]:
    """Events per second of scores micro-batch time, first variant over second, pooled over
    the measured batches of the rates both were offered (a measure for when neither sustains
    any rate tried); and those rates."""
    offered = [{s["rate"] for s in v.steps if s["scoring"]["batches"]} for v in variants]
    common = sorted(offered[0] & offered[1])
    rates = []
    for v in variants:
        steps = [s["scoring"] for s in v.steps if s["rate"] in common]
        seconds = sum(s["batch_s"] for s in steps)
        rates.append(sum(s["events"] for s in steps) / seconds if seconds else 0.0)
    return (round(rates[0] / rates[1], 3) if common and rates[1] else None), common


def batch_cost(variant: Variant) -> dict[str, float] | None:
    """A straight line through the steps' mean scores micro-batch (events, seconds): what a
    micro-batch costs whatever its size, and per event."""
    points = [
        (
            s["scoring"]["events"] / s["scoring"]["batches"],
            s["scoring"]["batch_s"] / s["scoring"]["batches"],
        )
        for s in variant.steps
        if s["scoring"]["batches"]
    ]
    if len({x for x, _ in points}) < 2:
        return None
    slope, fixed = np.polyfit([x for x, _ in points], [y for _, y in points], 1)
    return {"fixed_s": round(float(fixed), 2), "ms_per_event": round(float(slope) * 1000, 3)}


def variant_topics(backlog_run: str, results_run: str) -> dict[str, str]:
    """Input topics of the backlog run, result topics of the variant's own."""
    topics = job.prepare_topics(backlog_run)
    for stream in job.RESULT_STREAMS:
        topics[stream] = topic_name(results_run, stream)
    topics["frontier"] = frontier_topic(results_run)
    return topics


def start_queries(
    spark: SparkSession,
    settings: Settings,
    topics: dict[str, str],
    variant: Variant,
    products: DataFrame,
    max_offsets: int,
    with_reports: bool = True,
) -> list[StreamingQuery]:
    """The queries ``run_engine`` starts live at speed 1, the scoring ones reading at most
    ``max_offsets`` input records per micro-batch; ``with_reports=False``: the scoring query
    alone (run_engine starts the report queries once its first micro-batch is done)."""
    bootstrap = settings.bootstrap_servers
    checkpoints = settings.checkpoint_dir / variant.results_run
    every = {"processingTime": f"{SCORES_TRIGGER_S:.3f} seconds"}
    events = [topics["browsing"], topics["transactions"]]
    raw = kafka_stream(spark, bootstrap, events, max_offsets).unionByName(
        kafka_stream(spark, bootstrap, [topics["customer"]])
    )
    model = variant.model
    stamp = ModelStamp(model.name, model.digest, model.threshold)
    reports, partitions = None, None
    if variant.hold:
        reports = kafka_stream(spark, bootstrap, [topics["frontier"]])
        ends = asyncio.run(end_offsets(bootstrap, events))
        partitions = sorted(partition_key(t, p) for t, p in ends)
    rules = None
    if variant.rules:
        rules = kafka_stream(spark, bootstrap, [rules_topic(variant.results_run)])
    rows = scoring_rows(
        raw,
        topics,
        stamp,
        variant.scorer,
        settings.engine_state_buckets,
        reports,
        partitions,
        rules=rules,
        explainer=variant.explainer,
        challenger=variant.challenger,
        cells=variant.cells and uses_cells([model]),
        resolution=cell_resolution(model, settings),
        identities=variant.identities,
    )
    scoring = report_queries.sink_query(rows, "scoring", checkpoints, bootstrap, every)
    if not with_reports:
        return [scoring]
    run_id = variant.results_run
    queries = [
        scoring,
        report_queries.alerts_query(spark, bootstrap, 1.0, topics, checkpoints, run_id),
        report_queries.top_products_query(
            spark, bootstrap, 1.0, topics, products, checkpoints, run_id
        ),
    ]
    demand = load_demand(model.folder) if variant.inventory else None
    if demand is not None:
        if variant.forecasts is None:
            # one writer for the variant's steps, as for one engine run: queries restarted
            # from their checkpoints go on with it
            names = {
                str(r["id"]): str(r["productDisplayName"] or "")
                for r in products.select("id", "productDisplayName").collect()
            }
            variant.forecasts = ForecastWriter(demand[0], names, demand[1])
        queries.append(
            inventory_query(
                spark,
                bootstrap,
                1.0,
                topics,
                variant.forecasts,
                checkpoints,
                variant.results_run,
                max_offsets * round(INVENTORY_TRIGGER_S / SCORES_TRIGGER_S),
            )
        )
    return queries


def percentile(values: list[int] | list[float], q: float) -> float:
    """The q-th percentile (linear interpolation)."""
    return float(np.percentile(values, q))


def _offsets(value: Any) -> dict[tuple[str, str], int]:
    parsed = orjson.loads(value) if isinstance(value, str | bytes) else value
    return {(t, p): int(o) for t, parts in (parsed or {}).items() for p, o in parts.items()}


def batch_events(progress: dict[str, Any], stream: str = ".browsing") -> int:
    """Records a micro-batch read from its source of ``stream`` (and the source's other topics),
    from the source's start and end offsets."""
    total = 0
    for source in progress.get("sources", []):
        end = _offsets(source.get("endOffset"))
        if any(stream in topic for topic, _ in end):
            start = _offsets(source.get("startOffset"))
            total += sum(o - start.get(tp, 0) for tp, o in end.items())
    return total


def _duration_ms(progress: dict[str, Any]) -> int:
    return int(progress["durationMs"]["triggerExecution"])


def _started_ms(progress: dict[str, Any]) -> float:
    return datetime.fromisoformat(progress["timestamp"].replace("Z", "+00:00")).timestamp() * 1000


def split_batches(
    queries: list[StreamingQuery],
) -> dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """(warm-up, measured) micro-batches with data of the scoring query: its first
    WARMUP_BATCHES warm up."""
    with_data = {
        q.name: [dict(p) for p in q.recentProgress if batch_events(p) > 0] for q in queries
    }
    scoring = with_data["scoring"]
    if len(scoring) < WARMUP_BATCHES:
        return {name: (batches, []) for name, batches in with_data.items()}
    last = scoring[WARMUP_BATCHES - 1]
    warm_end = _started_ms(last) + _duration_ms(last)
    return {
        name: (
            [p for p in batches if _started_ms(p) < warm_end],
            [p for p in batches if _started_ms(p) >= warm_end][:MEASURED_BATCHES],
        )
        for name, batches in with_data.items()
    }


def _phases(batches: list[dict[str, Any]]) -> dict[str, float]:
    """Median milliseconds of each phase of the batches, and of the state store's commit and
    updates: where a micro-batch's time goes."""
    phases: dict[str, list[float]] = {}
    for p in batches:
        for phase, ms in p["durationMs"].items():
            phases.setdefault(phase, []).append(ms)
        for op in p.get("stateOperators") or []:
            for key in ("commitTimeMs", "allUpdatesTimeMs", "allRemovalsTimeMs"):
                phases.setdefault(f"state.{key}", []).append(op.get(key, 0))
    return {k: round(percentile(v, 50)) for k, v in phases.items()}


def _certainly_over(batches: list[dict[str, Any]], limit_ms: float) -> bool:
    """Whether the p95 of the measured batches is over the limit whatever the batches still
    to come take (counted as taking no time at all)."""
    durations = [_duration_ms(p) for p in batches]
    padded = durations + [0] * (MEASURED_BATCHES - len(durations))
    return bool(durations) and percentile(padded, 95) >= limit_ms


def run_step(
    spark: SparkSession,
    settings: Settings,
    topics: dict[str, str],
    variant: Variant,
    products: DataFrame,
    rate: float,
) -> dict[str, Any]:
    """Run the queries at ``rate`` events/s until the batches are measured (or the rate has
    clearly failed); the step's figures."""
    max_offsets = round(rate * SCORES_TRIGGER_S)
    limit_ms = BUSY * SCORES_TRIGGER_S * 1000
    queries = start_queries(spark, settings, topics, variant, products, max_offsets)
    scoring = queries[:1]
    started = time.monotonic()
    try:
        while time.monotonic() - started < STEP_LIMIT_S:
            for q in queries:
                if q.exception() is not None:
                    raise RuntimeError(f"the {q.name} query failed: {q.exception()}")
            measured = [m for _, m in split_batches(scoring).values()]
            if all(len(m) >= MEASURED_BATCHES for m in measured):
                break
            if any(_certainly_over(m, limit_ms) for m in measured):
                break
            time.sleep(0.5)
    finally:
        for q in queries:
            q.stop()
    figures: dict[str, Any] = {"rate": rate, "max_offsets_per_trigger": max_offsets}
    kept_up = True
    for name, (warmup, batches) in split_batches(scoring).items():
        durations = [_duration_ms(p) for p in batches]
        events = [batch_events(p) for p in batches]
        p95 = percentile(durations, 95) if batches else math.inf
        figures[name] = {
            "batches": len(batches),
            "warmup_batch_ms": [_duration_ms(p) for p in warmup],
            "p95_batch_ms": round(p95) if batches else None,
            "median_batch_ms": round(percentile(durations, 50)) if batches else None,
            "events": sum(events),
            "batch_s": round(sum(durations) / 1000, 3),
            "events_per_batch": round(sum(events) / max(len(events), 1)),
            "processed_per_s": round(sum(events) / max(sum(durations) / 1000, 1e-9)),
            "median_ms_by_phase": _phases(batches),
        }
        kept_up = kept_up and p95 < limit_ms
        if name == "scoring" and (not events or min(events) < 0.95 * max_offsets):
            # a batch short of its limit: the backlog ran out, the rate was never offered
            variant.input_ran_out = figures["input_ran_out"] = True
    figures["kept_up"] = kept_up and not variant.input_ran_out
    figures["seconds"] = round(time.monotonic() - started, 1)
    # the machine may be shared: what else ran shows here
    figures["load_average_1min"] = round(os.getloadavg()[0], 2)
    return figures


def first_batch(
    spark: SparkSession,
    settings: Settings,
    topics: dict[str, str],
    variant: Variant,
    products: DataFrame,
    max_offsets: int = round(START_RATE * SCORES_TRIGGER_S),
) -> tuple[float, int]:
    """Run the scoring query, reading at most ``max_offsets`` events per micro-batch, until it
    has committed its first micro-batch, which folds in every customer profile there is; the
    seconds it took (not part of any step) and the input rows it read (profiles and events)."""
    # as run_engine starts: the Python workers up, then the scoring query (the report queries
    # start after its first micro-batch)
    start_python_workers(spark, variant.scorer)
    queries = start_queries(
        spark,
        settings,
        topics,
        variant,
        products,
        max_offsets,
        with_reports=False,
    )
    started = time.monotonic()
    try:
        while not any(batch_events(p) > 0 for p in queries[0].recentProgress):
            for q in queries:
                if q.exception() is not None:
                    raise RuntimeError(f"the {q.name} query failed: {q.exception()}")
            if time.monotonic() - started > FIRST_BATCH_LIMIT_S:
                raise RuntimeError(f"no scoring micro-batch ended in {FIRST_BATCH_LIMIT_S:g} s")
            time.sleep(0.1)
        took = time.monotonic() - started
        first = next(p for p in queries[0].recentProgress if batch_events(p) > 0)
    finally:
        for q in queries:
            q.stop()
    return took, int(first["numInputRows"])


def sustained_rates(
    spark: SparkSession, settings: Settings, backlog_run: str, variants: list[Variant]
) -> None:
    """Search each variant's highest sustained rate, the variants' steps taken in turn."""
    bootstrap = settings.bootstrap_servers
    products = report_queries.read_products(
        spark, bootstrap, job.prepare_topics(backlog_run)["product"]
    )
    for v in variants:
        results = [topic_name(v.results_run, s) for s in job.RESULT_STREAMS]
        asyncio.run(create_topics(bootstrap, results, settings.topic_partitions))
        asyncio.run(create_topics(bootstrap, [frontier_topic(v.results_run)], 1))
        if v.rules:
            with BlockingKafka(bootstrap) as kafka:
                kafka.call(publish_changes(kafka.session, v.results_run, v.rules))
    for v in variants:
        v.first_batch_s, _ = first_batch(
            spark, settings, variant_topics(backlog_run, v.results_run), v, products
        )
        print(
            f"  {v.name:<8} first scoring micro-batch (every customer profile): "
            f"{v.first_batch_s:.0f} s",
            file=sys.stderr,
            flush=True,
        )
    while pending := [(v, r) for v in variants if (r := v.next_rate()) is not None]:
        for v, rate in pending:
            topics = variant_topics(backlog_run, v.results_run)
            step = run_step(spark, settings, topics, v, products, rate)
            v.steps.append(step)
            if step["kept_up"]:
                v.passed = max(v.passed or 0.0, rate)
            elif not step.get("input_ran_out"):
                v.failed = min(v.failed or math.inf, rate)
            s = step["scoring"]
            print(
                f"  {v.name:<8} {rate:>7,.0f} events/s: p95 batch {s['p95_batch_ms']} ms "
                f"({s['batches']} batches) -> "
                f"{'kept up' if step['kept_up'] else 'not kept up'}"
                f"{' (the backlog ran out)' if step.get('input_ran_out') else ''}",
                file=sys.stderr,
                flush=True,
            )
    products.unpersist()
