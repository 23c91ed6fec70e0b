"""Champion and challenger of one run, side by side per pattern, against its ground truth.

A run scored with ``--challenger`` holds, in each score, the champion's verdict (``probability``,
``prediction``: what alerted) and the challenger's (``challenger_probability``,
``challenger_prediction``: what would have alerted with the challenger as champion, the same
rules applied; see :mod:`engine.verdicts`). Per pattern, for each of the two:

- precision and recall at its own threshold, as :mod:`archive.quality` counts them (a fraud
  never scored counts as missed);
- average precision: how well its probability ranks the pattern's frauds above every legitimate
  transaction of the run (scikit-learn's ``average_precision_score``; a fraud never scored ranks
  last); None for a pattern without frauds;
- seconds from the pattern's first fraud (event time) to the first fraud it flagged.

And between them: alerts gained (flagged by the challenger, not the champion) and lost (the
reverse), each with how many of them were frauds. The row ``ALL`` holds the same over the whole
run.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import duckdb
import numpy as np

__all__ = [
    "ALL",
    "DUEL_HEADER",
    "ChallengerComparison",
    "ModelFigures",
    "PatternDuel",
    "challenger_comparison",
    "duel_rows",
    "duel_title",
]

ALL = "ALL"

# One row per transaction with truth, with both verdicts (null when it was never scored).
_ROWS = """
WITH truth_by_tx AS (
    SELECT transaction_id, bool_or(is_fraud) AS is_fraud, max(pattern) AS pattern,
           min(ts) AS ts
    FROM truth GROUP BY transaction_id
)
SELECT t.is_fraud, coalesce(t.pattern, '') AS pattern, t.ts, s.ts AS scored_ts,
       s.probability, s.prediction, s.challenger_probability, s.challenger_prediction
FROM truth_by_tx AS t LEFT JOIN scores AS s USING (transaction_id)
ORDER BY t.transaction_id
"""
_NAMES = """
SELECT challenger_name, challenger_digest, count(*) FROM scores
WHERE challenger_name IS NOT NULL GROUP BY ALL ORDER BY 3 DESC LIMIT 1
"""


@dataclass(frozen=True)
class ModelFigures:
    """One model's detection of one pattern (or of the whole run)."""

    flagged: int
    true_positives: int
    precision: float | None
    recall: float | None
    average_precision: float | None
    seconds_to_flag: int | None


@dataclass(frozen=True)
class PatternDuel:
    """Champion and challenger on one pattern (``ALL``: the whole run)."""

    pattern: str
    transactions: int
    frauds: int
    champion: ModelFigures
    challenger: ModelFigures
    alerts_gained: int
    frauds_gained: int
    alerts_lost: int
    frauds_lost: int


@dataclass(frozen=True)
class ChallengerComparison:
    """A run's champion and challenger (names and digests), per pattern then overall."""

    champion_name: str | None
    champion_digest: str | None
    challenger_name: str
    challenger_digest: str
    patterns: tuple[PatternDuel, ...]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _average_precision(
    scores: np.ndarray, frauds: np.ndarray, negatives: np.ndarray
) -> float | None:
    """AP of ranking the ``frauds`` among them above every negative (boolean masks over
    ``scores``); None without frauds."""
    from sklearn.metrics import average_precision_score

    chosen = frauds | negatives
    if not frauds.any():
        return None
    if not negatives.any():
        return 1.0
    return float(average_precision_score(frauds[chosen], scores[chosen]))


def _figures(
    scores: np.ndarray,
    flagged: np.ndarray,
    in_pattern: np.ndarray,
    frauds: np.ndarray,
    negatives: np.ndarray,
    ts: np.ndarray,
    scored_ts: np.ndarray,
) -> ModelFigures:
    mine = flagged & in_pattern
    hits = mine & frauds
    pattern_frauds = frauds & in_pattern
    first_fraud = ts[pattern_frauds].min() if pattern_frauds.any() else None
    first_flag = scored_ts[hits].min() if hits.any() else None
    return ModelFigures(
        flagged=int(mine.sum()),
        true_positives=int(hits.sum()),
        precision=_ratio(int(hits.sum()), int(mine.sum())),
        recall=_ratio(int(hits.sum()), int(pattern_frauds.sum())),
        average_precision=_average_precision(scores, pattern_frauds, negatives),
        seconds_to_flag=(
            None if first_flag is None or first_fraud is None else int(first_flag - first_fraud)
        ),
    )


