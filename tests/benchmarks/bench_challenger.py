"""Benchmark of the model loop: a challenger trained on archived runs against the default model.

Two scenario runs are played end to end as a user plays them (``fraudlab run SCENARIO --fast``,
each part a process of its own, on a broker of this script's own in a temporary folder), then
``fraudlab train --name challenger --runs A,B`` trains a model on their archives. Both the
default model (``var/models/default``, the reference) and the challenger then score held-out
seed 101 of every named scenario (its own horizon, at most :data:`MAX_MINUTES` simulated
minutes), through the batch path that ``fraudlab evaluate`` uses, and one table gives per
scenario and pattern, for each model: average precision (the pattern's frauds ranked against
every legitimate transaction of the scenario, scikit-learn's ``average_precision_score``), and
precision and recall at the model's own threshold.

Run: ``.venv/bin/python tests/benchmarks/bench_challenger.py [--json PATH]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))
sys.path.insert(0, str(HERE))  # own_broker, next to this script

from own_broker import own_broker  # noqa: E402

from fraudlab.settings import Settings, load_settings  # noqa: E402

# (scenario, seed, minutes or None for its own horizon): the runs the challenger learns from
TRAINING_RUNS = (("history", 11, 60.0), ("regional-fraud-ring", 12, None))
HELD_OUT_SEED = 101
MAX_MINUTES = 60.0
CHALLENGER = "challenger"


def _fraudlab(settings: Settings, *args: str) -> None:
    """Run ``fraudlab ARGS`` in a process of its own against this script's broker and folders;
    its output goes to stderr, a failure ends the benchmark."""
    env = {
        **os.environ,
        "FRAUDLAB_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "FRAUDLAB_ARCHIVE_DIR": str(settings.archive_dir),
        "FRAUDLAB_CHECKPOINT_DIR": str(settings.checkpoint_dir),
        "FRAUDLAB_LOGS_DIR": str(settings.logs_dir),
        "FRAUDLAB_MODELS_DIR": str(settings.models_dir),
    }
    started = time.monotonic()
    print(f"fraudlab {' '.join(args)} ...", file=sys.stderr, flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "lab.cli", *args],
        env=env,
        stdout=sys.stderr,
        stderr=sys.stderr,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"fraudlab {' '.join(args)} failed with exit code {done.returncode}")
    print(f"  done in {time.monotonic() - started:.0f} s", file=sys.stderr, flush=True)


def pattern_figures(
    probabilities: np.ndarray, labels: np.ndarray, patterns: np.ndarray, threshold: float
) -> dict[str, dict[str, float | int | None]]:
    """Per fraud pattern (and ``ALL``): frauds, average precision against every legitimate
    transaction, precision and recall at ``threshold``."""
    from sklearn.metrics import average_precision_score

    flagged = probabilities >= threshold
    legitimate = labels == 0
    out: dict[str, dict[str, float | int | None]] = {}
    names = sorted({str(p) for p, y in zip(patterns, labels, strict=True) if y == 1})
    for name in [*names, "ALL"]:
        frauds = (labels == 1) if name == "ALL" else (labels == 1) & (patterns == name)
        mine = flagged & (frauds | legitimate) if name == "ALL" else flagged & frauds
        chosen = frauds | legitimate
        # a pattern's precision: its frauds flagged against every legitimate transaction flagged
        hits = int((flagged & frauds).sum())
        false = int((flagged & legitimate).sum())
        ap = average_precision_score(frauds[chosen], probabilities[chosen])
        out[name] = {
            "frauds": int(frauds.sum()),
            "average_precision": round(float(ap), 4),
            "precision": round(hits / (hits + false), 4) if hits + false else None,
            "recall": round(hits / int(frauds.sum()), 4),
            "flagged": int(mine.sum()),
        }
    return out


def held_out(spark: Any, settings: Settings, models: dict[str, Any]) -> list[dict[str, Any]]:
    """Both models on held-out seed :data:`HELD_OUT_SEED` of every scenario."""
    from lab.training_runs import simulated_history
    from models.training import feature_rows, probabilities
    from simulator.scenario import list_scenarios

    rows_out = []
    for scenario in list_scenarios(settings.scenarios_dir):
        name = scenario.name
        minutes = min(scenario.minutes, MAX_MINUTES)
        started = time.monotonic()
        history = simulated_history(spark, name, settings.scenarios_dir, HELD_OUT_SEED, minutes)
        rows = feature_rows(spark, history)
        figures: dict[str, Any] = {"scenario": name, "minutes": minutes, "models": {}}
        for label, model in models.items():
            scored = probabilities(model, rows)
            figures["models"][label] = pattern_figures(
                scored["fraud_probability"].to_numpy(dtype=np.float64),
                scored["label"].to_numpy(dtype=np.int64),
                scored["pattern"].fillna("").astype(str).to_numpy(),
                model.threshold,
            )
        print(
            f"  {name} (seed {HELD_OUT_SEED}, {minutes:g} min, {len(rows):,} transactions) "
            f"in {time.monotonic() - started:.0f} s",
            file=sys.stderr,
            flush=True,
        )
        rows_out.append(figures)
    return rows_out


def table(results: list[dict[str, Any]]) -> list[str]:
    """One line per scenario and pattern: each figure as default -> challenger."""

    def fig(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    header = ("SCENARIO", "PATTERN", "FRAUDS", "AP", "PRECISION", "RECALL")
    lines = [header]
    for r in results:
        default, challenger = r["models"]["default"], r["models"][CHALLENGER]
        for pattern, a in default.items():
            b = challenger[pattern]
            lines.append(
                (
                    r["scenario"],
                    pattern,
                    str(a["frauds"]),
                    f"{fig(a['average_precision'])} -> {fig(b['average_precision'])}",
                    f"{fig(a['precision'])} -> {fig(b['precision'])}",
                    f"{fig(a['recall'])} -> {fig(b['recall'])}",
                )
            )
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    return ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in lines]


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    started = time.monotonic()
    base = load_settings()
    from models.registry import load_model

    default = load_model(base.models_dir, "default")
    with own_broker(base, "bench-challenger-") as (folder, _broker, settings):
        settings = settings.model_copy(
            update={"logs_dir": folder / "logs", "models_dir": folder / "models"}
        )
        shutil.copytree(default.folder, settings.models_dir / "default")
        run_ids = []
        for scenario, seed, minutes in TRAINING_RUNS:
            run_id = f"bench-{scenario}-{seed}"
            span = [] if minutes is None else ["--minutes", f"{minutes:g}"]
            _fraudlab(
                settings, "run", scenario, "--fast", "--seed", str(seed), *span,
                "--run-id", run_id,
            )  # fmt: skip
            run_ids.append(run_id)
        _fraudlab(settings, "train", "--name", CHALLENGER, "--runs", ",".join(run_ids))
        from fraudlab.spark import build_spark_session

        models = {
            "default": load_model(settings.models_dir, "default"),
            CHALLENGER: load_model(settings.models_dir, CHALLENGER),
        }
        print(f"both models on held-out seed {HELD_OUT_SEED} ...", file=sys.stderr, flush=True)
        spark = build_spark_session(settings, "fraudlab-bench-challenger")
        try:
            results = held_out(spark, settings, models)
        finally:
            spark.stop()
    figures = {
        "training_runs": [
            {"scenario": s, "seed": seed, "minutes": m} for s, seed, m in TRAINING_RUNS
        ],
        "held_out_seed": HELD_OUT_SEED,
        "reference": {"name": "default", "digest": default.digest},
        "challenger": {
            "digest": models[CHALLENGER].digest,
            "threshold": models[CHALLENGER].threshold,
        },
        "scenarios": results,
        "bench_s": round(time.monotonic() - started, 1),
    }
    for line in table(results):
        print(line)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return figures


if __name__ == "__main__":
    main()
