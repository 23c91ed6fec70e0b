"""The served views in headless Chromium: each page draws its plots with data, the console stays
free of errors, play moves the replay forward, and pages of other origins are refused."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from page_checks import (
    button,
    buttons,
    canvases,
    click_at_data_point,
    column_length,
    column_values,
    drawn,
    model_text,
    screenshot,
    severe_console_entries,
    wait_for,
)
from tornado.httpclient import HTTPClientError, HTTPRequest
from tornado.websocket import websocket_connect

pytestmark = pytest.mark.browser


def _open(driver: Any, url: str) -> None:
    # leave the last page first, and forget what it logged: each test reads its own page's log
    driver.get("about:blank")
    severe_console_entries(driver)
    driver.get(url)
    assert wait_for(lambda: drawn(driver), timeout=30), f"{url} never finished drawing"


def test_replay_draws_the_run_and_play_moves_it_forward(
    browser: Any, served_views: Any, test_output: Path
) -> None:
    _open(browser, f"{served_views.url}/replay?run=run-a&at=60&speed=20x")
    assert canvases(browser) >= 3
    before = column_length(browser, "fraud_timeline_source", "window_end")
    assert before > 0, "the timeline shows the reports of the first minute"
    assert column_length(browser, "alert_map_source", "lat") > 0
    assert column_length(browser, "top_products_slot_0", "x") > 0
    screenshot(browser, test_output, "replay-before-play")

    button(browser, "play").click()
    assert wait_for(lambda: buttons(browser, "pause"), timeout=10), "play did not turn to pause"
    assert wait_for(
        lambda: column_length(browser, "fraud_timeline_source", "window_end") > before + 5,
        timeout=30,
    ), "pressing play did not bring new report windows"
    screenshot(browser, test_output, "replay")
    assert column_length(browser, "truth_map_source", "lat") > 0
    assert severe_console_entries(browser) == []


_SCROLL_TO = """
const model = Bokeh.documents[0].get_model_by_name(arguments[0]);
const view = model === null ? null : Bokeh.index.find_one(model);
if (view == null) return false;
view.el.scrollIntoView({block: 'start'});
return true;
"""


def _table_rows(driver: Any, table: str) -> list[str]:
    """The text of each row the named DataTable drew (SlickGrid rows, in its shadow root)."""
    found = driver.execute_script(
        """
        const model = Bokeh.documents[0].get_model_by_name(arguments[0]);
        const view = model === null ? null : Bokeh.index.find_one(model);
        if (view == null) return null;
        const root = view.shadow_el ?? view.el;
        return Array.from(root.querySelectorAll('.slick-row')).map((r) => r.innerText);
        """,
        table,
    )
    assert found is not None, f"no table named {table!r} drawn on the page"
    return [str(row) for row in found]


def test_replay_shows_the_inventory_panel(
    browser: Any, served_views: Any, test_output: Path
) -> None:
    _open(browser, f"{served_views.url}/replay?run=run-a&at=end")
    assert "Restock list (window ending" in model_text(browser, "restock_title")
    assert column_length(browser, "inventory_forecast_slot_0", "x") > 3
    assert column_length(browser, "inventory_actual_slot_0", "x") > 3
    assert column_length(browser, "inventory_stock_out_slot_0", "x") > 0
    listed = column_length(browser, "restock_source", "product_id")
    assert listed > 0
    assert browser.execute_script(_SCROLL_TO, "inventory_panel")
    rows = wait_for(lambda: _table_rows(browser, "restock_table"), timeout=10)
    assert len(rows) == min(listed, len(rows)) and rows, "the restock table drew no rows"
    assert "Product 0" in "\n".join(rows) or "Product 1" in "\n".join(rows)
    screenshot(browser, test_output, "replay-inventory")

    _open(browser, f"{served_views.url}/replay?run=run-b&at=end")
    assert "No demand forecast in this run" in model_text(browser, "inventory_message")
    assert column_length(browser, "inventory_forecast_slot_0", "x") == 0
    assert severe_console_entries(browser) == []


def test_compare_draws_every_chart(browser: Any, served_views: Any, test_output: Path) -> None:
    _open(browser, f"{served_views.url}/compare?runs=run-a,run-b")
    assert canvases(browser) >= 4
    assert column_length(browser, "compare_timeline_source", "xs") == 2
    assert column_length(browser, "recall_source", "x") > 0
    assert column_length(browser, "alert_overlap_source", "combination") >= 2
    assert column_length(browser, "map_difference_source", "lat") > 0
    assert column_values(browser, "forecast_error_source", "run") == ["#1 run-a", "#2 run-b"]
    wape = column_values(browser, "forecast_error_source", "wape")
    assert wape[0] != "-" and float(wape[0]) > 0 and wape[1] == "-"
    assert browser.execute_script(_SCROLL_TO, "forecast_error_table")
    rows = wait_for(lambda: _table_rows(browser, "forecast_error_table"), timeout=10)
    assert len(rows) == 2 and "run-b" in rows[1]
    screenshot(browser, test_output, "compare")
    assert severe_console_entries(browser) == []


def test_live_page_draws_without_a_broker(
    browser: Any, served_views: Any, test_output: Path
) -> None:
    _open(browser, f"{served_views.url}/live")
    assert canvases(browser) >= 3
    assert "no run in progress" in model_text(browser, "live_message")
    screenshot(browser, test_output, "live-without-broker")
    assert severe_console_entries(browser) == []


def test_index_lists_the_runs_and_links_the_views(
    browser: Any, served_views: Any, test_output: Path
) -> None:
    browser.get("about:blank")
    severe_console_entries(browser)
    browser.get(served_views.url + "/")
    text = browser.find_element("tag name", "body").text
    for run_id in ("run-a", "run-b", "hand-made"):
        assert run_id in text
    links = {a.get_attribute("href") for a in browser.find_elements("tag name", "a")}
    for app in ("live", "replay", "compare"):
        assert f"{served_views.url}/{app}" in links
    screenshot(browser, test_output, "index")
    assert severe_console_entries(browser) == []


async def _websocket_status(url: str, origin: str, token: str) -> int:
    request = HTTPRequest(url, headers={"Origin": origin})
    try:
        connection = await websocket_connect(request, subprotocols=["bokeh", token])
    except HTTPClientError as exc:
        return exc.code
    connection.close()
    return 101


def _session_token(page_url: str) -> str:
    with urllib.request.urlopen(page_url, timeout=30) as answer:
        page = answer.read().decode()
    found = re.search(r'"token":"([^"]+)"', page)
    assert found, "the page carries no session token"
    return found.group(1)


def test_a_websocket_from_a_foreign_origin_is_refused(served_views: Any) -> None:
    ws = served_views.url.replace("http://", "ws://") + "/replay/ws"
    token = _session_token(f"{served_views.url}/replay?run=hand-made")
    assert asyncio.run(_websocket_status(ws, "http://attacker.example", token)) == 403
    own = f"http://localhost:{served_views.port}"
    assert asyncio.run(_websocket_status(ws, own, token)) == 101


def test_the_index_refuses_a_foreign_origin(served_views: Any) -> None:
    request = urllib.request.Request(
        served_views.url + "/", headers={"Origin": "http://attacker.example"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 403


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
def test_the_views_work_through_either_loopback_name(
    browser: Any, served_views: Any, host: str
) -> None:
    _open(browser, f"http://{host}:{served_views.port}/replay?run=run-a&at=60")
    assert column_length(browser, "fraud_timeline_source", "window_end") > 0
    assert severe_console_entries(browser) == []


def test_served_on_every_address_the_views_work_through_the_machine_s_names(
    browser: Any, view_archive: Path, tmp_path: Path
) -> None:
    """``--address 0.0.0.0``: a page opened through the host name or an interface address gets
    its websocket (before, only the origin 0.0.0.0 was allowed, and such pages stayed blank)."""
    from served_views import ServedViews

    from viz.server import machine_names

    addresses = [n for n in machine_names() if re.fullmatch(r"[0-9.]+", n) and n != "127.0.0.1"]
    hosts = [socket.gethostname(), *addresses[:1]]
    served = ServedViews(view_archive, "127.0.0.1:9", tmp_path / "serve.log", address="0.0.0.0")
    try:
        for host in hosts:
            _open(browser, f"http://{host}:{served.port}/replay?run=run-a&at=60")
            assert column_length(browser, "fraud_timeline_source", "window_end") > 0, host
            assert severe_console_entries(browser) == [], host
    finally:
        served.stop()


def test_an_open_replay_page_leaves_the_run_s_file_free_for_its_archiver(
    browser: Any, fresh_run_folder: Path, tmp_path: Path
) -> None:
    """A page playing a run holds its file only for the milliseconds of each redraw: an
    archiver resuming that run opens it for writing, and the page then says the run is being
    archived (naming the archiver's process) instead of failing."""
    from served_views import ServedViews

    from archive.writer import ArchiveWriter

    served = ServedViews(fresh_run_folder, "127.0.0.1:9", tmp_path / "serve.log")
    try:
        _open(browser, f"{served.url}/replay?run=run-a&at=0&speed=1x")
        button(browser, "play").click()
        assert wait_for(lambda: buttons(browser, "pause"), timeout=10)
        writer = ArchiveWriter.open(fresh_run_folder, "run-a")  # as `fraudlab archive` resuming
        try:
            said = wait_for(
                lambda: "still being archived" in model_text(browser, "replay_message"),
                timeout=30,
            )
            assert said, model_text(browser, "replay_message")
            assert f"pid {os.getpid()}" in model_text(browser, "replay_message")
            assert wait_for(lambda: buttons(browser, "play"), timeout=10), "play did not pause"
        finally:
            writer.close()
        assert severe_console_entries(browser) == []
    finally:
        served.stop()


def test_selecting_a_bar_or_a_bubble_lists_its_alerts_with_their_reasons(
    browser: Any, served_views: Any, test_output: Path
) -> None:
    _open(browser, f"{served_views.url}/replay?run=run-a&at=end")
    assert "Select a bar" in model_text(browser, "selected_alerts")
    ends = column_values(browser, "fraud_timeline_source", "window_end")
    alerts = column_values(browser, "fraud_timeline_source", "alerts")
    busiest = max(range(len(ends)), key=lambda i: (alerts[i], -i))
    # the engine's bar stands left of the window's end (beside it, the truth's)
    click_at_data_point(browser, "fraud_timeline", ends[busiest] - 2_000, alerts[busiest] / 2)
    listed = wait_for(lambda: "alert-row" in model_text(browser, "selected_alerts"), timeout=15)
    assert listed, "selecting a bar listed no alerts"
    text = model_text(browser, "selected_alerts")
    assert f"{alerts[busiest]:,} alerts" in text
    assert "amount" in text and "log-odds" in text  # each alert with its top reasons in words
    screenshot(browser, test_output, "replay-selected-bar")

    lats = column_values(browser, "alert_map_source", "lat")
    longs = column_values(browser, "alert_map_source", "long")
    counts = column_values(browser, "alert_map_source", "alerts")
    biggest = max(range(len(lats)), key=lambda i: (counts[i], -i))
    click_at_data_point(browser, "fraud_map", longs[biggest], lats[biggest])
    heading = f"shipments near ({lats[biggest]:g}, {longs[biggest]:g})"
    assert wait_for(lambda: heading in model_text(browser, "selected_alerts"), timeout=15), (
        "selecting a bubble listed nothing"
    )
    assert f"{counts[biggest]:,} alerts" in model_text(browser, "selected_alerts")
    screenshot(browser, test_output, "replay-selected-bubble")
    assert severe_console_entries(browser) == []