def challenger_comparison(con: duckdb.DuckDBPyConnection) -> ChallengerComparison | None:
    """The run's champion and challenger side by side (see the module); None when the run's
    scores carry no challenger."""
    names = con.execute(_NAMES).fetchall()
    if not names:
        return None
    ((challenger_name, challenger_digest, _),) = names
    champion = con.execute(
        "SELECT model_name, model_digest FROM scores GROUP BY ALL ORDER BY count(*) DESC LIMIT 1"
    ).fetchall()
    columns = con.execute(_ROWS).fetchnumpy()
    is_fraud = np.asarray(columns["is_fraud"], dtype=bool)
    pattern = np.asarray(columns["pattern"], dtype=object)
    ts = np.asarray(columns["ts"], dtype=np.int64)
    scored = ~np.ma.getmaskarray(columns["probability"])
    scored_ts = np.ma.filled(columns["scored_ts"].astype(np.int64), 0)

    def verdicts(probability: str, prediction: str) -> tuple[np.ndarray, np.ndarray]:
        # a transaction never scored ranks below every scored one, and is not flagged
        p = np.ma.filled(columns[probability].astype(np.float64), -1.0)
        flagged = np.ma.filled(columns[prediction].astype(np.int64), 0) == 1
        return p, flagged & scored

    champion_p, champion_flagged = verdicts("probability", "prediction")
    challenger_p, challenger_flagged = verdicts("challenger_probability", "challenger_prediction")
    negatives = ~is_fraud
    duels = []
    for name in [*sorted(set(pattern.tolist())), ALL]:
        in_pattern = np.ones(len(pattern), dtype=bool) if name == ALL else pattern == name
        frauds = is_fraud & in_pattern
        gained = challenger_flagged & ~champion_flagged & in_pattern
        lost = champion_flagged & ~challenger_flagged & in_pattern
        common = (in_pattern, is_fraud, negatives, ts, scored_ts)
        duels.append(
            PatternDuel(
                pattern=name,
                transactions=int(in_pattern.sum()),
                frauds=int(frauds.sum()),
                champion=_figures(champion_p, champion_flagged, *common),
                challenger=_figures(challenger_p, challenger_flagged, *common),
                alerts_gained=int(gained.sum()),
                frauds_gained=int((gained & is_fraud).sum()),
                alerts_lost=int(lost.sum()),
                frauds_lost=int((lost & is_fraud).sum()),
            )
        )
    champion_name, champion_digest = champion[0] if champion else (None, None)
    return ChallengerComparison(
        champion_name, champion_digest, challenger_name, challenger_digest, tuple(duels)
    )


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _seconds(value: int | None) -> str:
    return "-" if value is None else str(value)


DUEL_HEADER = (
    "PATTERN",
    "FRAUDS",
    "PRECISION",
    "RECALL",
    "AP",
    "TO FLAG (S)",
    "GAINED (FRAUD)",
    "LOST (FRAUD)",
)


def duel_rows(comparison: ChallengerComparison) -> list[tuple[str, ...]]:
    """The comparison as text cells under :data:`DUEL_HEADER`: each figure as
    ``champion -> challenger``, then the alerts the challenger gains and loses."""
    rows: list[tuple[str, ...]] = []
    for d in comparison.patterns:
        a, b = d.champion, d.challenger
        rows.append(
            (
                d.pattern or "(none)",
                str(d.frauds),
                f"{_figure(a.precision)} -> {_figure(b.precision)}",
                f"{_figure(a.recall)} -> {_figure(b.recall)}",
                f"{_figure(a.average_precision)} -> {_figure(b.average_precision)}",
                f"{_seconds(a.seconds_to_flag)} -> {_seconds(b.seconds_to_flag)}",
                f"{d.alerts_gained} ({d.frauds_gained})",
                f"{d.alerts_lost} ({d.frauds_lost})",
            )
        )
    return rows


def duel_title(comparison: ChallengerComparison) -> str:
    """One line naming the two models, champion first."""
    champion = comparison.champion_name or "-"
    return (
        f"champion {champion} -> challenger {comparison.challenger_name} "
        f"({comparison.challenger_digest[:12]}); the champion alone decided alerts"
    )
