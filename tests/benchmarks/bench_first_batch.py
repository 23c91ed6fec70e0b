"""Benchmark of a fresh engine's first scoring micro-batch: the JVM's warm-up apart from the
batch's own work.

A fresh engine's first micro-batch folds in every customer profile there is, with the events
its ``maxOffsetsPerTrigger`` lets in beside them. The engine benchmark times it once, with
20,000 events (a full micro-batch at its starting rate of 2,000 events/s), in a JVM that has
run no streaming query yet. This one tells the two costs apart. For each count of events in
:data:`EVENTS`, a new process (a fresh Python and a fresh JVM, started as a live ``fraudlab
engine`` starts its own: both JIT tiers, or C1 alone when ``spark_live_quick_start`` is on)
builds the engine's SparkSession, starts the Python workers with the model, and times:

- **cold**: the first micro-batch of the engine's scoring query, the JVM's first;
- **warm**, the reference, in the same process: the same batch again, read by a second scoring
  query with checkpoints and result topics of its own (state folded from nothing, as the first).

Warm is what the batch itself costs; cold minus warm is what a fresh JVM adds (class loading,
the JIT compiling Spark's code paths, the first Kafka consumers and state stores). Every count
runs :data:`REPEATS` times, each in its own process; the figures are the medians. One broker
of its own (a temporary folder, a free port) holds :data:`BACKLOG_MINUTES` simulated minutes
of the ``history`` scenario, produced once; the model is ``var/models/default`` (a small one is
trained when it is missing, as the engine benchmark does).

Run: ``.venv/bin/python tests/benchmarks/bench_first_batch.py [--json PATH]``; the plot (cold
and warm seconds against the events in the batch, with the 5 s goal) is written next to the
JSON, or to ``results/first_batch.png``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))  # the engine benchmark, next to this script

from bench_engine import GOAL_FIRST_BATCH_S, produce_backlog, the_model  # noqa: E402
from engine_sustained import Variant, first_batch, variant_topics  # noqa: E402

from engine import job, report_queries  # noqa: E402
from engine.frontier import frontier_topic  # noqa: E402
from engine.scoring import model_scorer, start_python_workers  # noqa: E402
from fraudlab.broker import LocalBroker  # noqa: E402
from fraudlab.kafka_io import create_topics  # noqa: E402
from fraudlab.net import free_port  # noqa: E402
from fraudlab.settings import REPO_ROOT, Settings, load_settings  # noqa: E402
from fraudlab.topics import topic_name  # noqa: E402
from models.registry import load_model  # noqa: E402

# events beside every profile in the first micro-batch: a trickle, a quarter, and the engine
# benchmark's first batch (its starting rate x the 10 s trigger)
EVENTS = (200, 5_000, 20_000)
REPEATS = 2
BACKLOG_MINUTES = 30.0  # about 127,000 events and 8,100 customer profiles
BACKLOG_RUN = "bench-first-batch-backlog"
CHILD_LIMIT_S = 600.0


def child_settings(base: Settings, bootstrap: str, folder: Path, models_dir: Path) -> Settings:
    """The engine's settings against the benchmark's broker, with folders of the process's own."""
    return base.model_copy(
        update={
            "bootstrap_servers": bootstrap,
            "checkpoint_dir": folder / "checkpoints",
            "archive_dir": folder / "archive",
            "models_dir": models_dir,
            "spark_ui": False,
        }
    )


