"""Detection quality of a run against its ground truth, computed in DuckDB.

A transaction's verdict is its score's ``prediction``; the truth is ``is_fraud`` and ``pattern``
from the truth stream, joined on ``transaction_id``:

- precision = flagged frauds / flagged transactions (of those that have a truth row);
- recall = flagged frauds / fraudulent transactions, so a fraud the engine never scored (dropped
  as late, dead-lettered) counts as missed;
- per pattern (legitimate behaviour labelled with a pattern, such as a flash sale, has its own
  row; unlabelled legitimate transactions are the pattern ``""``): the same two figures within the
  pattern, and how long after the pattern's first fraudulent transaction (event time) the model
  flagged one of them (``seconds_to_flag``) and the 10 s report first listed one
  (``seconds_to_alert``, from the fraud-alerts windows' ends).

Precision and recall are None where they have no denominator, and both are None for a run
without scores (no engine ran). ``until`` limits everything to event time up to that Unix second,
for figures "so far" during a replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb

__all__ = ["DetectionQuality", "PatternQuality", "detection_quality"]

# One row per transaction with truth: whether it is fraud, its pattern, when, and its verdict.
_JOINED = """
WITH truth_by_tx AS (
    SELECT transaction_id,
           bool_or(is_fraud) AS is_fraud,
           max(pattern) AS pattern,
           min(ts) AS ts
    FROM truth
    WHERE $until IS NULL OR ts <= $until
    GROUP BY transaction_id
),
first_alert AS (
    SELECT a.transaction_id, min(f.window_end) AS window_end
    FROM fraud_alerts AS f, unnest(f.transactions) AS u(a)
    WHERE $until IS NULL OR f.window_end <= $until
    GROUP BY a.transaction_id
),
joined AS (
    SELECT t.transaction_id, t.is_fraud, t.pattern, t.ts,
           s.prediction, s.ts AS scored_ts, fa.window_end AS alert_ts
    FROM truth_by_tx AS t
    LEFT JOIN scores AS s USING (transaction_id)
    LEFT JOIN first_alert AS fa USING (transaction_id)
)
"""

_COUNTS = """
    count(*) AS transactions,
    count(*) FILTER (WHERE is_fraud) AS frauds,
    count(prediction) AS scored,
    count(*) FILTER (WHERE prediction = 1) AS flagged,
    count(*) FILTER (WHERE prediction = 1 AND is_fraud) AS true_positives
"""

_OVERALL = (
    _JOINED
    + f"SELECT {_COUNTS}, "
    + "(SELECT count(*) FROM scores WHERE $until IS NULL OR ts <= $until) AS all_scores FROM joined"
)

_PER_PATTERN = (
    _JOINED
    + f"""
SELECT pattern, {_COUNTS},
       min(ts) FILTER (WHERE is_fraud) AS first_fraud_ts,
       min(scored_ts) FILTER (WHERE is_fraud AND prediction = 1) AS first_flag_ts,
       min(alert_ts) FILTER (WHERE is_fraud) AS first_alert_ts
FROM joined
GROUP BY pattern
ORDER BY pattern
"""
)


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


def _delay(at: int | None, since: int | None) -> int | None:
    return at - since if at is not None and since is not None else None


@dataclass(frozen=True)
class PatternQuality:
    """Detection of one pattern: counts, precision, recall and time to detect."""

    pattern: str
    transactions: int
    frauds: int
    scored: int
    flagged: int
    true_positives: int
    precision: float | None
    recall: float | None
    first_fraud_ts: int | None
    first_flag_ts: int | None
    first_alert_ts: int | None
    seconds_to_flag: int | None
    seconds_to_alert: int | None


@dataclass(frozen=True)
class DetectionQuality:
    """Precision and recall of a run, overall and per pattern."""

    transactions: int
    frauds: int
    scored: int
    flagged: int
    true_positives: int
    scores_without_truth: int
    precision: float | None
    recall: float | None
    per_pattern: tuple[PatternQuality, ...]


def detection_quality(con: duckdb.DuckDBPyConnection, until: int | None = None) -> DetectionQuality:
    """Precision and recall against truth, overall and per pattern (see the module doc)."""
    params: dict[str, Any] = {"until": until}
    (row,) = con.execute(_OVERALL, params).fetchall()
    transactions, frauds, scored, flagged, tp, all_scores = (int(v) for v in row)
    engine_ran = all_scores > 0
    per_pattern = []
    for r in con.execute(_PER_PATTERN, params).fetchall():
        pattern, n, p_frauds, p_scored, p_flagged, p_tp, first_fraud, first_flag, first_alert = r
        per_pattern.append(
            PatternQuality(
                pattern=pattern,
                transactions=n,
                frauds=p_frauds,
                scored=p_scored,
                flagged=p_flagged,
                true_positives=p_tp,
                precision=_ratio(p_tp, p_flagged) if engine_ran else None,
                recall=_ratio(p_tp, p_frauds) if engine_ran else None,
                first_fraud_ts=first_fraud,
                first_flag_ts=first_flag,
                first_alert_ts=first_alert,
                seconds_to_flag=_delay(first_flag, first_fraud),
                seconds_to_alert=_delay(first_alert, first_fraud),
            )
        )
    return DetectionQuality(
        transactions=transactions,
        frauds=frauds,
        scored=scored,
        flagged=flagged,
        true_positives=tp,
        scores_without_truth=all_scores - scored,
        precision=_ratio(tp, flagged) if engine_ran else None,
        recall=_ratio(tp, frauds) if engine_ran else None,
        per_pattern=tuple(per_pattern),
    )
