"""Runs started, paused, re-paced and stopped from the browser, against a real broker, the
engine's own Spark and real archive files, in headless Chromium.

The index page's form starts ``fraudlab run`` (the same plan as at a terminal); /live's
controls go through the run's control topic. Screenshots of each step are kept under
``var/test-output/viz`` (start-form, start-refused, live-playing, live-paused, live-stopped).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from page_checks import button, drawn, model_text, screenshot, set_value, wait_for
from run_results import alert_set, read, run_events
from run_settings import own_run_settings
from served_views import ServedViews

from fraudlab.blocking_kafka import BlockingKafka
from fraudlab.settings import Settings
from fraudlab.topics import topic_name

pytestmark = [pytest.mark.kafka, pytest.mark.spark, pytest.mark.browser, pytest.mark.slow]

SEED, MINUTES, SPEED = 7, 3, 10


@pytest.fixture
def start_settings(settings: Settings, tiny_model: Any, tmp_path: Path) -> Path:
    """A settings file with the tiny model and this test's own archive, checkpoints and logs."""
    return own_run_settings(settings, tiny_model.folder.parent, tmp_path)


def _fraudlab(
    settings_file: Path, *args: str, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "lab", "--settings", str(settings_file), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def _status(settings_file: Path, run_id: str) -> str | None:
    done = _fraudlab(settings_file, "runs", "--json")
    assert done.returncode == 0, done.stderr
    return {r["run_id"]: r["status"] for r in json.loads(done.stdout)}.get(run_id)


def _wait_for_status(settings_file: Path, run_id: str, status: str, timeout_s: float) -> None:
    found = wait_for(lambda: _status(settings_file, run_id) == status, timeout_s, every=2.0)
    assert found, f"run {run_id} is not {status} after {timeout_s:.0f} s"


def _fill_start_form(driver: Any, scenario: str, **fields: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element(By.ID, "start_scenario")).select_by_value(scenario)
    Select(driver.find_element(By.ID, "start_model")).select_by_value("tiny")
    for name, value in fields.items():
        box = driver.find_element(By.ID, f"start_{name}")
        box.clear()
        box.send_keys(value)


def _start(driver: Any) -> str:
    """Press start; the run id of the /live page it opens."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.ID, "start_run").click()
    assert wait_for(lambda: "/live" in driver.current_url, timeout=120), driver.page_source[-2000:]
    (run_id,) = parse_qs(urlparse(driver.current_url).query)["run"]
    assert wait_for(lambda: drawn(driver), timeout=60)
    return str(run_id)


def _held(bootstrap: str, run_id: str) -> int:
    topics = [topic_name(run_id, s) for s in ("browsing", "transactions")]
    with BlockingKafka(bootstrap) as kafka:
        return sum(kafka.end_offsets(topics).values())


def _produced_digest(bootstrap: str, run_id: str) -> str:
    (finished,) = [
        e for e in run_events(bootstrap, run_id) if e.part == "producer" and e.event == "finished"
    ]
    return str(json.loads(finished.details)["digest"]["sha256"])


def test_a_run_started_paused_and_stopped_from_the_page(
    browser: Any, start_settings: Path, settings: Settings, tmp_path: Path, test_output: Path
) -> None:
    from selenium.webdriver.common.by import By

    bootstrap = settings.bootstrap_servers
    server = ServedViews(
        tmp_path / "archive", bootstrap, tmp_path / "serve.log", settings_file=start_settings
    )
    try:
        # a field the form cannot send is refused in one sentence, the form kept as it was
        browser.get(f"{server.url}/")
        _fill_start_form(browser, "baseline", seed=str(SEED), minutes="100000", speed="10")
        browser.find_element(By.ID, "start_run").click()
        said = wait_for(lambda: browser.find_elements(By.ID, "start_problem"), timeout=30)
        assert said and said[0].text == "a run from the page is at most 1440 simulated minutes."
        screenshot(browser, test_output, "start-refused")

        # started from the page: /live opens on it, playing at the speed asked
        _fill_start_form(
            browser, "baseline", seed=str(SEED), minutes=str(MINUTES), speed=str(SPEED)
        )
        screenshot(browser, test_output, "start-form")
        run_id = _start(browser)
        assert wait_for(lambda: "playing at 10x" in model_text(browser, "run_pace"), timeout=60)
        screenshot(browser, test_output, "live-playing")

        # paused for 10 s of wall time: nothing is sent meanwhile; resumed: it goes on
        button(browser, "pause").click()
        assert wait_for(lambda: "paused" in model_text(browser, "run_pace"), timeout=30)
        assert "asked run" in model_text(browser, "run_control_result")
        time.sleep(1.0)
        at_start = _held(bootstrap, run_id)
        screenshot(browser, test_output, "live-paused")
        time.sleep(10.0)
        assert _held(bootstrap, run_id) == at_start
        button(browser, "resume").click()
        assert wait_for(lambda: "playing at 10x" in model_text(browser, "run_pace"), timeout=30)
        _wait_for_status(start_settings, run_id, "complete", 300)
        assert _held(bootstrap, run_id) > at_start

        # the same plan from the command line: the same events, the same scores and alerts
        done = _fraudlab(
            start_settings, "run", "baseline", "--seed", str(SEED), "--minutes", str(MINUTES),
            "--speed", str(SPEED), "--model", "tiny", "--run-id", "same-plan-cli", timeout=420,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        assert _produced_digest(bootstrap, run_id) == _produced_digest(bootstrap, "same-plan-cli")
        assert alert_set(bootstrap, run_id) == alert_set(bootstrap, "same-plan-cli")
        assert alert_set(bootstrap, run_id)

        def probabilities(run: str) -> dict[str, float]:
            return {s["transaction_id"]: s["probability"] for s in read(bootstrap, run, "scores")}

        assert probabilities(run_id) == probabilities("same-plan-cli")

        # a long run started from the page, stopped from /live as a Ctrl-C would stop it
        browser.get(f"{server.url}/")
        _fill_start_form(browser, "baseline", seed="5", minutes="60", speed="2")
        stopped = _start(browser)
        assert wait_for(lambda: "playing at 2x" in model_text(browser, "run_pace"), timeout=60)
        set_value(browser, "run_speed", "4")
        button(browser, "set speed").click()
        assert wait_for(lambda: "playing at 4x" in model_text(browser, "run_pace"), timeout=30)
        button(browser, "stop the run").click()
        assert wait_for(
            lambda: "asked run" in model_text(browser, "run_control_result"), timeout=30
        )
        _wait_for_status(start_settings, stopped, "interrupted", 300)
        screenshot(browser, test_output, "live-stopped")
        log = tmp_path / "logs" / stopped / "run.log"
        # `fraudlab run` prints the run's report, then how it ended, and exits
        assert wait_for(lambda: f"run {stopped}: interrupted" in log.read_text(), timeout=120)
        assert "Traceback" not in log.read_text()
        # a run that has ended takes no more requests: one sentence
        refused = _fraudlab(start_settings, "pace", stopped, "--pause")
        assert refused.returncode != 0
        assert refused.stderr.strip().endswith("there is no pace left to change.")
    finally:
        server.stop()
