"""Benchmark of the engine: the rate it sustains, what its model costs, produce-to-alert latency.

One script, one broker of its own (a local KRaft broker on a free port in a temporary folder,
stopped at the end), one Spark session (the engine's settings, ``local[*]``, temporary folders),
the default model (``var/models/default``; when it is missing, a small one is trained first). The
session's JVM starts as a live ``fraudlab engine``'s does: both JIT tiers, or C1 alone when
``spark_live_quick_start`` is on (see :mod:`fraudlab.spark`); the report names the JIT.

1. sustained rate. A long run of the ``history`` scenario is produced with ``--fast``. The
   engine's live queries, built from its own functions (the one scoring query on the engine's
   10 s trigger, fraud-alerts on 10 s, top-products on 30 s), then read it with the scoring
   query's ``maxOffsetsPerTrigger`` = rate x the trigger: every trigger brings what a live run
   at that rate would bring. At each rate they run 1 warm-up and 5 measured micro-batches,
   continuing from the previous rate's checkpoints (the per-customer state grows as in a live
   run). A rate is kept up with when the 95th percentile of the measured batch durations is
   under 0.8 x the trigger (each batch then ends before the next trigger: the processing rate
   is above the input rate) and every batch was full (events counted from the source offsets).
   Rates double from 2,000 events/s until one fails (or halve, down to 60, until one passes),
   then the gap is halved geometrically twice: the figure is the highest rate kept up with,
   within a factor 1.19 of the limit.
2. model / constant score. The same search, the steps of both taken in turn, with the model's
   booster replaced by a scorer giving every transaction the same probability; everything else
   (parsing, the bucketed feature fold, the reports) is unchanged. The ratio of the two
   sustained rates (goal 0.8 or better) is what scoring with the model costs; when neither
   sustains a rate tried, the ratio of their scoring throughputs (events per second of scoring
   micro-batch time, at the rates both were offered) stands in, printed as such. The first
   scoring micro-batch, which folds in every customer profile, is timed on its own (goal 5 s),
   for each variant in turn: the model's comes first, in a JVM that has run no streaming query
   yet (as a fresh engine's), and is the figure; the others' meet a JVM warmed by it.
   Beside them, the same search for the model without the location cells' state ("no
   location": their figures zero, no second stateful operator; goal: the model with it sustains
   0.85 of that rate or better), without the inventory report ("no inventory": no demand
   forecast query beside the scoring; goal: the model with it sustains 0.9 of that rate or
   better), without the frontier hold, with the hold but without the identity check (no
   claims, no transaction held for its conflicts; set against "no inventory", as neither runs
   the inventory report), with 20 rules, and explained with a challenger.
3. latency. The scenario is produced paced at k = rate / its events per simulated second, for
   about 1,000 and 10,000 events/s, with the engine live next to it as ``fraudlab run`` has it
   (``EngineOptions(speed=k, until_producer_ends=True)``, on a thread of this process). The
   run's transactions, scores and fraud-alerts topics are created beforehand with
   ``message.timestamp.type=LogAppendTime``: every message carries the broker's wall-clock time
   of its arrival, and a latency is the difference of two of them, both in Kafka (transaction ->
   its score, transaction -> the first fraud-alert message holding it). Measured are the
   transactions that arrive during 90 s (30 s at 10,000/s) starting 20 s after the engine's
   first scoring micro-batch (which folds in every customer profile) ended; the producer then
   goes on for 150 simulated seconds, so that their windows close while the engine is live.
   An alert waits for its window's end plus the 2-minute watermark: 120-130 s of event time, / k
   on the wall clock (the "wait floor", printed with the latency beyond it). The engine kept up
   when the event time it read advanced as fast as the producer's and its score latency did
   not grow along the measured window; when it did not, the figures hold only for that run's
   length, and the script prints so, with the rate the engine got through and how far behind
   it was when the producer stopped. At 1,000 events/s the run's alerts are also delivered to a
   local webhook by the delivery part, and the alert-to-webhook latency measured.

Run: ``.venv/bin/python tests/benchmarks/bench_engine.py [--skip-latency | --latency-only]
[--json PATH]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the engine benchmark's two halves, next to this script
sys.path.insert(1, str(HERE.parent.parent))  # tests.delivery's webhook receiver

from engine_latency import latency_run, print_latency  # noqa: E402
from engine_sustained import (  # noqa: E402
    BUSY,
    Variant,
    batch_cost,
    processing_ratio,
    sustained_rates,
)
from own_broker import own_broker  # noqa: E402

from engine.job import SCORES_TRIGGER_S  # noqa: E402
from engine.scoring import (  # noqa: E402
    constant_scorer,
    model_challenger,
    model_explainer,
    model_scorer,
)
from fraudlab.settings import REPO_ROOT, Settings, load_settings  # noqa: E402
from models.registry import SavedModel, load_model  # noqa: E402
from rulebook.rules import RuleChange  # noqa: E402
from simulator.clock import DEFAULT_START  # noqa: E402
from simulator.producer import produce_run, run_details  # noqa: E402
from simulator.scenario import load_scenario  # noqa: E402
from simulator.simulation import Simulation  # noqa: E402

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SCENARIO, SEED = "history", 7
RULES_DIR = REPO_ROOT / "rules"
GOAL_RULES_RATIO = 0.9
# the location cells' state (engine.cell_fold) against their figures left at zero
GOAL_LOCATION_RATIO = 0.85
# the inventory report's query (engine.inventory_report) against none
GOAL_INVENTORY_RATIO = 0.9
GOAL_CHALLENGER_RATIO = 0.8
GOAL_RATIO = 0.8
GOAL_EVENTS_PER_S = 10_000
GOAL_FIRST_BATCH_S = 5.0
CONSTANT_PROBABILITY = 0.0
# (events/s, measured wall s): a rate above what the engine sustains gets a short run, as its
# latency only grows with the run's length
LATENCY_RUNS = ((1_000, 90.0), (10_000, 30.0))
# the rate at which the latency the frontier hold adds is measured (against a run without it)
HOLD_LATENCY_TARGET = 1_000
# the rate at which alerts are also delivered to a local webhook, and the delivery timed
WEBHOOK_TARGET = 1_000
GOAL_HOLD_RATIO = 0.9


def events_per_sim_second(delivered: list[tuple[float, int]]) -> float:
    """Browsing and transactions per simulated second from the 10th to the 60th minute (where
    the latency runs are measured)."""
    later = [(t, n) for t, n in delivered if 600 <= t <= 3600]
    (t0, n0), (t1, n1) = later[0], later[-1]
    return (n1 - n0) / (t1 - t0)


def twenty_rules() -> list[RuleChange]:
    """The example rules of ``rules/`` and variations of them on other features, 20 in all,
    each in force from the start (conditions over numbers and the payment method)."""
    from rulebook.rules import Rule, read_rule_file

    rules = [r for path in sorted(RULES_DIR.glob("*.toml")) for r in read_rule_file(path)]
    features = ("total_amount", "distance_km", "events_per_minute", "n_items", "shipment_fee")
    i = 0
    while len(rules) < 20:
        name = features[i % len(features)]
        rules.append(
            Rule(
                f"bench-{i}",
                f"{name} high, paid by e-wallet",
                f"{name} > {1000.0 * (i + 1):.1f} && payment_method in ['OVO', 'Gopay']",
                "raise" if i % 2 else "flag",
                score=0.9 if i % 2 else None,
            )
        )
        i += 1
    return [RuleChange.add(r) for r in rules]


def produce_backlog(settings: Settings, run_id: str, minutes: float) -> dict[str, Any]:
    """The run the sustained rates are measured on, produced as fast as possible."""
    scenario = load_scenario(SCENARIO, settings.scenarios_dir)
    curve: list[tuple[float, int]] = []

    def progress(sim_s: float, sent: Counter[str]) -> None:
        curve.append(
            (sim_s, sum(n for t, n in sent.items() if t.endswith((".browsing", ".transactions"))))
        )

    started = time.monotonic()
    report = asyncio.run(
        produce_run(
            Simulation(scenario, SEED, DEFAULT_START, minutes),
            DEFAULT_START,
            run_id,
            settings.bootstrap_servers,
            settings.topic_partitions,
            None,
            details=run_details(scenario.text, scenario.name, SEED, DEFAULT_START, minutes, None),
            progress=progress,
        )
    )
    return {
        "minutes": minutes,
        "events": report.delivered.get("browsing", 0) + report.delivered.get("transactions", 0),
        "seconds": round(time.monotonic() - started, 1),
        "events_per_sim_s": events_per_sim_second(curve),
    }


def the_model(spark: SparkSession, settings: Settings) -> tuple[Settings, SavedModel]:
    """The default model, or a small one trained into a temporary folder when it is missing."""
    default = REPO_ROOT / "var" / "models"
    if (default / "default" / "metadata.json").is_file():
        return settings.model_copy(update={"models_dir": default}), load_model(default, "default")
    from lab.training_runs import simulated_history
    from models.training import TrainingPlan, feature_rows, fit_and_save

    print("var/models/default is missing (make model): training a small model ...", file=sys.stderr)
    settings = settings.model_copy(update={"models_dir": settings.checkpoint_dir.parent / "models"})
    rows = {
        seed: feature_rows(
            spark, simulated_history(spark, "baseline", settings.scenarios_dir, seed, 20)
        )
        for seed in (7, 1007)
    }
    plan = TrainingPlan(
        name="small",
        scenario="baseline",
        seed=7,
        minutes=20,
        validation_seeds=(1007,),
        candidates=("xgboost",),
    )
    return settings, fit_and_save(spark, settings, plan, rows[7], rows[1007], lambda _: None)


def measure(spark: SparkSession, settings: Settings, args: argparse.Namespace) -> dict[str, Any]:
    settings, model = the_model(spark, settings)
    backlog_run = "bench-engine-backlog"
    print(
        f"producing {args.backlog_minutes:g} simulated minutes of {SCENARIO} ...", file=sys.stderr
    )
    backlog = produce_backlog(settings, backlog_run, args.backlog_minutes)
    print(
        f"  {backlog['events']:,} events in {backlog['seconds']} s "
        f"({backlog['events_per_sim_s']:.1f} events per simulated second)",
        file=sys.stderr,
    )
    if args.latency_only:
        figures: dict[str, Any] = {"scenario": SCENARIO, "backlog": backlog}
        return latency_figures(spark, settings, model, backlog, figures, LATENCY_RUNS[:1])
    constant_model = SavedModel("constant", model.folder, {**model.metadata, "name": "constant"})
    variants = [
        Variant("model", model_scorer(model), model, "bench-engine-model"),
        Variant(
            "constant", constant_scorer(CONSTANT_PROBABILITY), constant_model, "bench-engine-const"
        ),
        # the model without the location cells' state: their figures zero (engine.cell_fold)
        Variant("no location", model_scorer(model), model, "bench-engine-no-cells", cells=False),
        # the model without the inventory report's query (engine.inventory_report)
        Variant("no inventory", model_scorer(model), model, "bench-engine-no-inv", inventory=False),
        # the model without the frontier hold: each transaction scored in its arrival batch
        Variant("no hold", model_scorer(model), model, "bench-engine-no-hold", hold=False),
        # the hold without the identity check (no claims, no transaction held for its
        # conflicts), weighed against "no inventory": neither has the inventory report's query
        Variant(
            "no identity check",
            model_scorer(model),
            model,
            "bench-engine-no-identity",
            inventory=False,
            identities=False,
        ),
        # the model with 20 rules in force (rulebook.rules), decided in the same pass
        Variant("20 rules", model_scorer(model), model, "bench-engine-rules", rules=twenty_rules()),
        # every potential fraud explained (TreeSHAP) and a challenger scored beside the model:
        # the default model again, so a challenger of the champion's size
        Variant(
            "explained + challenger",
            model_scorer(model),
            model,
            "bench-engine-challenger",
            explainer=model_explainer(model, settings.explanation_top),
            challenger=model_challenger(model),
        ),
    ]
    if args.variants:
        unknown = set(args.variants) - {v.name for v in variants}
        if unknown:
            raise SystemExit(f"no variant named {', '.join(sorted(unknown))}")
        variants = [v for v in variants if v.name in args.variants]
    print("sustained rates (variants side by side) ...", file=sys.stderr)
    started = time.monotonic()
    sustained_rates(spark, settings, backlog_run, variants)
    sustained_s = time.monotonic() - started
    figures = {
        "scenario": SCENARIO,
        "model": {"name": model.name, "kind": model.metadata.get("kind"), "digest": model.digest},
        "trigger_s": SCORES_TRIGGER_S,
        "p95_batch_limit_s": BUSY * SCORES_TRIGGER_S,
        "backlog": backlog,
        "sustained_events_per_s": {v.name: v.passed for v in variants},
        "sustained_bounds": {
            v.name: {"kept_up": v.passed, "not_kept_up": v.failed, "input_ran_out": v.input_ran_out}
            for v in variants
        },
        "sustained_steps": {v.name: v.steps for v in variants},
        "first_scoring_batch_s": {v.name: round(v.first_batch_s or 0, 1) for v in variants},
        "sustained_search_s": round(sustained_s, 1),
    }
    rate = {v.name: v.passed for v in variants}

    def ratio_of(a: str, b: str) -> float | None:
        return round(rate[a] / rate[b], 3) if rate.get(a) and rate.get(b) else None

    figures["model_vs_constant_ratio"] = ratio_of("model", "constant")
    figures["hold_vs_no_hold_ratio"] = ratio_of("model", "no hold")
    figures["identity_vs_none_ratio"] = ratio_of("no inventory", "no identity check")
    figures["location_vs_none_ratio"] = ratio_of("model", "no location")
    figures["inventory_vs_none_ratio"] = ratio_of("model", "no inventory")
    figures["rules_vs_none_ratio"] = ratio_of("20 rules", "model")
    figures["explained_challenger_vs_model_ratio"] = ratio_of("explained + challenger", "model")
    pair = [v for v in variants if v.name in ("model", "constant")]
    ratio, common = processing_ratio(pair) if len(pair) == 2 else (None, [])
    figures["model_vs_constant_processing_ratio"] = ratio
    figures["processing_ratio_rates"] = common
    figures["scores_batch_cost"] = {v.name: batch_cost(v) for v in variants}
    if args.skip_latency:
        return {**figures, "latency": []}
    return latency_figures(spark, settings, model, backlog, figures, LATENCY_RUNS)


def latency_figures(
    spark: SparkSession,
    settings: Settings,
    model: SavedModel,
    backlog: dict[str, Any],
    figures: dict[str, Any],
    runs: tuple[tuple[int, float], ...],
) -> dict[str, Any]:
    """``figures`` with the latency runs at the rates of ``runs`` added."""
    figures["latency"] = []
    for target, measure_s in runs:
        speed = target / backlog["events_per_sim_s"]
        print(
            f"latency at {target:,} events/s: {SCENARIO} at k = {speed:.1f}, the engine live ...",
            file=sys.stderr,
            flush=True,
        )
        run = latency_run(
            spark,
            settings,
            model.name,
            (SCENARIO, SEED),
            speed,
            measure_s,
            webhook=target == WEBHOOK_TARGET,
        )
        figures["latency"].append({"target_events_per_s": target, **run})
        if target == HOLD_LATENCY_TARGET:
            print("  the same without the frontier hold ...", file=sys.stderr, flush=True)
            free = latency_run(
                spark, settings, model.name, (SCENARIO, SEED), speed, measure_s, hold=False
            )
            figures["hold_latency"] = {
                "target_events_per_s": target,
                "without_hold": free,
                "extra_score_latency_s": {
                    q: round(run["score_latency_s"][q] - free["score_latency_s"][q], 2)
                    for q in ("p50", "p99")
                    if run.get("score_latency_s") and free.get("score_latency_s")
                },
            }
    return figures


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument(
        "--backlog-minutes", type=float, default=1200.0, help="simulated minutes of the backlog run"
    )
    parser.add_argument("--skip-latency", action="store_true", help="the sustained rates only")
    parser.add_argument(
        "--latency-only",
        action="store_true",
        help="the latency run at 1,000 events/s only, its alerts delivered to a webhook",
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        metavar="NAME",
        help="measure only these variants (model, constant, 'no location', 'no inventory', "
        "'no hold', 'no identity check', '20 rules', 'explained + challenger'); the ratios of the "
        "others are then left out",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    started = time.monotonic()
    base = load_settings()
    with own_broker(base, "bench-engine-") as (_, _broker, settings):
        from fraudlab.spark import build_spark_session

        # every figure here is of a live engine, whose JVM starts as `fraudlab engine` starts it
        spark = build_spark_session(
            settings, "fraudlab-bench-engine", quick_start=settings.spark_live_quick_start
        )
        try:
            figures = measure(spark, settings, args)
        finally:
            spark.stop()
    if args.latency_only:
        print_latency(figures["latency"])
        if args.json:
            args.json.write_text(json.dumps(_without_nan(figures), indent=2, default=str) + "\n")
        return figures
    figures["cores"] = os.cpu_count()
    figures["jit"] = "C1 alone" if base.spark_live_quick_start else "C1 and C2"
    loads = [step["load_average_1min"] for v in figures["sustained_steps"].values() for step in v]
    loads += [run["load_average_1min"] for run in figures["latency"]]
    figures["load_average_1min"] = round(sum(loads) / max(len(loads), 1), 2)
    figures["bench_s"] = round(time.monotonic() - started, 1)
    figures["goals"] = {
        "model_vs_constant_ratio": GOAL_RATIO,
        "hold_vs_no_hold_ratio": GOAL_HOLD_RATIO,
        "p95_batch_vs_trigger": BUSY,
        "sustained_events_per_s": GOAL_EVENTS_PER_S,
        "first_scoring_batch_s": GOAL_FIRST_BATCH_S,
        "rules_vs_none_ratio": GOAL_RULES_RATIO,
        "location_vs_none_ratio": GOAL_LOCATION_RATIO,
        "inventory_vs_none_ratio": GOAL_INVENTORY_RATIO,
        "explained_challenger_vs_model_ratio": GOAL_CHALLENGER_RATIO,
    }
    _print(figures)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(_without_nan(figures), indent=2, default=str) + "\n")
    return figures


def _without_nan(value: Any) -> Any:
    """``value`` with every NaN (a figure with no sample) as None, for strict JSON readers."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _without_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_without_nan(v) for v in value]
    return value


