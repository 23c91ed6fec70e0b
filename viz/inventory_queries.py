"""What the replay's inventory panel asks of an archived run, by the playback clock.

DuckDB picks the leading products, works out what each then sold over the horizon after each
window, reduces the stock changes to one level a second, and finds the restock list: the page
receives only the points it draws (:mod:`viz.inventory_panel` turns them into lines). A run
archived before the inventory streams existed has no such tables: it has no forecast either.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from archive.aggregates import Columns
from viz.inventory_panel import (
    LEADING_PRODUCTS,
    PanelLine,
    product_label,
    restock_columns,
    stock_from_forecasts,
    stock_lines,
)

__all__ = [
    "InventoryFrame",
    "demand_so_far",
    "inventory_frame",
    "leading_forecast_products",
    "restock_list",
    "stock_levels",
]


def _columns(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> Columns:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description or ()]
    rows = cursor.fetchall()
    return {name: [row[i] for row in rows] for i, name in enumerate(names)}


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {name for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}


def has_forecast(con: duckdb.DuckDBPyConnection) -> bool:
    """Whether the run's archive holds any inventory-forecast row."""
    if "inventory_forecast" not in _tables(con):
        return False
    return bool(con.execute("SELECT count(*) FROM inventory_forecast").fetchall()[0][0])


def leading_forecast_products(
    con: duckdb.DuckDBPyConnection, until: int | None = None, n: int = LEADING_PRODUCTS
) -> list[str]:
    """The ``n`` products with the most forecast units in the windows ending by ``until``."""
    rows = con.execute(
        """
        SELECT product_id FROM inventory_forecast
        WHERE $until IS NULL OR window_end <= $until
        GROUP BY product_id ORDER BY sum(forecast_units) DESC, product_id LIMIT $n
        """,
        {"until": until, "n": n},
    ).fetchall()
    return [pid for (pid,) in rows]


def demand_so_far(
    con: duckdb.DuckDBPyConnection, products: list[str], until: int | None = None
) -> Columns:
    """Per window ending by ``until`` of each of ``products``: its forecast and, once the horizon
    after the window has passed by ``until`` (None: the last window's end), the units it then
    sold: the ``units`` of its windows ending in ``(window_end, window_end + horizon]``.

    Columns: ``window_end``, ``product_id``, ``product_name``, ``forecast_units``, ``actual``
    (NULL while the horizon runs) and ``stock``, ordered by product and window.
    """
    sql = """
    WITH bound AS (
        SELECT coalesce($until::BIGINT, (SELECT max(window_end) FROM inventory_forecast)) AS t
    ),
    f AS (
        SELECT window_end, product_id, any_value(product_name) AS product_name,
               any_value(horizon_minutes) * 60 AS horizon_s,
               any_value(forecast_units) AS forecast_units, any_value(units) AS units,
               any_value(stock) AS stock
        FROM inventory_forecast, bound
        WHERE window_end <= bound.t AND list_contains($products::VARCHAR[], product_id)
        GROUP BY window_end, product_id
    )
    SELECT f.window_end, f.product_id, any_value(f.product_name) AS product_name,
           any_value(f.forecast_units) AS forecast_units,
           CASE WHEN f.window_end + any_value(f.horizon_s) <= any_value(bound.t)
                THEN coalesce(sum(g.units), 0)::DOUBLE END AS actual,
           any_value(f.stock) AS stock
    FROM f CROSS JOIN bound
    LEFT JOIN f AS g ON g.product_id = f.product_id AND g.window_end > f.window_end
                     AND g.window_end <= f.window_end + f.horizon_s
    GROUP BY f.window_end, f.product_id
    ORDER BY f.product_id, f.window_end
    """
    return _columns(con, sql, {"until": until, "products": products})


def stock_levels(
    con: duckdb.DuckDBPyConnection, products: list[str], until: int | None = None
) -> Columns:
    """The shelf level of each of ``products`` at the end of each second it changed, up to
    ``until``; ``change`` is ``stock_out`` for a second that turned a checkout away.

    Columns: ``ts``, ``product_id``, ``change`` and ``level``, by product and time. Empty for a
    run without an inventory stream.
    """
    if "inventory" not in _tables(con):
        return {"ts": [], "product_id": [], "change": [], "level": []}
    sql = """
    SELECT ts, product_id,
           CASE WHEN bool_or(change = 'stock_out') THEN 'stock_out' ELSE 'level' END AS change,
           arg_max(level, kafka_offset) AS level
    FROM inventory
    WHERE ($until IS NULL OR ts <= $until) AND list_contains($products::VARCHAR[], product_id)
    GROUP BY ts, product_id
    ORDER BY product_id, ts
    """
    return _columns(con, sql, {"until": until, "products": products})


def restock_list(con: duckdb.DuckDBPyConnection, until: int | None = None) -> Columns:
    """The rows of the latest window ending by ``until`` whose ``restock`` is true."""
    sql = """
    SELECT window_end, product_id, any_value(product_name) AS product_name,
           any_value(stock) AS stock, any_value(on_order) AS on_order,
           any_value(forecast_units) AS forecast_units,
           any_value(cover_minutes) AS cover_minutes, bool_or(restock = 1) AS restock
    FROM inventory_forecast
    WHERE window_end = (
        SELECT max(window_end) FROM inventory_forecast WHERE $until IS NULL OR window_end <= $until
    ) AND restock = 1
    GROUP BY window_end, product_id
    """
    return _columns(con, sql, {"until": until})


@dataclass(frozen=True)
class InventoryFrame:
    """The inventory panel at one clock position: the leading products (none before the first
    forecast window, or in a run without a forecast), their lines and the restock list."""

    has_forecast: bool
    shown: list[str] = field(default_factory=list)
    lines: list[PanelLine] = field(default_factory=list)
    restock: dict[str, list[Any]] | None = None
    restock_window: int | None = None


def inventory_frame(con: duckdb.DuckDBPyConnection, until: int | None = None) -> InventoryFrame:
    """Everything the inventory panel draws of a run by event time ``until``."""
    if not has_forecast(con):
        return InventoryFrame(False)
    shown = leading_forecast_products(con, until)
    if not shown:
        return InventoryFrame(True)
    demand = demand_so_far(con, shown, until)
    names = dict(zip(demand["product_id"], demand["product_name"], strict=True))
    labels = {p: product_label(p, names.get(p)) for p in shown}
    lines = []
    for pid in shown:
        rows = [i for i, p in enumerate(demand["product_id"]) if p == pid]
        known = [i for i in rows if demand["actual"][i] is not None]
        forecast_x = [int(demand["window_end"][i]) * 1000 for i in rows]
        forecast_y = [float(demand["forecast_units"][i]) for i in rows]
        lines.append(PanelLine("forecast", pid, labels[pid], forecast_x, forecast_y))
        actual_x = [int(demand["window_end"][i]) * 1000 for i in known]
        actual_y = [float(demand["actual"][i]) for i in known]
        lines.append(PanelLine("actual", pid, labels[pid], actual_x, actual_y))
    changes = stock_levels(con, shown, until)
    if changes["ts"]:
        lines += stock_lines(changes, shown, labels)
    else:
        lines += stock_from_forecasts(demand, shown, labels)
    restock = restock_list(con, until)
    window = max(restock["window_end"], default=None)
    if window is None:
        ((window,),) = con.execute(
            "SELECT max(window_end) FROM inventory_forecast "
            "WHERE $until IS NULL OR window_end <= $until",
            {"until": until},
        ).fetchall()
    return InventoryFrame(True, shown, lines, restock_columns(restock), window)
