"""The live view against a real broker: a run in progress on Kafka appears in headless Chromium,
and a report published afterwards reaches the open page without a reload."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from page_checks import (
    button,
    click_at_data_point,
    column_length,
    column_values,
    drawn,
    model_text,
    screenshot,
    set_value,
    severe_console_entries,
    wait_for,
)
from served_views import ServedViews, run_blocking
from view_runs import SMALL, synthetic_records

from fraudlab import codec
from fraudlab.kafka_io import create_topics, make_producer, quiet_kafka_logs, start_or_report
from fraudlab.records import (
    FraudAlerts,
    Record,
    RuleChangeRecord,
    RunEvent,
    Score,
    message_key,
)
from fraudlab.topics import run_topics, topic_name

pytestmark = [pytest.mark.kafka, pytest.mark.browser]


async def _publish(bootstrap: str, run_id: str, records: list[Record]) -> None:
    producer = make_producer(bootstrap)
    await start_or_report(producer, bootstrap)
    with quiet_kafka_logs():
        try:
            sent = [
                await producer.send(
                    topic_name(run_id, r.STREAM), codec.encode(r), message_key(r, run_id)
                )
                for r in records
            ]
            for future in sent:
                await future
        finally:
            await producer.stop()


def _in_progress(run_id: str) -> list[Record]:
    """The small synthetic run as far as it has gone: everything but the parts' ends."""
    return [
        r
        for r in synthetic_records(run_id, SMALL)
        if not (isinstance(r, RunEvent) and r.event == "finished")
    ]


@pytest.fixture
def live_run(bootstrap: str) -> str:
    run_id = f"live-{uuid.uuid4().hex[:8]}"
    run_blocking(create_topics(bootstrap, run_topics(run_id), 2))
    run_blocking(_publish(bootstrap, run_id, _in_progress(run_id)))
    return run_id


@pytest.fixture
def served_live(
    view_archive: Path, bootstrap: str, tmp_path: Path, live_run: str
) -> Iterator[ServedViews]:
    server = ServedViews(view_archive, bootstrap, tmp_path / "serve.log")
    yield server
    server.stop()


def test_a_run_in_progress_shows_live_and_keeps_updating(
    browser: Any, served_live: ServedViews, live_run: str, bootstrap: str, test_output: Path
) -> None:
    browser.get("about:blank")
    severe_console_entries(browser)
    browser.get(f"{served_live.url}/live?run={live_run}")
    assert wait_for(lambda: drawn(browser), timeout=30)
    windows = wait_for(
        lambda: column_length(browser, "fraud_timeline_source", "window_end") >= 25, timeout=60
    )
    assert windows, "the run's fraud-alerts reports never reached the page"
    assert wait_for(lambda: column_length(browser, "alert_map_source", "lat") > 0, timeout=20)
    assert wait_for(lambda: column_length(browser, "top_products_slot_0", "x") > 0, timeout=20)
    assert live_run in model_text(browser, "live_message")
    before = column_length(browser, "fraud_timeline_source", "window_end")

    # a later 10 s report arrives while the page is open
    last = max(r.window_end for r in _in_progress(live_run) if isinstance(r, FraudAlerts))
    late = FraudAlerts(last + 10 - 120, last + 10, 0, ())
    run_blocking(_publish(bootstrap, live_run, [late]))
    assert wait_for(
        lambda: column_length(browser, "fraud_timeline_source", "window_end") == before + 1,
        timeout=30,
    ), "a report published after the page opened did not reach it"
    assert wait_for(lambda: "in progress" in model_text(browser, "live_headline"), timeout=10)
    assert "precision" in model_text(browser, "live_headline")
    screenshot(browser, test_output, "live")
    assert severe_console_entries(browser) == []


