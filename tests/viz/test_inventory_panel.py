"""The inventory panel: its builders fed with lists, the panel's sources, the replay's DuckDB
queries on the synthetic runs (run-a has a stock stream and a forecast with a 1-minute horizon,
run-b the stock alone, the hand-made run neither) and the views that show them."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from bokeh.document import Document

from archive.files import reading
from archive.forecast_quality import forecast_quality
from fraudlab.settings import Settings
from viz.compare_view import build_compare
from viz.inventory_panel import (
    NO_FORECAST,
    InventoryPanel,
    PanelLine,
    demand_lines,
    leading_products,
    restock_columns,
    stock_from_forecasts,
    stock_lines,
)
from viz.inventory_queries import (
    demand_so_far,
    has_forecast,
    inventory_frame,
    leading_forecast_products,
    restock_list,
    stock_levels,
)
from viz.replay_view import NO_WINDOW_YET, build_replay

# two products over five 30 s windows, a 1-minute horizon (two windows)
ROWS = {
    "window_end": [30, 30, 60, 60, 90, 120, 150],
    "product_id": ["a", "b", "a", "b", "a", "a", "a"],
    "product_name": ["A", "B", "A", "B", "A", "A", "A"],
    "horizon_minutes": [1.0] * 7,
    "forecast_units": [4.0, 1.0, 5.0, 0.5, 6.0, 3.0, 2.0],
    "units": [1, 0, 2, 1, 3, 0, 4],
    "stock": [10, 5, 8, 4, None, 5, 1],
}


def _series(lines: list[PanelLine], series: str, pid: str) -> PanelLine:
    (line,) = [ln for ln in lines if ln.series == series and ln.product_id == pid]
    return line


def test_leading_products_have_the_most_forecast_units() -> None:
    assert leading_products(ROWS) == ["a", "b"]
    assert leading_products(ROWS, n=1) == ["a"]
    assert leading_products({"product_id": [], "forecast_units": []}) == []


def test_demand_lines_set_each_forecast_beside_what_then_sold_over_its_horizon() -> None:
    lines = demand_lines(ROWS, ["a", "b"])
    a_forecast = _series(lines, "forecast", "a")
    assert (a_forecast.x, a_forecast.y, a_forecast.label) == (
        [30_000, 60_000, 90_000, 120_000, 150_000],
        [4.0, 5.0, 6.0, 3.0, 2.0],
        "A (a)",
    )
    # after 30: windows 60 and 90 (2 + 3); after 60: 90 and 120; after 90: 120 and 150;
    # the horizons after 120 and 150 have not passed by the last window (150)
    a_actual = _series(lines, "actual", "a")
    assert (a_actual.x, a_actual.y) == ([30_000, 60_000, 90_000], [5.0, 3.0, 4.0])
    b_actual = _series(lines, "actual", "b")
    # b has no rows after 60: it sold nothing in the horizon after 60
    assert (b_actual.x, b_actual.y) == ([30_000, 60_000], [1.0, 0.0])
    known = _series(demand_lines(ROWS, ["a"], known_until=100), "actual", "a")
    assert known.x == [30_000], "live: only the horizons that have passed"


def test_stock_lines_follow_each_change_and_mark_the_stock_outs() -> None:
    changes = {
        "ts": [10, 20, 25, 30, 40],
        "product_id": ["a", "a", "b", "a", "a"],
        "change": ["opening", "sale", "sale", "stock_out", "restock_arrival"],
        "level": [3, 1, 7, 1, 13],
    }
    lines = stock_lines(changes, ["a"], {"a": "A (a)"})
    stock, outs = _series(lines, "stock", "a"), _series(lines, "stock_out", "a")
    assert (stock.x, stock.y, stock.label) == (
        [10_000, 20_000, 30_000, 40_000],
        [3.0, 1.0, 1.0, 13.0],
        "A (a)",
    )
    assert (outs.x, outs.y) == ([30_000], [1.0])
    from_reports = stock_from_forecasts(ROWS, ["a"])
    assert _series(from_reports, "stock", "a").y == [10.0, 8.0, 5.0, 1.0], "no stock: no point"
    assert _series(from_reports, "stock_out", "a").x == []


def test_the_restock_list_is_the_latest_window_s_shortest_cover_first() -> None:
    rows = {
        "window_end": [30, 60, 60, 60],
        "product_id": ["a", "b", "c", "d"],
        "product_name": ["A", "B", "C", "D"],
        "stock": [0, 3, 0, 9],
        "on_order": [0, 12, 0, 0],
        "forecast_units": [9.0, 20.0, 8.0, 1.0],
        "cover_minutes": [0.0, 0.15, 0.0, 9.0],
        "restock": [1, 1, 1, 0],
    }
    listed = restock_columns(rows)
    assert listed["product_id"] == ["c", "b"]
    assert listed["on_order"] == [0, 12]
    assert restock_columns({"window_end": []})["product_id"] == []


def test_the_panel_says_why_it_is_empty_then_fills_its_slots_and_streams() -> None:
    panel = InventoryPanel(n=2)
    Document().add_root(panel.layout)  # validates
    assert not panel.charts.visible and "No demand forecast" in panel.message.text
    lines = demand_lines(ROWS, ["a", "b"]) + stock_from_forecasts(ROWS, ["a", "b"])
    panel.draw(["a", "b"], lines, restock_columns({**ROWS, "restock": [False] * 7}), 150)
    assert panel.charts.visible and not panel.message.visible
    assert panel.slot_products == ["a", "b"]
    forecast_a = panel.slots["forecast"][0]
    assert list(forecast_a.data["y"]) == [4.0, 5.0, 6.0, 3.0, 2.0]
    assert "window ending" in panel.restock_title.text

    panel.draw(["a", "b"], [PanelLine("forecast", "a", "A (a)", [180_000], [7.0], full=False)])
    assert list(forecast_a.data["y"]) == [4.0, 5.0, 6.0, 3.0, 2.0, 7.0], "streamed on"
    panel.draw(["c", "a"], [PanelLine("forecast", "c", "C (c)", [30_000], [9.0])])
    assert panel.slot_products == ["a", "c"], "a keeps its slot (and colour); c takes b's"
    assert list(panel.slots["actual"][1].data["x"]) == [], "b's lines left with it"
    assert list(panel.slots["forecast"][1].data["y"]) == [9.0]
    panel.show_empty(NO_FORECAST)
    assert not panel.charts.visible and panel.slot_products == [None, None]


# ---- the replay's queries on archived runs -------------------------------------------------


def _raw_forecasts(con: duckdb.DuckDBPyConnection) -> dict[str, list[object]]:
    cursor = con.execute(
        "SELECT window_end, product_id, product_name, horizon_minutes, forecast_units, units, "
        "stock, on_order, cover_minutes, restock FROM inventory_forecast ORDER BY window_end"
    )
    names = [d[0] for d in cursor.description or ()]
    rows = cursor.fetchall()
    return {n: [r[i] for r in rows] for i, n in enumerate(names)}


def test_duckdb_finds_the_leading_products_and_what_they_then_sold(view_archive: Path) -> None:
    with reading(view_archive, "run-a") as con:
        raw = _raw_forecasts(con)
        assert len(raw["window_end"]) > 100
        shown = leading_forecast_products(con)
        assert shown == leading_products(raw)
        last = max(raw["window_end"])
        demand = demand_so_far(con, shown)
        python = demand_lines(raw, shown, known_until=last)
        for pid in shown:
            known = [
                (end * 1000, actual)
                for end, p, actual in zip(
                    demand["window_end"], demand["product_id"], demand["actual"], strict=True
                )
                if p == pid and actual is not None
            ]
            line = _series(python, "actual", pid)
            assert len(known) > 3
            assert known == list(zip(line.x, line.y, strict=True)), "DuckDB and Python agree"
        # by a clock two minutes earlier, the later windows and their horizons are unknown
        early = demand_so_far(con, shown, until=last - 120)
        assert max(early["window_end"]) <= last - 120
        ended = [
            e for e, a in zip(early["window_end"], early["actual"], strict=True) if a is not None
        ]
        assert max(ended) + 60 <= last - 120


def test_stock_levels_are_one_a_second_with_the_stock_outs(view_archive: Path) -> None:
    with reading(view_archive, "run-a") as con:
        shown = leading_forecast_products(con)
        levels = stock_levels(con, shown)
        outs = con.execute(
            "SELECT count(DISTINCT (ts, product_id)) FROM inventory "
            "WHERE change = 'stock_out' AND list_contains($p, product_id)",
            {"p": shown},
        ).fetchall()[0][0]
        assert outs > 0, "the popular products ran out"
        assert levels["change"].count("stock_out") == outs
        pairs = list(zip(levels["ts"], levels["product_id"], strict=True))
        assert len(pairs) == len(set(pairs))
        assert min(levels["level"]) >= 0
        assert stock_levels(con, shown, until=0)["ts"] == []


def test_the_restock_list_is_the_latest_window_s_up_to_the_clock(view_archive: Path) -> None:
    with reading(view_archive, "run-a") as con:
        raw = _raw_forecasts(con)
        listed = restock_list(con)
        assert listed["product_id"], "the popular products need restocking at the end"
        assert set(listed["window_end"]) == {max(raw["window_end"])}
        assert restock_columns(listed) == restock_columns(raw)
        frame = inventory_frame(con)
        assert frame.has_forecast and len(frame.shown) == 5
        assert frame.restock is not None and frame.restock["product_id"]
        assert {ln.series for ln in frame.lines} == {"forecast", "actual", "stock", "stock_out"}
        before = inventory_frame(con, until=1)
        assert before.has_forecast and before.shown == [] and before.lines == []


def test_runs_without_a_forecast_have_no_frame(view_archive: Path) -> None:
    for run_id in ("run-b", "hand-made", "empty"):
        with reading(view_archive, run_id) as con:
            assert not has_forecast(con), run_id
            assert not inventory_frame(con).has_forecast
    older = duckdb.connect()  # an archive from before the inventory streams: no such tables
    try:
        assert not has_forecast(older)
        assert stock_levels(older, ["p0"]) == {
            "ts": [],
            "product_id": [],
            "change": [],
            "level": [],
        }
    finally:
        older.close()


# ---- the views ------------------------------------------------------------------------------


def test_the_replay_draws_the_panel_by_its_clock(view_settings: Settings) -> None:
    view = build_replay(Document(), {"run": [b"run-a"]})
    panel = view.inventory
    assert panel.charts.visible
    assert len(panel.slots["forecast"][0].data["x"]) > 3
    assert len(panel.slots["stock_out"][0].data["x"]) > 0
    assert len(panel.restock.data["product_id"]) > 0
    view._on_seek("value_throttled", 0, 10)
    assert not panel.charts.visible and NO_WINDOW_YET[:20] in panel.message.text
    view._on_seek("value_throttled", 0, 100)
    assert panel.charts.visible
    view._on_pick("value", "run-a", "run-b")
    assert not panel.charts.visible and "No demand forecast in this run" in panel.message.text
    view.close()


def test_compare_shows_the_forecast_error_per_run(view_settings: Settings) -> None:
    view = build_compare(Document(), {"runs": [b"run-a,run-b"]})
    table = view.forecast_error.data
    assert table["run"] == ["#1 run-a", "#2 run-b"]
    with reading(view_settings.archive_dir, "run-a") as con:
        q = forecast_quality(con)
    assert q is not None and q.wape is not None and q.windows > 0
    assert table["wape"][0] == f"{q.wape:,.3f}"
    assert table["naive_wape"][0] == f"{q.naive_wape:,.3f}"
    assert table["sales_only_wape"][0] == f"{q.sales_only_wape:,.3f}"
    assert [table[c][1] for c in ("wape", "naive_wape", "sales_only_wape")] == ["-"] * 3


@pytest.mark.parametrize("run_id", ["hand-made"])
def test_compare_of_runs_without_a_forecast_says_so(view_settings: Settings, run_id: str) -> None:
    view = build_compare(Document(), {"runs": [run_id.encode()]})
    assert view.forecast_error.data["wape"] == ["-"]
