"""Per-rule figures of a run against its ground truth, computed in DuckDB (see rulebook/rules.py).

For each source of verdicts (``model``, and each rule id that matched a score):

- ``hits``: scored transactions it matched (for ``model``: those whose own probability reached
  the threshold, i.e. ``model`` among the score's reasons);
- ``flagged``: of those, the ones that were potential frauds;
- ``frauds``: of the hits, the ones that are fraud by the truth stream;
- ``only``: potential frauds it alone made (no other reason);
- ``precision`` = frauds / hits (None without hits). A ``raise`` rule's hit is a fraud signal
  whether or not it lifted the probability past the threshold, so its precision is over hits.

An archive written before scores had reasons has no per-rule figures: an empty tuple.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

__all__ = ["RuleQuality", "rule_quality"]

MODEL = "model"

_PER_SOURCE = """
WITH truth_by_tx AS (
    SELECT transaction_id, bool_or(is_fraud) AS is_fraud
    FROM truth GROUP BY transaction_id
),
matched AS (
    SELECT s.transaction_id, s.prediction, s.reasons, r.source
    FROM scores AS s, unnest(string_split(s.rules, ',')) AS r(source)
    WHERE s.rules <> ''
    UNION ALL
    SELECT s.transaction_id, s.prediction, s.reasons, 'model' AS source
    FROM scores AS s
    WHERE list_contains(string_split(s.reasons, ','), 'model')
)
SELECT m.source,
       count(*) AS hits,
       count(*) FILTER (WHERE m.prediction = 1) AS flagged,
       count(*) FILTER (WHERE t.is_fraud) AS frauds,
       count(*) FILTER (WHERE m.prediction = 1 AND m.reasons = m.source) AS only
FROM matched AS m LEFT JOIN truth_by_tx AS t USING (transaction_id)
GROUP BY m.source
ORDER BY m.source <> 'model', m.source
"""


@dataclass(frozen=True)
class RuleQuality:
    """What one source of verdicts (the model, or a rule) matched, and how often rightly."""

    source: str  # "model" or a rule id
    hits: int
    flagged: int
    frauds: int
    only: int
    precision: float | None


def rule_quality(con: duckdb.DuckDBPyConnection) -> tuple[RuleQuality, ...]:
    """Per-source figures of the run whose file ``con`` has open (see the module doc)."""
    columns = {
        name for (name,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = 'scores'"
        ).fetchall()
    }  # fmt: skip
    if not {"rules", "reasons"} <= columns:
        return ()
    ((decided,),) = con.execute("SELECT count(reasons) FROM scores").fetchall()
    if not decided:  # scores from an engine that gave no reasons
        return ()
    return tuple(
        RuleQuality(source, hits, flagged, frauds, only, frauds / hits if hits else None)
        for source, hits, flagged, frauds, only in con.execute(_PER_SOURCE).fetchall()
    )
