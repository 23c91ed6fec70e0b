"""The live fold and what a session is handed, with records written by hand (no Kafka).

Transactions (ts is event time): t1 fraud card_testing at 100, flagged; t2 legitimate at 105,
flagged; t3 fraud account_takeover at 112, not flagged; t5 legitimate at 125. One 10 s report
(window 0-120) lists t1 and t2; two 30 s reports list p1 and p2.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any

import pytest
from bokeh.document import Document

from fraudlab import codec
from fraudlab.records import (
    AlertedTransaction,
    FraudAlerts,
    Inventory,
    InventoryForecast,
    Record,
    RunEvent,
    Score,
    TopProduct,
    Truth,
)
from viz.alert_list import alert_list_html
from viz.live_feed import LiveFeed
from viz.live_state import TRUTH_WAIT_S, Cursor, LiveRun
from viz.live_view import LiveView
from viz.run_headline import run_status

RUN = "live-hand"


def _score(tid: str, ts: int, prediction: int) -> Score:
    return Score(tid, f"s-{tid}", f"c-{tid}", ts, 0.9, prediction, "m", "d", 100.0, 0, 0, "[]")


def _alerted(tid: str, ts: int, lat: float, long: float, p: float) -> AlertedTransaction:
    return AlertedTransaction(tid, f"s-{tid}", f"c-{tid}", ts, 100.0, lat, long, p)


WINDOW = FraudAlerts(
    0, 120, 2, (_alerted("t1", 100, -6.2, 106.8, 0.9), _alerted("t2", 105, -6.3, 106.7, 0.7))
)
RECORDS: list[Record] = [
    RunEvent(RUN, "producer", "started", json.dumps({"scenario": "hand"}), 1000),
    Truth("t1", True, "card_testing", 100),
    Truth("t2", False, "", 105),
    Truth("t3", True, "account_takeover", 112),
    Truth("t5", False, "", 125),
    _score("t1", 100, 1),
    _score("t2", 105, 1),
    _score("t3", 112, 0),
    WINDOW,
    WINDOW,  # the engine's sink repeated it
    TopProduct(90, 120, 1, "p1", "P1", 3, 300.0),
    TopProduct(90, 120, 2, "p2", "P2", 1, 500.0),
    TopProduct(120, 150, 1, "p1", "P1", 2, 400.0),
]


def _fold(run: LiveRun, records: Iterable[Record], now: float = 0.0) -> LiveRun:
    for r in records:
        run.add(r.STREAM, codec.encode(r), now)
    return run


@pytest.fixture
def run() -> LiveRun:
    folded = _fold(LiveRun(RUN), RECORDS)
    folded.release_windows(0.0)
    return folded


def test_reports_are_taken_once_with_the_truth_of_their_window(run: LiveRun) -> None:
    assert run.windows == [(120_000, 2, 2)]


def test_precision_and_recall_so_far(run: LiveRun) -> None:
    figures = {h.name: h.value for h in run.headline(now=1001)}
    assert figures["alerts"] == "2"
    assert figures["precision"] == "0.500"
    assert figures["recall"] == "0.500"
    assert figures["status"] == "in progress"


def test_map_cells_count_alerts_and_confirmed_patterns(run: LiveRun) -> None:
    rows = {(c["lat"], c["long"]): c for c in (cell.row(k) for k, cell in run.cells.items())}
    assert rows[(-6.0, 107.0)]["pattern"] == "card_testing"
    assert rows[(-6.0, 107.0)]["confirmed"] == 1
    assert rows[(-6.5, 106.5)]["pattern"] == "not confirmed"
    assert rows[(-6.5, 106.5)]["mean_probability"] == pytest.approx(0.7)


def test_a_fresh_cursor_gets_everything_then_only_what_is_new(run: LiveRun) -> None:
    cursor = Cursor()
    first = run.delta(cursor, "<h>")
    assert first.windows["window_end"] == [120_000]
    assert first.shown == ["p1", "p2"]
    assert [(t.product_id, t.x, t.y, t.full) for t in first.top] == [
        ("p1", [120_000, 150_000], [300.0, 700.0], True),
        ("p2", [120_000], [500.0], True),
    ]
    assert len(first.cells) == 2
    assert run.delta(cursor, "<h>").empty

    _fold(run, [TopProduct(120, 150, 2, "p2", "P2", 1, 100.0)])
    appended = run.delta(cursor, "<h>")
    assert [(t.product_id, t.x, t.y, t.full) for t in appended.top] == [
        ("p2", [150_000], [600.0], False)
    ]

    # a report of an earlier window read late (it sat on another partition)
    _fold(run, [TopProduct(60, 90, 1, "p2", "P2", 1, 1000.0)])
    redrawn = run.delta(cursor, "<h>")
    assert redrawn.shown == ["p2", "p1"]
    assert [(t.product_id, t.y, t.full) for t in redrawn.top] == [
        ("p2", [1000.0, 1500.0, 1600.0], True)
    ]


def test_a_report_waits_for_the_truth_of_its_window(run: LiveRun) -> None:
    later = FraudAlerts(10, 130, 1, (_alerted("t4", 125, 3.6, 98.7, 0.8),))
    _fold(run, [later], now=5.0)
    run.release_windows(6.0)
    assert len(run.windows) == 1, "the truth has not reached 130 yet"
    cursor = Cursor()
    run.delta(cursor, None)
    _fold(run, [Truth("t4", True, "regional_fraud_ring", 125)])
    changed = run.delta(cursor, None).cells
    assert [(c["lat"], c["long"], c["pattern"]) for c in changed] == [
        (3.5, 98.5, "regional_fraud_ring")
    ]
    run.release_windows(5.0 + TRUTH_WAIT_S)
    assert run.windows[-1] == (130_000, 1, 3)


def test_undecodable_values_are_counted_and_skipped() -> None:
    run = LiveRun(RUN)
    run.add("scores", b"not json", 0.0)
    run.add("fraud-alerts", b'{"window_start": 1}', 0.0)
    assert run.undecodable == 2
    assert run.flagged == 0


def test_status_follows_the_parts() -> None:
    run = _fold(LiveRun(RUN), RECORDS[:1])
    assert run_status(run.info, 1001) == "in progress"
    _fold(run, [RunEvent(RUN, "producer", "finished", "{}", 1100)])
    assert run_status(run.info, 1101) == "complete"
    _fold(run, [RunEvent(RUN, "engine", "progress", "{}", 1100)])
    assert run_status(run.info, 1110) == "in progress", "the engine still scores the run"
    assert run_status(run.info, 1100 + 61) != "in progress", "an engine silent for a minute"


def _run_next_ticks(doc: Document) -> None:
    # no server here: run the callbacks the feed scheduled on the document ourselves
    for callback in list(doc.session_callbacks):
        doc.remove_next_tick_callback(callback)  # type: ignore[arg-type]
        callback.callback()


def _length(view: LiveView, source: Any, column: str) -> int:
    return len(source.data[column])


def test_the_view_draws_a_subscription_and_streams_what_follows() -> None:
    feed = LiveFeed("127.0.0.1:9")  # never started: fed by hand
    for r in RECORDS:
        feed.fold(RUN, r.STREAM, codec.encode(r))
    assert [c.run_id for c in feed.runs()] == [RUN]
    doc = Document()
    view = LiveView(doc, feed)
    view.follow(RUN)
    assert list(view.timeline.data["window_end"]) == [120_000]
    assert view.charts.slot_products[:2] == ["p1", "p2"]
    assert list(view.charts.slots[0].data["y"]) == [300.0, 700.0]
    assert _length(view, view.alerts, "lat") == 2
    assert "0.500" in view.charts.headline.text

    feed.fold(RUN, "truth", codec.encode(Truth("t9", True, "card_testing", 200)))
    feed.fold(RUN, "truth", codec.encode(Truth("t10", False, "", 215)))
    later = FraudAlerts(90, 210, 1, (_alerted("t9", 200, -6.2, 106.8, 0.95),))
    feed.fold(RUN, "fraud-alerts", codec.encode(later))
    feed.fold(RUN, "top-products", codec.encode(TopProduct(150, 180, 1, "p1", "P1", 1, 50.0)))
    assert feed.publish() == 1
    _run_next_ticks(doc)
    assert list(view.timeline.data["window_end"]) == [120_000, 210_000]
    assert list(view.charts.slots[0].data["y"]) == [300.0, 700.0, 750.0]
    assert _length(view, view.alerts, "lat") == 2, "the cell was patched, not added"
    assert list(view.alerts.data["alerts"]).count(2) == 1

    view._on_destroyed(None)
    assert feed.publish() == 0


def test_a_waiting_view_takes_the_first_run_that_starts() -> None:
    feed = LiveFeed("127.0.0.1:9")
    doc = Document()
    view = LiveView(doc, feed)
    view.follow(None)
    assert view.run_id is None
    assert "no run in progress" in view.message.text
    for r in RECORDS:
        feed.fold(RUN, r.STREAM, codec.encode(r))
    feed.publish()
    _run_next_ticks(doc)
    assert view.run_id == RUN
    assert view.picker.value == RUN
    assert list(view.timeline.data["window_end"]) == [120_000]


def test_engine_lag_is_on_the_clock_with_its_event_time_beside_it() -> None:
    # truth up to 125, scores up to 112: 13 s of event time behind
    fast = _fold(LiveRun(RUN), RECORDS)
    assert fast.lag_seconds() == 13
    lag = fast.lag_headline()
    assert (lag.value, lag.hint) == ("13 s", "event time"), "a run sent as fast as it goes"

    paced = _fold(
        LiveRun(RUN),
        [RunEvent(RUN, "producer", "started", json.dumps({"speed": 20}), 1000), *RECORDS[1:]],
    )
    lag = paced.lag_headline()
    assert (lag.value, lag.hint) == ("0.7 s", "13 s of event time at 20x")


def test_the_rules_table_shows_each_rule_at_the_engines_event_time_and_its_alerts() -> None:
    from collections import Counter

    from fraudlab.records import RuleChangeRecord
    from viz.rules_panel import rule_lines

    rule = '{"id": "burst", "action": "raise", "score": 0.95, "condition": "n_items > 3.0"}'
    flagged = FraudAlerts(
        0,
        120,
        2,
        (
            AlertedTransaction("t1", "s1", "c1", 100, 10.0, -6.2, 106.8, 0.95, "model,burst"),
            AlertedTransaction("t2", "s2", "c2", 105, 10.0, -6.2, 106.8, 0.9, "model"),
        ),
    )
    later = FraudAlerts(10, 130, 2, flagged.transactions)  # the same alerts, counted once
    records: list[Record] = [
        RuleChangeRecord("add", "burst", 90, rule, 90),
        RuleChangeRecord("disable", "burst", 200, None, 200),
        RuleChangeRecord("add", "late", 300, '{"id": "late", "condition": "true"}', 300),
        _score("t1", 100, 1),
        _score("t2", 105, 1),
        flagged,
        later,
    ]
    run = _fold(LiveRun(RUN), records)
    assert run.alert_reasons == Counter({"model": 2, "burst": 1})
    lines = rule_lines(run.rule_changes, run.latest_score_ts)
    assert [(r.rule_id, r.state, r.since, r.action) for r in lines] == [
        ("burst", "in force", 90, "raise to 0.95"),
        ("late", "scheduled", 300, "flag"),
    ]
    table = run.rules_table()
    assert "<td>burst</td><td>in force since 00:01:30</td>" in table
    assert "<td>late</td><td>from 00:05:00</td>" in table
    cursor = Cursor()
    assert run.delta(cursor, None).rules == table
    assert run.delta(cursor, None).rules is None, "unchanged: not handed over again"
    _fold(run, [_score("t9", 250, 0)])
    assert "<td>burst</td><td>disabled at 00:03:20</td>" in run.rules_table()


def test_a_window_or_a_cell_lists_its_alerts_with_their_reasons_and_truth(run: LiveRun) -> None:
    explained = AlertedTransaction(
        "t4", "s-t4", "c-t4", 130, 250.0, -6.2, 106.8, 0.95, "model,big-order",
        '{"bias":-2.0,"others":0.0,"top":[{"feature":"distance_km","value":812.0,'
        '"contribution":1.5}]}',
    )  # fmt: skip
    _fold(run, [FraudAlerts(10, 130, 2, (WINDOW.transactions[0], explained))])
    window = run.alerts_in_window(120_000)
    assert [(r.transaction_id, r.truth) for r in window] == [
        ("t1", "fraud: card_testing"),
        ("t2", "legitimate"),
    ]
    cell = run.alerts_in_cell(-6.1, 106.9)  # t1 and t4 ship to the same 0.5-degree cell
    assert [r.transaction_id for r in cell] == ["t1", "t4"]
    assert cell[1].truth is None and cell[1].reasons == "model,big-order"
    assert run.alerts_in_window(999_000) == [] and run.alerts_in_cell(0.0, 0.0) == []
    page = alert_list_html(run.alerts_in_window(130_000), "window")
    assert "ships 812 km from home: +1.50" in page and "big-order" in page
    assert page.index("t4") < page.index("t1")  # the most probable first


def test_a_challenger_s_precision_and_recall_show_beside_the_champion_s() -> None:
    def beside(score: Score, prediction: int) -> Score:
        return dataclasses.replace(
            score,
            challenger_name="m2",
            challenger_digest="e" * 64,
            challenger_probability=0.5,
            challenger_prediction=prediction,
        )

    # the challenger flags t1 and t3 (both frauds), not t2: precision 1.0, recall 1.0
    records = [
        beside(r, {"t1": 1, "t2": 0, "t3": 1}[r.transaction_id]) if isinstance(r, Score) else r
        for r in RECORDS
    ]
    folded = _fold(LiveRun(RUN), records)
    figures = {h.name: (h.value, h.hint) for h in folded.headline(now=1001)}
    assert figures["precision"][0] == "0.500"
    assert figures["challenger precision"] == ("1.000", "challenger m2")
    assert figures["challenger recall"] == ("1.000", "challenger m2")
    alone = {h.name for h in _fold(LiveRun(RUN), RECORDS).headline(now=1001)}
    assert "challenger precision" not in alone


# ---- the inventory panel ----------------------------------------------------------------------


def _forecast(end: int, pid: str, forecast: float, units: int, **stock: Any) -> InventoryForecast:
    return InventoryForecast(
        end - 30, end, pid, pid.upper(), 1.0, forecast, 0.0, 0.0, 0, 0, units, **stock
    )


def _change(pid: str, change: str, level: int, ts: int) -> Inventory:
    return Inventory(pid, change, 1, level, 0, 2, 1.0, "", "", ts)


STOCKED = {"stock": 1, "on_order": 0, "cover_minutes": 0.5, "restock": 1}
INVENTORY: list[Record] = [
    _change("p1", "opening", 5, 0),
    _change("p1", "sale", 3, 20),
    _forecast(30, "p1", 4.0, 2, **STOCKED),
    _forecast(30, "p2", 1.0, 0),
    _forecast(30, "p1", 4.0, 2, **STOCKED),  # the engine's sink repeated it
    _change("p1", "stock_out", 3, 40),
    _forecast(60, "p1", 5.0, 1, **STOCKED),
    _forecast(90, "p1", 6.0, 3, **STOCKED),
    _forecast(90, "p2", 2.0, 1, stock=9, on_order=0, cover_minutes=9.0, restock=0),
]


def _panel_lines(delta: Any) -> dict[tuple[str, str], tuple[list[int], list[float], bool]]:
    return {(ln.series, ln.product_id): (ln.x, ln.y, ln.full) for ln in delta.inventory.lines}


def test_the_inventory_streams_are_folded_once_and_handed_over_as_lines() -> None:
    run = _fold(LiveRun(RUN), INVENTORY)
    assert run.inventory.forecast_total == {"p1": 15.0, "p2": 3.0}, "the repeat is taken once"
    cursor = Cursor()
    first = run.delta(cursor, None)
    assert first.inventory is not None and first.inventory.shown == ["p1", "p2"]
    lines = _panel_lines(first)
    assert lines[("forecast", "p1")] == ([30_000, 60_000, 90_000], [4.0, 5.0, 6.0], True)
    # the 1-minute horizon after 30 (windows 60 and 90) has passed by the latest window, 90
    assert lines[("actual", "p1")] == ([30_000], [4.0], True)
    assert lines[("stock", "p1")] == ([0, 20_000, 40_000], [5.0, 3.0, 3.0], True)
    assert lines[("stock_out", "p1")] == ([40_000], [3.0], True)
    assert first.inventory.restock is not None
    assert first.inventory.restock["product_id"] == ["p1"], "the latest window's to restock"
    assert first.inventory.restock_window == 90
    assert run.delta(cursor, None).empty

    _fold(run, [_forecast(120, "p1", 2.0, 4, **STOCKED), _change("p1", "sale", 2, 100)])
    streamed = _panel_lines(run.delta(cursor, None))
    assert streamed[("forecast", "p1")] == ([120_000], [2.0], False)
    assert streamed[("actual", "p1")] == ([60_000], [7.0], False), "windows 90 and 120"
    assert streamed[("stock", "p1")] == ([100_000], [2.0], False)
    assert ("forecast", "p2") not in streamed, "nothing new of p2"

    # a window read late (another partition) changes what p1 sold after 30: drawn anew
    _fold(run, [_forecast(45, "p1", 1.0, 5, **STOCKED)])
    redrawn = _panel_lines(run.delta(cursor, None))
    assert redrawn[("actual", "p1")] == ([30_000, 45_000, 60_000], [9.0, 4.0, 7.0], True)


def test_the_inventory_fold_stays_bounded() -> None:
    from viz.live_inventory import LIVE_WINDOWS, STOCK_POINTS

    run = LiveRun(RUN)
    records: list[Record] = [
        _forecast(30 * (i + 1), "p1", 1.0, 1) for i in range(LIVE_WINDOWS + 20)
    ] + [_change("p1", "sale", 1, i) for i in range(STOCK_POINTS + 20)]
    _fold(run, records)
    assert len(run.inventory.windows["p1"]) == LIVE_WINDOWS
    assert min(run.inventory.windows["p1"]) == 30 * 21, "the oldest windows rolled out"
    assert len(run.inventory.levels["p1"]) == STOCK_POINTS
    _fold(run, [_forecast(30, "p1", 50.0, 1)])
    assert run.inventory.forecast_total["p1"] == LIVE_WINDOWS + 20, (
        "a rolled-out window is not back"
    )


def test_a_run_without_a_forecast_hands_over_no_panel_and_the_view_says_so() -> None:
    run = _fold(LiveRun(RUN), [*RECORDS, _change("p1", "opening", 5, 0)])
    assert run.delta(Cursor(), None).inventory is not None  # shown: [] is news once
    feed = LiveFeed("127.0.0.1:9")
    for r in RECORDS:
        feed.fold(RUN, r.STREAM, codec.encode(r))
    view = LiveView(Document(), feed)
    view.follow(RUN)
    assert not view.charts.inventory.charts.visible
    assert "No demand forecast yet" in view.charts.inventory.message.text


def test_the_live_view_draws_the_inventory_panel_and_streams_onto_it() -> None:
    feed = LiveFeed("127.0.0.1:9")
    for r in [*RECORDS, *INVENTORY]:
        feed.fold(RUN, r.STREAM, codec.encode(r))
    doc = Document()
    view = LiveView(doc, feed)
    view.follow(RUN)
    panel = view.charts.inventory
    assert panel.charts.visible and panel.slot_products[:2] == ["p1", "p2"]
    assert list(panel.slots["forecast"][0].data["y"]) == [4.0, 5.0, 6.0]
    assert list(panel.slots["stock_out"][0].data["x"]) == [40_000]
    assert list(panel.restock.data["product_id"]) == ["p1"]
    feed.fold(RUN, "inventory-forecast", codec.encode(_forecast(120, "p1", 2.0, 4, **STOCKED)))
    feed.publish()
    _run_next_ticks(doc)
    assert list(panel.slots["forecast"][0].data["y"]) == [4.0, 5.0, 6.0, 2.0]
    assert list(panel.slots["actual"][0].data["y"]) == [4.0, 7.0]