def _rate(value: float | None) -> str:
    return f"{value:,.0f}" if value else "-"


def _print(f: dict[str, Any]) -> None:
    rates, bounds = f["sustained_events_per_s"], f["sustained_bounds"]
    print(
        f"\nengine on {f['cores']} cores (mean load average while measuring "
        f"{f['load_average_1min']}), {f['scenario']} scenario, model {f['model']['name']} "
        f"({f['model']['kind']}), JIT: {f['jit']}"
    )
    print(f"sustained events/s: trigger {f['trigger_s']:g} s, p95 batch under {BUSY:g} of it")
    for name in rates:
        b = bounds[name]
        note = (
            "the backlog ran out: at least"
            if b["input_ran_out"]
            else f"not at {_rate(b['not_kept_up'])}"
        )
        print(
            f"  {name + ' scorer':<24} {_rate(rates[name]):>8} ({note})"
            + (f" (goal {GOAL_EVENTS_PER_S:,})" if name == "model" else "")
        )
    ratio = f["model_vs_constant_ratio"]
    print(
        f"  model / constant score   {'-' if ratio is None else f'{ratio:8.2f}'} "
        f"(goal {GOAL_RATIO} or better)"
    )
    if ratio is None and f["model_vs_constant_processing_ratio"] is not None:
        rates = ", ".join(f"{r:,.0f}" for r in f["processing_ratio_rates"])
        print(
            "  neither sustained a rate tried; events per second of scoring batch time, "
            f"model / constant, at {rates} events/s offered: "
            f"{f['model_vs_constant_processing_ratio']:.2f}"
        )
    for name, cost in f["scores_batch_cost"].items():
        if cost is not None:
            print(
                f"  a scores micro-batch ({name}) took about {cost['fixed_s']:.1f} s plus "
                f"{cost['ms_per_event']:.2f} ms per event (a line through the steps' batches)"
            )
    hold = f.get("hold_vs_no_hold_ratio")
    print(
        f"  with / without the hold  {'-' if hold is None else f'{hold:8.2f}'} "
        f"(goal {GOAL_HOLD_RATIO} or better)"
    )
    identity = f.get("identity_vs_none_ratio")
    if identity is not None:
        print(f"  identity check / none    {identity:8.2f}")
    extra = (f.get("hold_latency") or {}).get("extra_score_latency_s")
    if extra:
        print(
            f"  produce-to-score latency the hold adds at {HOLD_LATENCY_TARGET:,} events/s: "
            f"p50 {extra['p50']:+.2f} s, p99 {extra['p99']:+.2f} s"
        )
    cells = f.get("location_vs_none_ratio")
    print(
        f"  location state / none    {'-' if cells is None else f'{cells:8.2f}'} "
        f"(goal {GOAL_LOCATION_RATIO} or better)"
    )
    inventory = f.get("inventory_vs_none_ratio")
    print(
        f"  inventory report / none  {'-' if inventory is None else f'{inventory:8.2f}'} "
        f"(goal {GOAL_INVENTORY_RATIO} or better)"
    )
    rules = f.get("rules_vs_none_ratio")
    print(
        f"  20 rules / none          {'-' if rules is None else f'{rules:8.2f}'} "
        f"(goal {GOAL_RULES_RATIO} or better)"
    )
    duel = f.get("explained_challenger_vs_model_ratio")
    print(
        f"  explained + challenger / model {'-' if duel is None else f'{duel:8.2f}'} "
        f"(goal {GOAL_CHALLENGER_RATIO} or better)"
    )
    first = f["first_scoring_batch_s"]
    # the variants' first micro-batches run in turn in one JVM: only the first of them meets a
    # JVM that has run no streaming query yet, as a fresh engine does (its JIT still warming up)
    print(
        "  the first scoring micro-batch, which folds in every customer profile, took "
        + ", ".join(
            f"{v:.1f} s ({k}{', in a fresh JVM' if i == 0 else ''})"
            for i, (k, v) in enumerate(first.items())
        )
        + f" (goal {GOAL_FIRST_BATCH_S:g} s, for the fresh JVM)"
    )
    print_latency(f["latency"])


if __name__ == "__main__":
    main()
