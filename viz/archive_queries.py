"""What the replay and compare views ask of an archived run beyond :mod:`archive.aggregates`.

Each function is one parameterised DuckDB query over a run's read-only connection and returns
only the rows a chart draws, as columns. Times are event time in Unix seconds; ``until``
(inclusive, None = open) is the replay's playback clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from archive.aggregates import Columns
from archive.files import open_read_only
from viz.alert_list import AlertRow

__all__ = [
    "RunSpan",
    "alert_overlap",
    "alert_timeline",
    "alert_windows",
    "alerts_of",
    "run_span",
    "true_frauds_by_location",
]


def _columns(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> Columns:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description or ()]
    rows = cursor.fetchall()
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


@dataclass(frozen=True)
class RunSpan:
    """The event time a run covers: its first event to its last report window's end."""

    start: int
    end: int

    @property
    def seconds(self) -> int:
        return self.end - self.start


def run_span(con: duckdb.DuckDBPyConnection) -> RunSpan | None:
    """The run's event-time span, or None for a run without events or reports."""
    # a report window opens 2 minutes before its first event: the span starts at the events
    ((start, end),) = con.execute(
        """
        WITH events AS (
            SELECT min(ts) AS lo, max(ts) AS hi FROM transactions
            UNION ALL SELECT min(ts), max(ts) FROM browsing
        ),
        reports AS (
            SELECT min(window_end) AS lo, max(window_end) AS hi FROM fraud_alerts
            UNION ALL SELECT min(window_end), max(window_end) FROM top_products
        )
        SELECT coalesce((SELECT min(lo) FROM events), (SELECT min(lo) FROM reports)),
               greatest((SELECT max(hi) FROM events), (SELECT max(hi) FROM reports))
        """
    ).fetchall()
    if start is None or end is None:
        return None
    return RunSpan(int(start), max(int(end), int(start) + 1))


def alert_windows(
    con: duckdb.DuckDBPyConnection, since: int | None = None, until: int | None = None
) -> Columns:
    """The 10 s reports ending after ``since`` and up to ``until``, beside the ground truth of
    the same windows.

    Columns: ``window_end``, ``alerts`` (potential frauds the report listed) and ``frauds``
    (truly fraudulent transactions whose event time falls in the report's window).
    """
    sql = """
    WITH frauds AS (
        SELECT transaction_id, min(ts) AS ts FROM truth
        WHERE is_fraud GROUP BY transaction_id
    ),
    windows AS (
        SELECT window_start, window_end, count FROM fraud_alerts
        WHERE ($since IS NULL OR window_end > $since) AND ($until IS NULL OR window_end <= $until)
    )
    SELECT w.window_end, any_value(w.count)::BIGINT AS alerts, count(f.ts)::BIGINT AS frauds
    FROM windows AS w
    LEFT JOIN frauds AS f ON f.ts >= w.window_start AND f.ts < w.window_end
    GROUP BY w.window_start, w.window_end
    ORDER BY w.window_end, w.window_start
    """
    return _columns(con, sql, {"since": since, "until": until})


def true_frauds_by_location(
    con: duckdb.DuckDBPyConnection, grid_deg: float = 0.5, until: int | None = None
) -> Columns:
    """Truly fraudulent transactions up to ``until`` by shipment location, snapped to a grid.

    Columns: ``lat``, ``long``, ``frauds`` and ``pattern`` (the most common one there).
    """
    if grid_deg <= 0:
        raise ValueError(f"grid_deg must be positive, got {grid_deg}")
    sql = """
    WITH frauds AS (
        SELECT transaction_id, max(pattern) AS pattern FROM truth
        WHERE is_fraud AND ($until IS NULL OR ts <= $until)
        GROUP BY transaction_id
    ),
    placed AS (
        SELECT transaction_id,
               any_value(TRY_CAST(shipment_location_lat AS DOUBLE)) AS lat,
               any_value(TRY_CAST(shipment_location_long AS DOUBLE)) AS long
        FROM transactions WHERE transaction_id IN (SELECT transaction_id FROM frauds)
        GROUP BY transaction_id
    )
    SELECT round(round(p.lat / $grid) * $grid, 6) AS lat,
           round(round(p.long / $grid) * $grid, 6) AS long,
           count(*) AS frauds, mode(f.pattern) AS pattern
    FROM frauds AS f JOIN placed AS p USING (transaction_id)
    WHERE p.lat IS NOT NULL AND p.long IS NOT NULL
    GROUP BY 1, 2 ORDER BY frauds DESC, lat, long
    """
    return _columns(con, sql, {"grid": grid_deg, "until": until})


def alert_timeline(con: duckdb.DuckDBPyConnection, start: int) -> Columns:
    """The 10 s reports by minutes since ``start`` (the run's first event), for overlaying runs.

    Columns: ``minutes`` and ``alerts``.
    """
    sql = """
    SELECT (window_end - $start) / 60.0 AS minutes, count::BIGINT AS alerts
    FROM fraud_alerts ORDER BY window_end, window_start
    """
    return _columns(con, sql, {"start": start})


