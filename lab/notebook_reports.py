"""An archived run's report and a comparison of two runs, for a notebook.

Both come from the functions ``fraudlab report`` and ``fraudlab compare`` call
(:mod:`archive.commands`, :mod:`replay.commands`): the report as the JSON object
``fraudlab report RUN --json`` prints, the per-pattern detection and the comparison as pandas
DataFrames.

>>> from replay.compare import AlertOverlap, PairComparison, PatternDelta
>>> pair = PairComparison("a", "b", AlertOverlap(3, 1, 0, 0.75),
...                       (PatternDelta("ato", 0.5, 0.75, 0.25),))
>>> frame = comparison_frame(pair, {"ato": 40}, {"ato": 20})
>>> frame.to_dict("list")["seconds_to_flag_b"], frame.attrs["overlap"]["jaccard"]
([20], 0.75)
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd

from archive.challenger_quality import challenger_comparison
from archive.delivery_log import sink_deliveries
from archive.files import reading
from archive.forecast_quality import forecast_quality
from archive.quality import PatternQuality, detection_quality
from archive.reader import run_summary
from replay.compare import PairComparison, compare_runs, run_figures

__all__ = [
    "COMPARISON_COLUMNS",
    "PATTERN_COLUMNS",
    "compare_archived",
    "comparison_frame",
    "pattern_frame",
    "run_report",
]

PATTERN_COLUMNS = tuple(PatternQuality.__dataclass_fields__)
COMPARISON_COLUMNS = (
    "pattern",
    "recall_a",
    "recall_b",
    "delta",
    "seconds_to_flag_a",
    "seconds_to_flag_b",
)


def run_report(archive_dir: Path, run_id: str) -> dict[str, Any]:
    """The report of an archived run, as ``fraudlab report RUN --json`` prints it: the run's
    summary (metadata, status, counts, ``precision``, ``recall``), ``quality`` (detection
    against ground truth), ``per_pattern`` (one object per fraud pattern), ``deliveries`` (per
    alert sink), ``challenger`` (None without one) and ``forecast`` (the demand forecast's error,
    :mod:`archive.forecast_quality`; None without one). UsageError, in one sentence, for a run
    that is not archived; RunIsLive while its archiver holds it."""
    with reading(archive_dir, run_id) as con:
        summary = run_summary(con)
        quality = detection_quality(con)
        deliveries = sink_deliveries(con)
        challenger = challenger_comparison(con)
        forecast = forecast_quality(con)
    out = summary.to_dict()
    out["quality"] = {k: v for k, v in asdict(quality).items() if k != "per_pattern"}
    out["per_pattern"] = [asdict(p) for p in quality.per_pattern]
    out["deliveries"] = [asdict(d) for d in deliveries]
    out["challenger"] = None if challenger is None else challenger.to_dict()
    out["forecast"] = None if forecast is None else forecast.to_dict()
    # the very values the command prints: JSON's types (lists, not tuples)
    parsed: dict[str, Any] = json.loads(json.dumps(out))
    return parsed


def pattern_frame(report: Mapping[str, Any]) -> pd.DataFrame:
    """A report's detection per fraud pattern, one row per pattern (``""``: unlabelled
    legitimate traffic): ``transactions``, ``frauds``, ``scored``, ``flagged`` and
    ``true_positives`` (counts), ``precision`` and ``recall`` (0-1, NaN without a
    denominator), ``first_fraud_ts``, ``first_flag_ts``, ``first_alert_ts`` (Unix s, event
    time), ``seconds_to_flag`` and ``seconds_to_alert`` (event-time seconds from the pattern's
    first fraud to its first flag and its first listing in a 10 s report)."""
    rows = list(report.get("per_pattern", []))
    return pd.DataFrame(rows, columns=list(PATTERN_COLUMNS))


def comparison_frame(
    pair: PairComparison, to_flag_a: Mapping[str, int | None], to_flag_b: Mapping[str, int | None]
) -> pd.DataFrame:
    """The compare command's table of two runs: one row per pattern with ``recall_a``,
    ``recall_b`` (0-1), ``delta`` (B's minus A's) and ``seconds_to_flag_a``/``_b`` (event-time
    seconds from the pattern's first fraud to its first flag). ``frame.attrs["overlap"]``
    holds the alert overlap: ``both``, ``only_a``, ``only_b`` (alerted transactions) and
    ``jaccard`` (0-1)."""
    rows = [
        {
            "pattern": d.pattern,
            "recall_a": d.recall_a,
            "recall_b": d.recall_b,
            "delta": d.delta,
            "seconds_to_flag_a": to_flag_a.get(d.pattern),
            "seconds_to_flag_b": to_flag_b.get(d.pattern),
        }
        for d in pair.patterns
    ]
    frame = pd.DataFrame(rows, columns=list(COMPARISON_COLUMNS))
    frame.attrs["runs"] = (pair.a, pair.b)
    frame.attrs["overlap"] = asdict(pair.overlap)
    return frame


def compare_archived(archive_dir: Path, run_a: str, run_b: str) -> pd.DataFrame:
    """Run A and run B compared as ``fraudlab compare A B`` compares them (see
    :func:`comparison_frame`); both must be archived."""
    figures = []
    for run_id in (run_a, run_b):
        with reading(archive_dir, run_id) as con:
            figures.append(run_figures(con))
    comparison = compare_runs(figures)
    (pair,) = comparison.pairs
    a, b = comparison.runs
    return comparison_frame(
        pair,
        {p.pattern: p.seconds_to_flag for p in a.per_pattern},
        {p.pattern: p.seconds_to_flag for p in b.per_pattern},
    )
