"""Comparing archived runs: detection per run, alert overlap per pair, aligned alert timelines.

Per run: events, transactions, alerts (distinct transactions the fraud-alerts reports listed),
precision and recall overall and per pattern, time to detect per pattern (see
:mod:`archive.quality`). Per pair of runs: the overlap of their alerted transactions (Jaccard,
with how many only one of them alerted) and each pattern's recall side by side. Timelines of
flagged transactions per 10 s of event time are aligned on each run's first event, so runs that
started at different times line up.

The comparison itself is plain functions over sets and numbers; only :func:`run_figures` reads
an archive.

>>> overlap = alert_overlap({"t1", "t2", "t3"}, {"t2", "t3", "t4"})
>>> (overlap.both, overlap.only_a, overlap.only_b, overlap.jaccard)
(2, 1, 1, 0.5)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb

from archive.aggregates import potential_frauds
from archive.challenger_quality import ChallengerComparison, challenger_comparison
from archive.quality import PatternQuality, detection_quality
from archive.reader import run_summary
from archive.rule_quality import RuleQuality, rule_quality

__all__ = [
    "BUCKET_S",
    "AlertOverlap",
    "Comparison",
    "PairComparison",
    "PatternDelta",
    "RuleDelta",
    "RunFigures",
    "alert_overlap",
    "aligned_timelines",
    "compare_runs",
    "jaccard",
    "pattern_deltas",
    "rule_deltas",
    "run_figures",
    "since_first_bucket",
]

BUCKET_S = 10  # the 10 s of the engine's fraud report


def jaccard(a: set[str] | frozenset[str], b: set[str] | frozenset[str]) -> float:
    """Ids in both sets over ids in either; two empty sets are the same set, so 1.0.

    >>> jaccard({"t1", "t2"}, {"t2"}), jaccard(set(), set()), jaccard({"t1"}, set())
    (0.5, 1.0, 0.0)
    """
    union = len(a | b)
    return len(a & b) / union if union else 1.0


@dataclass(frozen=True)
class AlertOverlap:
    """How two runs' alerted transactions overlap."""

    both: int
    only_a: int
    only_b: int
    jaccard: float


def alert_overlap(a: set[str] | frozenset[str], b: set[str] | frozenset[str]) -> AlertOverlap:
    """The overlap of two sets of alerted transaction ids."""
    return AlertOverlap(len(a & b), len(a - b), len(b - a), jaccard(a, b))


@dataclass(frozen=True)
class PatternDelta:
    """One pattern's recall in runs A and B, and B's minus A's (None where one has none)."""

    pattern: str
    recall_a: float | None
    recall_b: float | None
    delta: float | None


def pattern_deltas(
    a: Mapping[str, float | None], b: Mapping[str, float | None]
) -> list[PatternDelta]:
    """Recall per pattern of runs A and B side by side, for patterns with a recall in either.

    >>> [(d.pattern, d.delta) for d in pattern_deltas(
    ...     {"ato": 0.5, "card": 1.0, "": None}, {"ato": 0.75, "ring": 0.25})]
    [('ato', 0.25), ('card', None), ('ring', None)]
    """
    rows = []
    for pattern in sorted(set(a) | set(b)):
        ra, rb = a.get(pattern), b.get(pattern)
        if ra is None and rb is None:
            continue
        delta = rb - ra if ra is not None and rb is not None else None
        rows.append(PatternDelta(pattern, ra, rb, delta))
    return rows


def since_first_bucket(
    bucket_starts: Sequence[int], first_event_ts: int, bucket_s: int = BUCKET_S
) -> list[int]:
    """Bucket starts as seconds since the bucket of the run's first event.

    >>> since_first_bucket([1_700_000_010, 1_700_000_030], 1_700_000_013)
    [0, 20]
    """
    origin = first_event_ts // bucket_s * bucket_s
    return [start - origin for start in bucket_starts]


def aligned_timelines(
    series: Sequence[Mapping[int, int]], bucket_s: int = BUCKET_S
) -> tuple[list[int], list[list[int]]]:
    """Timelines {seconds since first bucket: count} on one axis, with 0 where a run had none.

    >>> aligned_timelines([{0: 2, 20: 1}, {10: 4}])
    ([0, 10, 20], [[2, 0, 1], [0, 4, 0]])
    >>> aligned_timelines([{}, {}])
    ([], [[], []])
    """
    known = [s for timeline in series for s in timeline]
    if not known:
        return [], [[] for _ in series]
    seconds = list(range(min(known), max(known) + bucket_s, bucket_s))
    return seconds, [[timeline.get(s, 0) for s in seconds] for timeline in series]


@dataclass(frozen=True)
class RunFigures:
    """What a comparison needs of one run."""

    run_id: str
    scenario: str | None
    seed: int | None
    model_name: str | None
    replay_of: str | None
    status: str
    final: bool
    events: int
    transactions: int
    alerts: int  # distinct transactions listed in fraud-alerts
    flagged: int  # transactions the model flagged (scores)
    precision: float | None
    recall: float | None
    first_event_ts: int | None
    per_pattern: tuple[PatternQuality, ...]
    alerted: frozenset[str] = field(repr=False)
    timeline: dict[int, int] = field(repr=False)  # seconds since first bucket -> flagged
    # the model's and each rule's hits and precision (archive.rule_quality); () before rules
    per_rule: tuple[RuleQuality, ...] = ()
    # the run's champion and the challenger scored beside it, per pattern (None: no challenger)
    challenger: ChallengerComparison | None = None

    def recall_by_pattern(self) -> dict[str, float | None]:
        return {p.pattern: p.recall for p in self.per_pattern}

    def to_dict(self) -> dict[str, Any]:
        """The figures as JSON-ready values (the alerted ids and timeline left out)."""
        out = {k: v for k, v in asdict(self).items() if k not in ("alerted", "timeline")}
        out["per_pattern"] = [asdict(p) for p in self.per_pattern]
        out["per_rule"] = [asdict(r) for r in self.per_rule]
        out["challenger"] = None if self.challenger is None else self.challenger.to_dict()
        return out


