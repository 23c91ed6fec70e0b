"""How well a run's demand forecast did, computed in DuckDB from its archive: the weighted
absolute percentage error of the forecast against what then sold, beside two baselines, and
the run's stock-outs.

WAPE = sum |actual - forecast| / sum actual, over every (window, product) pair (Kolassa and
Schütz, "Advantages of the MAD/MEAN ratio over the MAPE", Foresight 6, 2007: unlike the mean of
per-item percentage errors it stays defined for items that sell nothing, and weighs each item by
its volume). ``actual`` is a product's units sold in non-fraud transactions (the engine's
verdicts, as the report counts them) over the horizon after the window's end; a product that
sold without a forecast row counts with a forecast of 0. Only windows whose whole horizon lies
inside the run are measured.

The baselines are in every InventoryForecast row: ``naive_units`` (the last horizon's units
carried forward) and ``sales_only_units`` (the same method fitted on sales alone, without
browsing). A third, weaker one is the window's own ``units`` carried forward over the horizon
(a 30 s window's sales times the horizon's windows: the "last window's sales carried forward"
of a 30 s report). A ratio below 1 says the forecast beat the baseline.

An archive without inventory-forecast rows has no figures: None.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import duckdb

__all__ = ["ForecastQuality", "forecast_quality"]

_ERRORS = """
WITH f AS (
    SELECT window_end AS t, product_id,
           any_value(forecast_units) AS forecast,
           any_value(naive_units) AS naive,
           any_value(sales_only_units) AS sales_only,
           any_value(units * horizon_minutes * 60 / (window_end - window_start)) AS last_window
    FROM inventory_forecast GROUP BY ALL
),
horizon AS (SELECT max(horizon_minutes) * 60 AS s FROM inventory_forecast),
last_event AS (SELECT max(ts) AS ts FROM scores),
windows AS (
    SELECT DISTINCT f.t FROM f, horizon, last_event WHERE f.t + horizon.s <= last_event.ts + 1
),
sold AS (
    SELECT s.ts, line.product_id, line.quantity
    FROM (
        SELECT ts, unnest(from_json(
            product_metadata, '[{"product_id": "VARCHAR", "quantity": "BIGINT"}]'
        )) AS line
        FROM (SELECT DISTINCT ON (transaction_id) * FROM scores) AS s
        WHERE prediction = 0
    ) AS s
),
actual AS (
    SELECT w.t, sold.product_id, sum(sold.quantity) AS units
    FROM windows AS w, horizon, sold
    WHERE sold.ts >= w.t AND sold.ts < w.t + horizon.s
    GROUP BY ALL
),
pairs AS (
    SELECT coalesce(a.units, 0) AS actual,
           coalesce(f.forecast, 0) AS forecast,
           coalesce(f.naive, 0) AS naive,
           coalesce(f.sales_only, 0) AS sales_only,
           coalesce(f.last_window, 0) AS last_window
    FROM (SELECT f.* FROM f SEMI JOIN windows USING (t)) AS f
    FULL JOIN actual AS a USING (t, product_id)
)
SELECT (SELECT count(*) FROM windows),
       count(*),
       sum(actual),
       sum(abs(actual - forecast)),
       sum(abs(actual - naive)),
       sum(abs(actual - sales_only)),
       sum(abs(actual - last_window))
FROM pairs
"""

_STOCK = """
SELECT count(*) FILTER (WHERE change = 'stock_out'),
       coalesce(sum(quantity) FILTER (WHERE change = 'stock_out'), 0),
       count(DISTINCT product_id) FILTER (WHERE change = 'stock_out'),
       count(*) FILTER (WHERE change = 'restock_order')
FROM inventory
"""


@dataclass(frozen=True)
class ForecastQuality:
    """The forecast's error and its baselines' over one run (see the module doc)."""

    windows: int  # windows measured (their whole horizon inside the run)
    pairs: int  # (window, product) pairs measured
    actual_units: int
    wape: float | None  # None when nothing sold
    naive_wape: float | None
    sales_only_wape: float | None
    last_window_wape: float | None  # the window's own units carried forward over the horizon
    stock_outs: int  # inventory stream: checkouts that found too little stock
    units_turned_away: int
    products_out: int  # products that ran out at least once
    restock_orders: int

    @property
    def over_naive(self) -> float | None:
        """WAPE of the forecast over the naive forecast's (below 1: better)."""
        return _ratio(self.wape, self.naive_wape)

    @property
    def sales_only_over_naive(self) -> float | None:
        """WAPE of the sales-only forecast over the naive forecast's."""
        return _ratio(self.sales_only_wape, self.naive_wape)

    @property
    def over_last_window(self) -> float | None:
        """WAPE of the forecast over the last window's units carried forward."""
        return _ratio(self.wape, self.last_window_wape)

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "over_naive": self.over_naive,
            "sales_only_over_naive": self.sales_only_over_naive,
            "over_last_window": self.over_last_window,
        }


def _ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or not b else a / b


def _tables(con: duckdb.DuckDBPyConnection) -> set[str]:
    return {name for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}


def forecast_quality(con: duckdb.DuckDBPyConnection) -> ForecastQuality | None:
    """The forecast figures of the run whose file ``con`` has open; None without a forecast."""
    tables = _tables(con)
    if "inventory_forecast" not in tables:
        return None
    ((rows,),) = con.execute("SELECT count(*) FROM inventory_forecast").fetchall()
    if not rows:
        return None
    windows, pairs, actual, err, naive, sales_only, last = con.execute(_ERRORS).fetchall()[0]
    total = float(actual or 0)

    def wape(error: float | None) -> float | None:
        return None if not total else float(error or 0) / total

    stock = (0, 0, 0, 0)
    if "inventory" in tables:
        stock = con.execute(_STOCK).fetchall()[0]
    return ForecastQuality(
        windows=int(windows),
        pairs=int(pairs),
        actual_units=int(total),
        wape=wape(err),
        naive_wape=wape(naive),
        sales_only_wape=wape(sales_only),
        last_window_wape=wape(last),
        stock_outs=int(stock[0]),
        units_turned_away=int(stock[1]),
        products_out=int(stock[2]),
        restock_orders=int(stock[3]),
    )
