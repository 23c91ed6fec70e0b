"""The benchmark report: every benchmark's figures as one table, and the plots.

Each row is a measured rate (or time) next to the reference measured in the same script, their
ratio and its goal. ``rows`` reads the figures ``run.py`` gathers in ``results/bench.json``;
``plot`` draws throughput and latency against the input rate from the engine's figures.

>>> figures = {"simulator": {"simulator_events_per_s": 60000, "bare_simpy_timeouts_per_s":
...     240000, "ratio": 0.25, "goal": 0.3}}
>>> [(r.measure, r.ratio, r.met) for r in rows(figures)]
[('simulated events/s', 0.25, False)]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Figures = dict[str, Any]


@dataclass(frozen=True)
class Row:
    """One figure of the report: what, how much, against which reference."""

    benchmark: str
    measure: str
    value: float | None
    unit: str
    reference: str
    reference_value: float | None
    ratio: float | None
    goal: float | None = None
    higher_is_better: bool = True
    reference_unit: str | None = None  # when it is not ``unit``

    @property
    def met(self) -> bool | None:
        """Whether the ratio meets its goal (None when there is no goal or no ratio)."""
        if self.goal is None or self.ratio is None:
            return None
        return self.ratio >= self.goal if self.higher_is_better else self.ratio <= self.goal


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def _simulator(f: Figures) -> Iterator[Row]:
    yield Row(
        "simulator",
        "simulated events/s",
        f["simulator_events_per_s"],
        "events/s",
        "bare SimPy loop",
        f["bare_simpy_timeouts_per_s"],
        f["ratio"],
        f.get("goal"),
        reference_unit="timeouts/s",
    )


def _producer(f: Figures) -> Iterator[Row]:
    yield Row(
        "producer",
        "produce --fast (simulation included)",
        f["produce_fast_per_s"],
        "msg/s",
        "Kafka's Java producer perf test",
        f["java_per_s"],
        round(f["ratio"], 3),
        f.get("goal"),
    )


def _archive(f: Figures) -> Iterator[Row]:
    rates = f["rows_per_s"]
    goals = f.get("goals", {})
    yield Row(
        "archive",
        "archiver, Kafka to closed DuckDB file",
        rates["archiver"],
        "rows/s",
        "DuckDB's own insert of the same rows",
        rates["duckdb_insert"],
        f["archiver_vs_duckdb"],
        goals.get("archiver_vs_duckdb"),
    )
    yield Row(
        "archive",
        "archiver against the producer",
        rates["archiver"],
        "rows/s",
        "produce --fast",
        rates["producer"],
        f["archiver_vs_producer"],
        goals.get("archiver_vs_producer"),
    )


def _engine(f: Figures) -> Iterator[Row]:
    rates = f["sustained_events_per_s"]
    goal = f.get("goals", {}).get("model_vs_constant_ratio")
    yield Row(
        "engine",
        "sustained events/s with the model",
        rates.get("model"),
        "events/s",
        "the same engine, constant score",
        rates.get("constant"),
        f.get("model_vs_constant_ratio"),
        goal,
    )
    if f.get("model_vs_constant_ratio") is None and f.get("model_vs_constant_processing_ratio"):
        yield Row(
            "engine",
            "scoring throughput with the model",
            None,
            "events/s",
            "the same engine, constant score",
            None,
            f["model_vs_constant_processing_ratio"],
            goal,
        )
    goals = f.get("goals", {})
    if "no hold" in rates:
        yield Row(
            "engine",
            "sustained events/s with the frontier hold",
            rates.get("model"),
            "events/s",
            "the same engine without the hold",
            rates.get("no hold"),
            f.get("hold_vs_no_hold_ratio"),
            goals.get("hold_vs_no_hold_ratio"),
        )
    if "20 rules" in rates:
        yield Row(
            "engine",
            "sustained events/s with 20 rules in force",
            rates.get("20 rules"),
            "events/s",
            "the same engine without rules",
            rates.get("model"),
            f.get("rules_vs_none_ratio"),
            goals.get("rules_vs_none_ratio"),
        )
    if "explained + challenger" in rates:
        yield Row(
            "engine",
            "sustained events/s, potential frauds explained and a challenger scored beside",
            rates.get("explained + challenger"),
            "events/s",
            "the same engine with the model alone",
            rates.get("model"),
            f.get("explained_challenger_vs_model_ratio"),
            goals.get("explained_challenger_vs_model_ratio"),
        )
    if rates.get("model") and goals.get("sustained_events_per_s"):
        yield Row(
            "engine",
            "sustained events/s with the model, against its goal",
            rates["model"],
            "events/s",
            "goal",
            goals["sustained_events_per_s"],
            _ratio(rates["model"], goals["sustained_events_per_s"]),
            1.0,
        )
    first = f.get("first_scoring_batch_s", {}).get("model")
    if first is not None and goals.get("first_scoring_batch_s"):
        yield Row(
            "engine",
            "first scoring micro-batch (every customer profile, fresh JVM)",
            first,
            "s",
            "goal",
            goals["first_scoring_batch_s"],
            _ratio(first, goals["first_scoring_batch_s"]),
            1.0,
            higher_is_better=False,
        )
    for run in f.get("latency", []):
        target = run["target_events_per_s"]
        floor = run["alert_wait_floor_s"]["p50"]
        for q in ("p50", "p99"):
            yield Row(
                "engine",
                f"produce-to-alert {q} at {target:,} events/s"
                + ("" if run["kept_up"] else " (fell behind)"),
                run["alert_latency_s"][q],
                "s",
                "window end + 2 min watermark (p50)",
                floor,
                _ratio(run["alert_latency_s"][q], floor),
                None,
                higher_is_better=False,
            )
    for run in f.get("latency", []):
        if "alert_to_webhook_ms" not in run:
            continue
        target = run["target_events_per_s"]
        yield Row(
            "engine",
            f"alert-to-webhook p99 at {target:,} events/s (delivery part, local webhook)",
            run["alert_to_webhook_ms"]["p99"],
            "ms",
            "alert-to-webhook p50",
            run["alert_to_webhook_ms"]["p50"],
            _ratio(run["alert_to_webhook_ms"]["p99"], run["alert_to_webhook_ms"]["p50"]),
            None,
            higher_is_better=False,
        )
        yield Row(
            "engine",
            f"produce-to-webhook p99 at {target:,} events/s",
            run["produce_to_webhook_s"]["p99"],
            "s",
            "produce-to-alert p99 (the fraud-alerts topic)",
            run["alert_latency_s"]["p99"],
            _ratio(run["produce_to_webhook_s"]["p99"], run["alert_latency_s"]["p99"]),
            None,
            higher_is_better=False,
        )
    hold = f.get("hold_latency") or {}
    free = hold.get("without_hold") or {}
    with_hold = next(
        (
            r
            for r in f.get("latency", [])
            if r["target_events_per_s"] == hold.get("target_events_per_s")
        ),
        None,
    )
    if with_hold and free.get("score_latency_s"):
        for q in ("p50", "p99"):
            yield Row(
                "engine",
                f"produce-to-score {q} at {hold['target_events_per_s']:,} events/s, with the hold",
                with_hold["score_latency_s"][q],
                "s",
                "the same without the hold",
                free["score_latency_s"][q],
                _ratio(with_hold["score_latency_s"][q], free["score_latency_s"][q]),
                None,
                higher_is_better=False,
            )


def _replay(f: Figures) -> Iterator[Row]:
    yield Row(
        "replay",
        "replay --fast",
        f["fast"]["per_s"],
        "msg/s",
        "produce --fast of the same run",
        f["source"]["produce_fast_per_s"],
        round(f["fast_ratio"], 3),
        None,
    )
    for p in f["paced"]:
        yield Row(
            "replay",
            f"replay at k={p['speed']:g}, speed reached",
            p["achieved"],
            "x",
            "the speed asked for",
            p["speed"],
            round(p["ratio"], 4),
            0.98,
        )


def _viz(f: Figures) -> Iterator[Row]:
    yield Row(
        "viz",
        f"/replay of {f['events']:,} events, until drawn",
        f["replay_load_s"],
        "s",
        "/replay of an empty run",
        f["replay_load_empty_run_s"],
        f["replay_load_vs_empty_run_ratio"],
        None,
        higher_is_better=False,
    )
    yield Row(
        "viz",
        f"/live callback p95 at {f['live_events_per_s']:,} events/s",
        f["live_callback_ms"]["p95"],
        "ms",
        "its period",
        f["live_period_ms"],
        f["live_callback_p95_vs_period_ratio"],
        f.get("goals", {}).get("live_callback_p95_vs_period_ratio"),
        higher_is_better=False,
    )


def _first_batch(f: Figures) -> Iterator[Row]:
    """A fresh engine's first micro-batch against the same batch in a warmed JVM: the ratio is
    what the JVM's warm-up multiplies it by (``bench_first_batch.py``).

    >>> f = {"profiles": 8100, "first_batch_s": {"200": {"cold_s": 4.9, "warm_s": 2.45}}}
    >>> [(r.measure, r.ratio) for r in _first_batch(f)]
    [('first scoring micro-batch, 8,100 profiles + 200 events, fresh JVM', 2.0)]
    """
    for events, m in f["first_batch_s"].items():
        yield Row(
            "first_batch",
            f"first scoring micro-batch, {f['profiles']:,} profiles + {int(events):,} events, "
            "fresh JVM",
            m["cold_s"],
            "s",
            "the same batch again, warmed JVM",
            m["warm_s"],
            _ratio(m["cold_s"], m["warm_s"]),
            None,
            higher_is_better=False,
        )


def _first_alert(f: Figures) -> Iterator[Row]:
    """The wait from ``fraudlab run`` to the first fraud-alerts message against the floor the
    pace sets (``bench_first_alert.py``).

    >>> f = {"with_class_archives": {"median_s": 20.0, "floor_s": 8.0}}
    >>> [(r.measure, r.ratio) for r in _first_alert(f)]
    [('first alert of a run at 20x, with class archives', 2.5)]
    """
    for label in ("with_class_archives", "cold"):
        if label in f:
            m = f[label]
            yield Row(
                "first_alert",
                f"first alert of a run at 20x, {label.replace('_', ' ')}",
                m["median_s"],
                "s",
                "the pace's floor (first window's end + 2 min, / speed)",
                m["floor_s"],
                _ratio(m["median_s"], m["floor_s"]),
                None,
                higher_is_better=False,
            )


def _challenger(f: Figures) -> Iterator[Row]:
    """Average precision of a challenger trained on two archived runs, on held-out seed 101 of
    every scenario, against the default model's (the ratio of their means over scenarios)."""
    challenger = [s["models"]["challenger"]["ALL"]["average_precision"] for s in f["scenarios"]]
    default = [s["models"]["default"]["ALL"]["average_precision"] for s in f["scenarios"]]
    if not challenger:
        return
    mean_c, mean_d = sum(challenger) / len(challenger), sum(default) / len(default)
    yield Row(
        "challenger",
        "mean average precision over scenarios, held-out seed 101",
        mean_c,
        "",
        "the default model",
        mean_d,
        _ratio(mean_c, mean_d),
    )


