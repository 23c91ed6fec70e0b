"""Time-bucketed aggregates of an archived run, for reports, replay and the views.

Each function runs one parameterised DuckDB query and returns only the aggregated rows, as
columns (``{"column": [values, ...]}``, ready for a Bokeh ``ColumnDataSource``). Times are event
time in Unix seconds; ``since`` and ``until`` (inclusive, None = open) bound them, so a replay can
ask for what had happened by its playback clock.
"""

from __future__ import annotations

from typing import Any

import duckdb

__all__ = ["fraud_alert_counts", "frauds_by_location", "potential_frauds", "top_product_sales"]

Columns = dict[str, list[Any]]

_WITHIN = "($since IS NULL OR {col} >= $since) AND ($until IS NULL OR {col} <= $until)"


def _columns(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> Columns:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description or ()]
    rows = cursor.fetchall()
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


def _positive(name: str, value: float) -> None:
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")


def potential_frauds(
    con: duckdb.DuckDBPyConnection,
    bucket_s: int = 10,
    since: int | None = None,
    until: int | None = None,
) -> Columns:
    """Per ``bucket_s`` of event time: transactions the model flagged, and true frauds (truth).

    Columns: ``bucket_start``, ``flagged``, ``frauds``; buckets with neither are left out.
    """
    _positive("bucket_s", bucket_s)
    sql = f"""
    WITH flagged AS (
        SELECT ts FROM scores WHERE prediction = 1 AND {_WITHIN.format(col="ts")}
    ),
    frauds AS (
        SELECT min(ts) AS ts FROM truth
        WHERE is_fraud AND {_WITHIN.format(col="ts")}
        GROUP BY transaction_id
    ),
    marks AS (
        SELECT ts, 1 AS flagged, 0 AS frauds FROM flagged
        UNION ALL
        SELECT ts, 0, 1 FROM frauds
    )
    SELECT ts // $bucket * $bucket AS bucket_start,
           sum(flagged)::BIGINT AS flagged, sum(frauds)::BIGINT AS frauds
    FROM marks GROUP BY bucket_start ORDER BY bucket_start
    """
    return _columns(con, sql, {"bucket": bucket_s, "since": since, "until": until})


def fraud_alert_counts(
    con: duckdb.DuckDBPyConnection, since: int | None = None, until: int | None = None
) -> Columns:
    """The engine's 10 s report as it was emitted: one row per window, by window end.

    Columns: ``window_start``, ``window_end``, ``count`` (potential frauds in the window).
    """
    sql = f"""
    SELECT window_start, window_end, count FROM fraud_alerts
    WHERE {_WITHIN.format(col="window_end")} ORDER BY window_end, window_start
    """
    return _columns(con, sql, {"since": since, "until": until})


def top_product_sales(
    con: duckdb.DuckDBPyConnection, top_n: int = 10, until: int | None = None
) -> Columns:
    """Cumulative sales of the ``top_n`` best-selling products of the 30 s top-products reports.

    One row per report window and product (the product's sales in the reports so far), for the
    products with the largest total sales up to ``until``. Columns: ``window_end``,
    ``product_id``, ``product_name``, ``cumulative_sales``, ``cumulative_quantity``.
    """
    _positive("top_n", top_n)
    sql = """
    WITH sales AS (
        SELECT window_end, product_id, any_value(product_name) AS product_name,
               sum(sales) AS sales, sum(quantity) AS quantity
        FROM top_products WHERE $until IS NULL OR window_end <= $until
        GROUP BY window_end, product_id
    ),
    top AS (
        SELECT product_id FROM sales GROUP BY product_id
        ORDER BY sum(sales) DESC, product_id LIMIT $top_n
    )
    SELECT window_end, product_id, product_name,
           sum(sales) OVER (PARTITION BY product_id ORDER BY window_end) AS cumulative_sales,
           sum(quantity) OVER (PARTITION BY product_id ORDER BY window_end)::BIGINT
               AS cumulative_quantity
    FROM sales WHERE product_id IN (SELECT product_id FROM top)
    ORDER BY window_end, product_id
    """
    return _columns(con, sql, {"top_n": top_n, "until": until})


def frauds_by_location(
    con: duckdb.DuckDBPyConnection,
    grid_deg: float = 0.5,
    since: int | None = None,
    until: int | None = None,
) -> Columns:
    """Potential frauds (transactions listed in fraud-alerts) by shipment location.

    Locations are snapped to a ``grid_deg`` grid. Columns: ``lat``, ``long``, ``alerts``,
    ``mean_probability``, ``confirmed`` (true frauds by truth) and ``pattern`` (the most common
    pattern among the confirmed ones, or None).
    """
    _positive("grid_deg", grid_deg)
    sql = f"""
    WITH alerted AS (
        SELECT a.transaction_id,
               any_value(a.shipment_location_lat) AS lat,
               any_value(a.shipment_location_long) AS long,
               max(a.probability) AS probability,
               min(a.ts) AS ts
        FROM fraud_alerts AS f, unnest(f.transactions) AS u(a)
        GROUP BY a.transaction_id
    ),
    truth_by_tx AS (
        SELECT transaction_id, bool_or(is_fraud) AS is_fraud,
               max(pattern) AS pattern
        FROM truth GROUP BY transaction_id
    )
    SELECT round(round(a.lat / $grid) * $grid, 6) AS lat,
           round(round(a.long / $grid) * $grid, 6) AS long,
           count(*) AS alerts,
           avg(a.probability) AS mean_probability,
           count(*) FILTER (WHERE t.is_fraud) AS confirmed,
           mode(t.pattern) FILTER (WHERE t.is_fraud) AS pattern
    FROM alerted AS a LEFT JOIN truth_by_tx AS t USING (transaction_id)
    WHERE {_WITHIN.format(col="a.ts")}
    GROUP BY 1, 2 ORDER BY alerts DESC, lat, long
    """
    return _columns(con, sql, {"grid": grid_deg, "since": since, "until": until})