def test_the_rules_in_force_show_and_the_form_changes_them(
    browser: Any, served_live: ServedViews, live_run: str, bootstrap: str, test_output: Path
) -> None:
    """A rule on the run's rules topic shows in force with the alerts it raised; the form adds a
    rule through `fraudlab rules add` and a bad one is refused in the command's sentence."""
    windows = [r for r in _in_progress(live_run) if isinstance(r, FraudAlerts)]
    start = min(w.window_start for w in windows)
    rule = '{"id": "burst", "description": "3 failed payments", "action": "flag", '
    rule += '"condition": "failed_payments >= 3.0"}'
    run_blocking(
        _publish(bootstrap, live_run, [RuleChangeRecord("add", "burst", start, rule, start)])
    )
    browser.get("about:blank")
    severe_console_entries(browser)
    browser.get(f"{served_live.url}/live?run={live_run}")
    assert wait_for(lambda: drawn(browser), timeout=30)
    assert wait_for(lambda: "burst" in model_text(browser, "live_rules"), timeout=60)
    table = model_text(browser, "live_rules")
    assert "in force since" in table and "failed_payments &gt;= 3.0" in table

    set_value(browser, "rule_id", "wallet")
    set_value(browser, "rule_description", "OVO payments")
    set_value(browser, "rule_condition", "payment_method == 'OVO'")
    button(browser, "add rule").click()
    said = wait_for(
        lambda: (
            "added to run" in model_text(browser, "rule_form_result")
            and model_text(browser, "rule_form_result")
        ),
        timeout=90,
    )
    assert said and f"rule wallet added to run {live_run}" in said
    assert wait_for(lambda: "wallet" in model_text(browser, "live_rules"), timeout=30)

    set_value(browser, "rule_id", "broken")
    set_value(browser, "rule_condition", "total_amount >")
    button(browser, "add rule").click()
    refused = wait_for(
        lambda: (
            'class="refused"' in model_text(browser, "rule_form_result")
            and model_text(browser, "rule_form_result")
        ),
        timeout=90,
    )
    assert refused and "condition" in refused and "broken" in refused
    screenshot(browser, test_output, "live-rules")
    assert severe_console_entries(browser) == []


def _with_challenger(records: list[Record]) -> list[Record]:
    """The records with a challenger's verdict in every score: m2 flags what the model flags
    and every transaction above 0.3 besides."""
    out: list[Record] = []
    for r in records:
        if isinstance(r, Score):
            p = r.model_probability if r.model_probability is not None else r.probability
            r = dataclasses.replace(
                r,
                challenger_name="m2",
                challenger_digest="e" * 64,
                challenger_probability=p,
                challenger_prediction=int(r.prediction == 1 or p > 0.3),
            )
        out.append(r)
    return out


def test_a_selected_bar_lists_its_alerts_and_a_challenger_shows_beside_the_model(
    browser: Any, view_archive: Path, bootstrap: str, tmp_path: Path, test_output: Path
) -> None:
    run_id = f"live-{uuid.uuid4().hex[:8]}"
    run_blocking(create_topics(bootstrap, run_topics(run_id), 2))
    run_blocking(_publish(bootstrap, run_id, _with_challenger(_in_progress(run_id))))
    server = ServedViews(view_archive, bootstrap, tmp_path / "serve.log")
    try:
        browser.get("about:blank")
        severe_console_entries(browser)
        browser.get(f"{server.url}/live?run={run_id}")
        assert wait_for(lambda: drawn(browser), timeout=30)
        assert wait_for(
            lambda: column_length(browser, "fraud_timeline_source", "window_end") >= 25,
            timeout=60,
        ), "the run's fraud-alerts reports never reached the page"
        headline = wait_for(
            lambda: "challenger precision" in model_text(browser, "live_headline"), timeout=20
        )
        assert headline, "the challenger's precision is not beside the model's"
        assert "challenger m2" in model_text(browser, "live_headline")
        ends = column_values(browser, "fraud_timeline_source", "window_end")
        alerts = column_values(browser, "fraud_timeline_source", "alerts")
        busiest = max(range(len(ends)), key=lambda i: (alerts[i], -i))
        click_at_data_point(browser, "fraud_timeline", ends[busiest] - 2_000, alerts[busiest] / 2)
        assert wait_for(
            lambda: "alert-row" in model_text(browser, "selected_alerts"), timeout=15
        ), "selecting a bar listed no alerts"
        text = model_text(browser, "selected_alerts")
        assert f"{alerts[busiest]:,} alerts" in text and "amount" in text
        screenshot(browser, test_output, "live-selected-bar")
        assert severe_console_entries(browser) == []
    finally:
        server.stop()