_ALERTED = (
    "SELECT DISTINCT a.transaction_id FROM fraud_alerts AS f, unnest(f.transactions) AS u(a) "
    "ORDER BY 1"
)
_FIRST_EVENT = "SELECT min(ts) FROM (SELECT ts FROM browsing UNION ALL SELECT ts FROM transactions)"


def run_figures(con: duckdb.DuckDBPyConnection, bucket_s: int = BUCKET_S) -> RunFigures:
    """The figures of the run whose file ``con`` has open."""
    summary = run_summary(con)
    quality = detection_quality(con)
    alerted = frozenset(tid for (tid,) in con.execute(_ALERTED).fetchall())
    ((first_event,),) = con.execute(_FIRST_EVENT).fetchall()
    buckets = potential_frauds(con, bucket_s)
    origin = first_event if first_event is not None else min(buckets["bucket_start"], default=0)
    seconds = since_first_bucket(buckets["bucket_start"], origin, bucket_s)
    timeline = {s: int(n) for s, n in zip(seconds, buckets["flagged"], strict=True)}
    return RunFigures(
        run_id=summary.run_id,
        scenario=summary.scenario,
        seed=summary.seed,
        model_name=summary.model_name,
        replay_of=summary.replay_of,
        status=summary.status,
        final=summary.final,
        events=summary.events,
        transactions=summary.transactions,
        alerts=len(alerted),
        flagged=quality.flagged,
        precision=quality.precision,
        recall=quality.recall,
        first_event_ts=first_event,
        per_pattern=quality.per_pattern,
        alerted=alerted,
        timeline=timeline,
        per_rule=rule_quality(con),
        challenger=challenger_comparison(con),
    )


@dataclass(frozen=True)
class RuleDelta:
    """One source of verdicts (the model or a rule) in two runs: hits and precision."""

    source: str
    hits_a: int
    hits_b: int
    precision_a: float | None
    precision_b: float | None


def rule_deltas(a: Sequence[RuleQuality], b: Sequence[RuleQuality]) -> list[RuleDelta]:
    """The model, then every rule of either run by id; a source absent from a run has 0 hits."""
    by_a = {r.source: r for r in a}
    by_b = {r.source: r for r in b}
    sources = sorted(set(by_a) | set(by_b), key=lambda s: (s != "model", s))
    return [
        RuleDelta(
            s,
            by_a[s].hits if s in by_a else 0,
            by_b[s].hits if s in by_b else 0,
            by_a[s].precision if s in by_a else None,
            by_b[s].precision if s in by_b else None,
        )
        for s in sources
    ]


@dataclass(frozen=True)
class PairComparison:
    """Two runs side by side: alert overlap, recall per pattern, hits and precision per rule."""

    a: str
    b: str
    overlap: AlertOverlap
    patterns: tuple[PatternDelta, ...]
    rules: tuple[RuleDelta, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            **asdict(self.overlap),
            "patterns": [asdict(p) for p in self.patterns],
            "rules": [asdict(r) for r in self.rules],
        }


@dataclass(frozen=True)
class Comparison:
    """Runs, every pair of them, and their aligned timelines."""

    runs: tuple[RunFigures, ...]
    pairs: tuple[PairComparison, ...]
    seconds: tuple[int, ...]  # the timelines' axis: seconds since each run's first bucket
    flagged: tuple[tuple[int, ...], ...]  # per run, flagged per bucket on that axis
    bucket_s: int = BUCKET_S

    def to_dict(self) -> dict[str, Any]:
        """One JSON-ready object with stable keys."""
        return {
            "bucket_s": self.bucket_s,
            "runs": [r.to_dict() for r in self.runs],
            "pairs": [p.to_dict() for p in self.pairs],
            "timeline": {
                "seconds": list(self.seconds),
                "flagged": [list(f) for f in self.flagged],
            },
        }


def compare_runs(runs: Sequence[RunFigures], bucket_s: int = BUCKET_S) -> Comparison:
    """Compare runs: every pair in the order given, and the timelines on one axis."""
    pairs = tuple(
        PairComparison(
            a.run_id,
            b.run_id,
            alert_overlap(a.alerted, b.alerted),
            tuple(pattern_deltas(a.recall_by_pattern(), b.recall_by_pattern())),
            tuple(rule_deltas(a.per_rule, b.per_rule)),
        )
        for i, a in enumerate(runs)
        for b in runs[i + 1 :]
    )
    seconds, flagged = aligned_timelines([r.timeline for r in runs], bucket_s)
    return Comparison(
        tuple(runs), pairs, tuple(seconds), tuple(tuple(f) for f in flagged), bucket_s
    )