def measure_in_fresh_jvm(
    bootstrap: str, models_dir: Path, model_name: str, events: int, tag: str
) -> dict[str, Any]:
    """In this process (which must not have started a JVM yet): the session, the Python
    workers, then the first micro-batch with ``events`` events, cold and then warm."""
    from fraudlab.spark import build_spark_session

    with tempfile.TemporaryDirectory(prefix="fraudlab-first-batch-") as tmp:
        folder = Path(tmp)
        os.environ.setdefault("SPARK_LOCAL_DIRS", str(folder / "spark"))
        settings = child_settings(load_settings(), bootstrap, folder, models_dir)
        started = time.monotonic()
        spark = build_spark_session(
            settings, "fraudlab-bench-first-batch", quick_start=settings.spark_live_quick_start
        )
        session_s = time.monotonic() - started
        try:
            model = load_model(models_dir, model_name)
            scorer = model_scorer(model)
            started = time.monotonic()
            start_python_workers(spark, scorer)
            workers_s = time.monotonic() - started
            products = report_queries.read_products(
                spark, bootstrap, job.prepare_topics(BACKLOG_RUN)["product"]
            )
            timed: dict[str, tuple[float, int]] = {}
            for phase in ("cold", "warm"):
                variant = Variant("model", scorer, model, f"bench-first-{tag}-{phase}")
                results = [topic_name(variant.results_run, s) for s in job.RESULT_STREAMS]
                asyncio.run(create_topics(bootstrap, results, settings.topic_partitions))
                asyncio.run(create_topics(bootstrap, [frontier_topic(variant.results_run)], 1))
                topics = variant_topics(BACKLOG_RUN, variant.results_run)
                timed[phase] = first_batch(spark, settings, topics, variant, products, events)
        finally:
            spark.stop()
    return {
        "events": events,
        "input_rows": timed["cold"][1],
        "session_s": round(session_s, 2),
        "workers_s": round(workers_s, 2),
        "cold_s": round(timed["cold"][0], 2),
        "warm_s": round(timed["warm"][0], 2),
    }


def run_child(args: list[str]) -> dict[str, Any]:
    """This script in a new process with ``args``; the one JSON line it prints."""
    done = subprocess.run(
        [sys.executable, str(Path(__file__).resolve()), *args],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        timeout=CHILD_LIMIT_S,
        check=False,
    )
    lines = done.stdout.decode().strip().splitlines()
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"a measuring process ({' '.join(args)}) failed: exit {done.returncode}")
    return json.loads(lines[-1])


def prepared_model(bootstrap: str, folder: Path) -> tuple[Path, str]:
    """(models folder, model name): the default model, or a small one trained in a process of
    its own when it is missing (so that no measuring JVM has trained anything)."""
    default = REPO_ROOT / "var" / "models"
    if (default / "default" / "metadata.json").is_file():
        return default, "default"
    made = run_child(["--train", str(folder), "--bootstrap", bootstrap])
    return Path(made["models_dir"]), made["model"]


def train_small_model(folder: Path, bootstrap: str) -> dict[str, str]:
    from fraudlab.spark import build_spark_session

    settings = child_settings(load_settings(), bootstrap, folder, folder / "models")
    spark = build_spark_session(settings, "fraudlab-bench-first-batch-model")
    try:
        settings, model = the_model(spark, settings)
    finally:
        spark.stop()
    return {"models_dir": str(settings.models_dir), "model": model.name}