def alert_overlap(archive_dir: Path, run_ids: Sequence[str]) -> Columns:
    """Which runs flagged each transaction, counted by combination of runs.

    Runs are labelled by their position in ``run_ids`` (``#1``, ``#2``, ...). Columns:
    ``combination`` (e.g. ``#1 + #3``), ``runs`` (how many runs flagged them) and
    ``transactions``, the largest combinations first.
    """
    joined = duckdb.connect()
    try:
        for i, run_id in enumerate(run_ids):
            con = open_read_only(archive_dir, run_id)
            try:
                flagged = con.sql(
                    "SELECT DISTINCT transaction_id FROM scores WHERE prediction = 1"
                ).to_arrow_table()
            finally:
                con.close()
            joined.register(f"flagged_{i}", flagged)
        union = " UNION ALL ".join(
            f"SELECT transaction_id, {i + 1} AS position FROM flagged_{i}"
            for i in range(len(run_ids))
        )
        if not union:
            return {"combination": [], "runs": [], "transactions": []}
        sql = f"""
        WITH marks AS ({union}),
        per_tx AS (
            SELECT transaction_id,
                   string_agg('#' || position, ' + ' ORDER BY position) AS combination,
                   count(*) AS runs
            FROM marks GROUP BY transaction_id
        )
        SELECT combination, any_value(runs)::BIGINT AS runs, count(*)::BIGINT AS transactions
        FROM per_tx GROUP BY combination ORDER BY transactions DESC, combination
        """
        return _columns(joined, sql, {})
    finally:
        joined.close()


@dataclass(frozen=True)
class QualitySoFar:
    """Overall detection figures up to a moment (see :mod:`archive.quality` for definitions)."""

    flagged: int
    frauds: int
    true_positives: int
    flagged_with_truth: int

    @property
    def precision(self) -> float | None:
        return self.true_positives / self.flagged_with_truth if self.flagged_with_truth else None

    @property
    def recall(self) -> float | None:
        return self.true_positives / self.frauds if self.frauds else None


def quality_so_far(con: duckdb.DuckDBPyConnection, until: int | None = None) -> QualitySoFar:
    """Flagged transactions, true frauds, and precision and recall against truth up to
    ``until``: the overall figures of :func:`archive.quality.detection_quality` without its
    per-pattern breakdown, cheap enough for every redraw of a replay."""
    ((flagged, frauds, tp, with_truth),) = con.execute(
        """
        WITH frauds AS (
            SELECT DISTINCT transaction_id FROM truth
            WHERE is_fraud AND ($until IS NULL OR ts <= $until)
        ),
        flagged AS (
            SELECT DISTINCT transaction_id FROM scores
            WHERE prediction = 1 AND ($until IS NULL OR ts <= $until)
        )
        SELECT (SELECT count(*) FROM flagged),
               (SELECT count(*) FROM frauds),
               (SELECT count(*) FROM flagged SEMI JOIN frauds USING (transaction_id)),
               (SELECT count(*) FROM flagged WHERE transaction_id IN (
                   SELECT transaction_id FROM truth WHERE $until IS NULL OR ts <= $until))
        """,
        {"until": until},
    ).fetchall()
    return QualitySoFar(int(flagged), int(frauds), int(tp), int(with_truth))


_ALERTS_OF = """
WITH listed AS (
    SELECT a.transaction_id, any_value(a.customer_id) AS customer_id, min(a.ts) AS ts,
           any_value(a.total_amount) AS total_amount, max(a.probability) AS probability,
           any_value(a.reasons) AS reasons, any_value(a.explanation) AS explanation,
           any_value(a.shipment_location_lat) AS lat, any_value(a.shipment_location_long) AS long
    FROM fraud_alerts AS f, unnest(f.transactions) AS u(a)
    WHERE ($window_end IS NULL OR f.window_end = $window_end)
      AND ($until IS NULL OR f.window_end <= $until)
    GROUP BY a.transaction_id
),
truth_by_tx AS (
    SELECT transaction_id, bool_or(is_fraud) AS is_fraud, max(pattern) AS pattern
    FROM truth GROUP BY transaction_id
)
SELECT l.transaction_id, l.customer_id, l.ts, l.total_amount, l.probability, l.reasons,
       l.explanation,
       CASE WHEN t.is_fraud IS NULL THEN NULL
            WHEN t.is_fraud THEN 'fraud: ' || coalesce(t.pattern, '')
            ELSE 'legitimate' END AS truth
FROM listed AS l LEFT JOIN truth_by_tx AS t USING (transaction_id)
WHERE $lat IS NULL
   OR (round(round(l.lat / $grid) * $grid, 6) = $lat
       AND round(round(l.long / $grid) * $grid, 6) = $long)
ORDER BY l.probability DESC, l.ts, l.transaction_id
"""


def alerts_of(
    con: duckdb.DuckDBPyConnection,
    window_end: int | None = None,
    cell: tuple[float, float] | None = None,
    until: int | None = None,
    grid_deg: float = 0.5,
) -> list[AlertRow]:
    """The alerted transactions of one report window (``window_end``, Unix seconds), or of one
    map cell (``cell``: its (lat, long) on the ``grid_deg`` grid of
    :func:`archive.aggregates.frauds_by_location`) in the reports up to ``until``; most
    probable first, each with its explanation and its truth in words."""
    lat, long = cell if cell is not None else (None, None)
    params = {
        "window_end": window_end,
        "until": until,
        "lat": lat,
        "long": long,
        "grid": grid_deg,
    }
    return [AlertRow(*row) for row in con.execute(_ALERTS_OF, params).fetchall()]