ROWS: dict[str, Callable[[Figures], Iterator[Row]]] = {
    "simulator": _simulator,
    "producer": _producer,
    "archive": _archive,
    "engine": _engine,
    "first_batch": _first_batch,
    "first_alert": _first_alert,
    "replay": _replay,
    "viz": _viz,
    "challenger": _challenger,
}


def rows(benchmarks: dict[str, Figures]) -> list[Row]:
    """The report's rows for the benchmarks that have figures, in the order of :data:`ROWS`."""
    out: list[Row] = []
    for name, make in ROWS.items():
        if name in benchmarks:
            out.extend(make(benchmarks[name]))
    return out


def _number(value: float | None, unit: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{text} {unit}".rstrip()


def table(report_rows: list[Row], cores: int | None) -> str:
    """The rows as a fixed-width table for the terminal."""
    head = ("benchmark", "measure", "value", "reference", "ref. value", "ratio", "goal")
    lines = [
        (
            r.benchmark,
            r.measure,
            _number(r.value, r.unit),
            r.reference,
            _number(r.reference_value, r.reference_unit or r.unit),
            "-" if r.ratio is None else f"{r.ratio:.3g}",
            "-"
            if r.goal is None
            else f"{'>=' if r.higher_is_better else '<='} {r.goal:g} "
            + {True: "met", False: "NOT met", None: ""}[r.met],
        )
        for r in report_rows
    ]
    widths = [max(len(str(c)) for c in col) for col in zip(head, *lines, strict=False)]
    fmt = "  ".join(f"{{:<{w}}}" if i < 2 or i == 3 else f"{{:>{w}}}" for i, w in enumerate(widths))
    text = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    text.extend(fmt.format(*line) for line in lines)
    text.append(f"(on {cores} cores; ratios are against the reference measured in the same run)")
    return "\n".join(text)


def plot(benchmarks: dict[str, Figures], cores: int | None, path: Path) -> Path | None:
    """Throughput and latency against the input rate, from the engine's figures; None when
    there are none."""
    engine = benchmarks.get("engine")
    if engine is None:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (through, late) = plt.subplots(1, 2, figsize=(12, 4.6))
    top = 0.0
    for name, steps in engine.get("sustained_steps", {}).items():
        points = sorted(
            (s["rate"], s["scoring"]["processed_per_s"], s["kept_up"])
            for s in steps
            if s["scoring"]["batches"]
        )
        if not points:
            continue
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        top = max(top, *xs, *ys)
        (line,) = through.plot(xs, ys, marker="o", label=f"engine, {name} scorer")
        kept = [(x, y) for x, y, k in points if k]
        if kept:
            through.scatter(*zip(*kept, strict=True), s=90, facecolors="none",
                            edgecolors=line.get_color())  # fmt: skip
    if top:
        through.plot([0, top], [0, top], ls=":", color="grey", label="processing = input")
    through.set_xlabel("input rate offered (events/s per trigger)")
    through.set_ylabel("events processed per second of batch time")
    through.set_title("engine throughput (circled: kept up)")
    through.legend(fontsize=8)
    runs = engine.get("latency", [])
    if runs:
        xs = [r["achieved_events_per_s"] for r in runs]
        for key, label in (("score_latency_s", "to its score"), ("alert_latency_s", "to alert")):
            for q, style in (("p50", "-o"), ("p99", "--s")):
                late.plot(xs, [r[key][q] for r in runs], style, label=f"{label}, {q}")
        late.plot(xs, [r["alert_wait_floor_s"]["p50"] for r in runs], ":", color="grey",
                  label="window end + watermark (p50)")  # fmt: skip
        late.set_xscale("log")
        late.set_yscale("log")
    late.set_xlabel("input rate (events/s)")
    late.set_ylabel("seconds from a transaction's arrival in Kafka")
    late.set_title("engine latency, live")
    late.legend(fontsize=8)
    fig.suptitle(f"fraudlab engine on {cores} cores")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