def summarise(runs: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Per count of events: the medians of the repeats."""
    out: dict[str, dict[str, float]] = {}
    for events in sorted({r["events"] for r in runs}):
        mine = [r for r in runs if r["events"] == events]
        out[str(events)] = {
            key: round(statistics.median(r[key] for r in mine), 2)
            for key in ("input_rows", "session_s", "workers_s", "cold_s", "warm_s")
        }
    return out


def plot(figures: dict[str, Any], path: Path) -> Path:
    """Cold and warm first micro-batch seconds against the events beside the profiles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    medians = figures["first_batch_s"]
    xs = [int(k) for k in medians]
    fig, ax = plt.subplots(figsize=(7, 4.4))
    for key, label, marker in (("cold_s", "fresh JVM (cold)", "o"), ("warm_s", "warmed JVM", "s")):
        ax.plot(xs, [medians[str(x)][key] for x in xs], marker=marker, label=label)
        points = [(r["events"], r[key]) for r in figures["runs"]]
        ax.scatter(*zip(*points, strict=True), s=10, alpha=0.4)
    ax.axhline(figures["goal_s"], ls="--", color="grey", label=f"goal {figures['goal_s']:g} s")
    ax.set_xlabel(f"events in the first micro-batch, beside {figures['profiles']:,} profiles")
    ax.set_ylabel("first scoring micro-batch, s")
    ax.set_ylim(bottom=0)
    ax.set_title(f"a fresh engine's first micro-batch ({figures['cores']} cores, {figures['jit']})")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, help="write the figures here")
    # the measuring processes this script starts
    parser.add_argument("--child", type=int, metavar="EVENTS", help=argparse.SUPPRESS)
    parser.add_argument("--train", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--bootstrap", help=argparse.SUPPRESS)
    parser.add_argument("--models-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--model", help=argparse.SUPPRESS)
    parser.add_argument("--tag", default="0", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.train is not None:
        print(json.dumps(train_small_model(args.train, args.bootstrap)))
        return None
    if args.child is not None:
        figures = measure_in_fresh_jvm(
            args.bootstrap, args.models_dir, args.model, args.child, args.tag
        )
        print(json.dumps(figures))
        return None

    base = load_settings()
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="fraudlab-bench-first-batch-") as tmp:
        folder = Path(tmp)
        broker = LocalBroker(folder / "kafka", free_port(), base.jvm_lib_dir, heap="1g")
        broker.up()
        try:
            settings = base.model_copy(update={"bootstrap_servers": broker.bootstrap})
            print(f"producing {BACKLOG_MINUTES:g} simulated minutes of history ...", flush=True)
            backlog = produce_backlog(settings, BACKLOG_RUN, BACKLOG_MINUTES)
            print(f"  {backlog['events']:,} events in {backlog['seconds']} s", flush=True)
            models_dir, model_name = prepared_model(broker.bootstrap, folder)
            runs = []
            for repeat in range(REPEATS):
                for events in EVENTS:
                    run = run_child(
                        [
                            "--child", str(events), "--bootstrap", broker.bootstrap,
                            "--models-dir", str(models_dir), "--model", model_name,
                            "--tag", f"{events}-{repeat}",
                        ]
                    )  # fmt: skip
                    runs.append(run)
                    print(
                        f"  {events:>6,} events + profiles ({run['input_rows']:,} rows): "
                        f"cold {run['cold_s']:.2f} s, warm {run['warm_s']:.2f} s "
                        f"(session {run['session_s']:.1f} s, workers {run['workers_s']:.1f} s)",
                        flush=True,
                    )
        finally:
            broker.down()
    medians = summarise(runs)
    figures: dict[str, Any] = {
        "scenario": "history",
        "backlog": backlog,
        "profiles": int(runs[0]["input_rows"] - runs[0]["events"]),
        "model": model_name,
        "runs": runs,
        "first_batch_s": medians,
        "goal_s": GOAL_FIRST_BATCH_S,
        "cores": os.cpu_count(),
        "jit": "C1 alone" if base.spark_live_quick_start else "C1 and C2",
        "bench_s": round(time.monotonic() - started, 1),
    }
    print(
        f"\na fresh engine's first micro-batch, {figures['profiles']:,} customer profiles beside "
        f"the events, medians of {REPEATS} processes each ({figures['cores']} cores, JIT: "
        f"{figures['jit']}):"
    )
    print(f"  {'events':>7}  {'fresh JVM':>9}  {'warmed JVM':>10}  {'JVM warm-up':>11}")
    for events, m in medians.items():
        print(
            f"  {int(events):>7,}  {m['cold_s']:>8.2f}s  {m['warm_s']:>9.2f}s  "
            f"{m['cold_s'] - m['warm_s']:>10.2f}s" + ("  (goal 5 s)" if events == "20000" else "")
        )
    out = args.json or REPO_ROOT / "results" / "first_batch.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    drawn = plot(figures, out.with_suffix(".png"))
    print(f"plot: {drawn}")
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    main()
