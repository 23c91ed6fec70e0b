"""What the forecast's restock list would have saved: ``fraudlab restock-check RUN``.

An archived scenario run holds its demand forecast (:class:`fraudlab.records.InventoryForecast`)
with the restock list of every 30 s window. Its scenario, seed, start and length are in the
producer's announcement, so the same world can be simulated again (:mod:`simulator.simulation`,
no Kafka, no Spark) twice: as it ran, and with the shop also ordering one lot of a product each
time the forecast put it on the restock list (``restock = 1`` at the window's end; not again
while that order is on its way). The stock-outs of the two are counted from their inventory
streams: the difference is what restocking on the forecast would have avoided, at the price of
the extra units ordered.

Both worlds are simulated here, by the same code, so the comparison does not depend on the
archive's own stock-outs (which the first simulation reproduces: same scenario, same seed).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import duckdb
import orjson

from fraudlab.errors import UsageError

__all__ = ["RestockCheck", "StockOuts", "restock_check", "restock_plan"]


@dataclass(frozen=True)
class StockOuts:
    """The stock-outs of one simulated world, and what its shop ordered."""

    stock_outs: int
    units_turned_away: int
    products_out: int
    restock_orders: int
    units_ordered: int


@dataclass(frozen=True)
class RestockCheck:
    """A run's world as it ran and with the forecast's restock list followed."""

    run_id: str
    scenario: str
    seed: int
    minutes: float
    listed: int  # (window, product) entries on the forecast's restock lists
    as_ran: StockOuts
    with_forecast: StockOuts

    @property
    def avoided(self) -> int:
        """Stock-outs that restocking on the forecast's list avoided."""
        return self.as_ran.stock_outs - self.with_forecast.stock_outs

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "avoided": self.avoided}


def restock_plan(con: duckdb.DuckDBPyConnection, start_ts: int) -> list[tuple[float, str]]:
    """(simulated seconds, product id) of every restock-list entry of the run ``con`` has open,
    at its window's end, in time order."""
    rows = con.execute(
        "SELECT DISTINCT window_end, product_id FROM inventory_forecast WHERE restock = 1 "
        "ORDER BY window_end, product_id"
    ).fetchall()
    return [(float(end - start_ts), str(product)) for end, product in rows]


def _announcement(con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, Any]:
    rows = con.execute(
        "SELECT details FROM run_events WHERE part = 'producer' AND event = 'started' "
        "ORDER BY ts, kafka_offset LIMIT 1"
    ).fetchall()
    details = json.loads(rows[0][0]) if rows and rows[0][0] else {}
    if not isinstance(details.get("scenario_text"), str):
        raise UsageError(
            f"run {run_id} was not produced from a scenario: only a scenario's world can be "
            "simulated again."
        )
    return dict(details)


def _count(messages: Any) -> StockOuts:
    stock_outs = turned_away = orders = ordered = 0
    out: set[str] = set()
    for m in messages:
        if m.stream != "inventory":
            continue
        change = orjson.loads(m.value)
        if change["change"] == "stock_out":
            stock_outs += 1
            turned_away += int(change["quantity"])
            out.add(change["product_id"])
        elif change["change"] == "restock_order":
            orders += 1
            ordered += int(change["quantity"])
    return StockOuts(stock_outs, turned_away, len(out), orders, ordered)


def restock_check(archive_dir: Path, run_id: str) -> RestockCheck:
    """Simulate run ``run_id``'s world as it ran and with its forecast's restock list followed
    (see the module doc). UsageError, in one sentence, for a run that is not a scenario's or
    has no restock list."""
    from archive.files import reading
    from simulator.clock import Clock, parse_start
    from simulator.scenario import parse_scenario
    from simulator.simulation import Simulation

    with reading(archive_dir, run_id) as con:
        details = _announcement(con, run_id)
        start = parse_start(str(details["start"]))
        plan = restock_plan(con, Clock(start).ts(0.0))
    if not plan:
        raise UsageError(
            f"run {run_id} has no restock list: its model forecasts no demand, or its scenario "
            "keeps no stock."
        )
    scenario = parse_scenario(details["scenario_text"], Path(f"run {run_id}'s scenario"))
    if details.get("customers") is not None:
        scenario = scenario.with_customers(int(details["customers"]))
    seed, minutes = int(details["seed"]), float(details["minutes"])
    as_ran = _count(Simulation(scenario, seed, start, minutes).messages())
    followed = _count(Simulation(scenario, seed, start, minutes, restock_plan=plan).messages())
    return RestockCheck(run_id, scenario.name, seed, minutes, len(plan), as_ran, followed)
