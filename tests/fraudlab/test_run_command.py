"""``fraudlab run`` end to end: real broker, the engine's own Spark, real archive files.

Each test starts the command as a user would, in a process of its own with a settings file that
points at the session's broker and the tests' tiny model.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from process_tree import describe, kill_marked, left_after, marked, marked_env, new_marker
from run_results import read, read_with_keys, run_events
from run_settings import own_run_settings

from fraudlab.kafka_io import read_to_end
from fraudlab.settings import Settings, WebhookSink, load_settings, settings_toml
from tests.delivery.webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.kafka, pytest.mark.spark, pytest.mark.slow]


@pytest.fixture
def run_settings(settings: Settings, tiny_model: Any, tmp_path: Path) -> Path:
    """A settings file with this test's own archive, checkpoints and logs."""
    return own_run_settings(settings, tiny_model.folder.parent, tmp_path)


def _fraudlab(settings_file: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "lab", "--settings", str(settings_file), *args]


def _run(
    settings_file: Path, *args: str, timeout: float = 420, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _fraudlab(settings_file, *args), capture_output=True, text=True, timeout=timeout, env=env
    )


def _start(settings_file: Path, marker: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        _fraudlab(settings_file, *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=marked_env(marker),
    )


def _listing(settings_file: Path, run_id: str) -> dict[str, Any]:
    done = _run(settings_file, "runs", "--json", timeout=60)
    assert done.returncode == 0, done.stderr
    return {r["run_id"]: r for r in json.loads(done.stdout)}[run_id]


def _wait_for(bootstrap: str, run_id: str, part: str, event: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        events = run_events(bootstrap, run_id)
        if any(e.part == part and e.event == event for e in events):
            return
        time.sleep(1.0)
    raise AssertionError(f"no {part} {event} on run {run_id} in {timeout_s:.0f} s")


def _nothing_left(marker: str, timeout_s: float = 15.0) -> None:
    """Every process the command started (its parts, Spark's JVM and Python workers) has
    ended within ``timeout_s`` of the command's end."""
    left = left_after(marker, timeout_s)
    assert not left, f"still running after the command ended:\n{describe(left)}"


def _engine_driver(marker: str) -> int:
    """The pid of the engine part (its Python driver)."""
    for process in marked(marker):
        if " engine " in " ".join(process.cmdline()) and "java" not in process.name():
            return process.pid
    raise AssertionError(f"no engine among:\n{describe(marked(marker))}")


def test_paced_run_scores_live_and_ends_complete(
    run_settings: Path, settings: Settings, tmp_path: Path
) -> None:
    """At speed 20 the engine runs its processing-time triggers (10 s / 20 for alerts) and stops
    by itself once the producer has ended and every transaction is scored. A rule added while
    the run plays flags exactly the matching transactions from its event time on, and a --fast
    replay of the run (other micro-batch cuts) applies it at the same point: the same alerts.
    A webhook that fails each alert's first two attempts receives every alert of the run once,
    in window-end order; the replay sends it nothing."""
    receiver = WebhookReceiver(fail_first=2).__enter__()
    hook = WebhookSink(kind="webhook", name="oncall", url=receiver.url, backoff_s=0.05)
    with_hook = load_settings(run_settings).model_copy(update={"alert_sinks": (hook,)})
    run_settings.write_text(settings_toml(with_hook))
    rule = tmp_path / "ovo.toml"
    rule.write_text(
        '[[rules]]\nid = "ovo"\ndescription = "OVO payments"\n'
        "condition = \"payment_method == 'OVO'\"\n"
    )
    marker = new_marker("run-live")
    run = _start(
        run_settings, marker, "run", "card-testing-burst", "--seed", "3", "--minutes", "5",
        "--speed", "20", "--model", "tiny", "--run-id", "run-live",
    )  # fmt: skip
    try:
        _wait_for(settings.bootstrap_servers, "run-live", "producer", "progress", 120)
        added = _run(run_settings, "rules", "add", "run-live", str(rule), timeout=60)
        assert added.returncode == 0, added.stderr
        assert added.stdout.startswith("rule ovo added to run run-live, in force from ")
        _, err = run.communicate(timeout=420)
    finally:
        kill_marked(marker)
        receiver.__exit__()
    assert run.returncode == 0, err[-3000:]
    listing = _listing(run_settings, "run-live")
    assert listing["status"] == "complete"
    report = _run(run_settings, "report", "run-live", "--json", timeout=60)
    summary = json.loads(report.stdout)
    assert summary["transactions"] > 0
    # every transaction scored once, by the live queries
    assert summary["rows"]["scores"] == summary["transactions"]
    engine = summary["engine_settings"]
    engine = json.loads(engine) if isinstance(engine, str) else engine
    assert engine["available_now"] is False and engine["speed"] == 20

    listed = json.loads(_run(run_settings, "rules", "list", "run-live", "--json").stdout)
    (change,) = listed["changes"]
    at = change["effective"]
    transactions = read(settings.bootstrap_servers, "run-live", "transactions")
    scores = {
        s["transaction_id"]: s for s in read(settings.bootstrap_servers, "run-live", "scores")
    }
    ovo = {t["transaction_id"]: int(t["ts"]) for t in transactions if t["payment_method"] == "OVO"}
    assert min(ovo.values()) < at <= max(ovo.values()), "OVO payments on both sides of the rule"
    flagged = {i for i, s in scores.items() if "ovo" in s["rules"].split(",")}
    assert flagged == {i for i, ts in ovo.items() if ts >= at}

    # each report window reached its topic once, the live ones and those the close wrote, and
    # the fraud-alerts topic is in window-end order, on partition 0
    topic = "fraudlab.run-live.fraud-alerts"
    written = asyncio.run(read_to_end(settings.bootstrap_servers, topic))
    assert {partition for partition, _, _ in written} == {0}
    windows_written = [
        (json.loads(value)["window_start"], json.loads(value)["window_end"])
        for _, _, value in written
    ]
    assert len(windows_written) == len(set(windows_written)) == summary["fraud_alert_windows"]
    ends = [end for _, end in windows_written]
    assert ends == sorted(ends), "window ends fall back"
    keys = [key for *_, key, _ in asyncio.run(read_with_keys(settings.bootstrap_servers, topic))]
    assert keys == [f"run-live|{s}|{e}".encode() for s, e in windows_written]
    products = [
        json.loads(value)
        for _, _, value in asyncio.run(
            read_to_end(settings.bootstrap_servers, "fraudlab.run-live.top-products")
        )
    ]
    rows = [(p["window_start"], p["window_end"], p["product_id"]) for p in products]
    assert len(rows) == len(set(rows)) == summary["rows"]["top_products"] > 0
    repeated = {s for s in summary["duplicates"] if "alerts" in s or "products" in s}
    assert not repeated, f"the archive dropped reports written twice: {summary['duplicates']}"
    # each alert (a potential fraud's first report window) reached the webhook once, in order
    windows = read(settings.bootstrap_servers, "run-live", "fraud-alerts")
    alerted = {t["transaction_id"] for w in windows for t in w["transactions"]}
    taken = receiver.received.taken
    assert sorted(a["transaction_id"] for a in taken) == sorted(alerted) and alerted
    assert [a["window_end"] for a in taken] == sorted(a["window_end"] for a in taken)
    assert set(receiver.received.attempts.values()) == {3} and receiver.received.repeats == 0
    assert summary["rows"]["deliveries"] == 3 * len(alerted)
    (oncall,) = summary["deliveries"]
    assert (oncall["sent"], oncall["retries"], oncall["dead_lettered"]) == (
        len(alerted),
        2 * len(alerted),
        0,
    )

    # played again from its archive as fast as it goes, through the same model and its rules:
    # the same alerts, however the micro-batches cut it, in a run of its own that ends complete
    # and leaves nothing running
    again_marker = new_marker("run-live-again")
    replay = _run(
        run_settings, "replay", "run-live", "--fast", "--run-id", "run-live-again",
        env=marked_env(again_marker),
    )  # fmt: skip
    assert replay.returncode == 0, replay.stderr[-3000:]
    assert "run run-live-again: complete" in replay.stdout
    assert "precision" in replay.stdout and "recall" in replay.stdout
    assert _listing(run_settings, "run-live-again")["status"] == "complete"
    _nothing_left(again_marker, timeout_s=0)
    compared = _run(run_settings, "compare", "run-live", "run-live-again", "--json", timeout=60)
    (pair,) = json.loads(compared.stdout)["pairs"]
    assert pair["jaccard"] == 1.0 and pair["both"] > 0
    summary = json.loads(_run(run_settings, "report", "run-live-again", "--json").stdout)
    assert summary["replay_of"] == "run-live" and summary["model_name"] == "tiny"
    again = read(settings.bootstrap_servers, "run-live-again", "scores")
    assert {s["transaction_id"] for s in again if "ovo" in s["rules"].split(",")} == flagged
    assert len(receiver.received.taken) == len(alerted), "a replay delivers nothing"


def test_ctrl_c_stops_every_part_and_marks_the_run_interrupted(
    run_settings: Path, settings: Settings
) -> None:
    marker = new_marker("run-ctrl-c")
    run = _start(
        run_settings, marker, "run", "baseline", "--seed", "5", "--minutes", "30",
        "--speed", "4", "--model", "tiny", "--run-id", "run-ctrl-c",
    )  # fmt: skip
    try:
        # the engine is still starting Spark
        _wait_for(settings.bootstrap_servers, "run-ctrl-c", "producer", "progress", 120)
        run.send_signal(signal.SIGINT)
        out, err = run.communicate(timeout=360)
        # nothing outlives the command: not even a JVM whose driver was interrupted while
        # Spark was starting
        _nothing_left(marker, timeout_s=0)
    finally:
        run.kill()
        kill_marked(marker)
    assert run.returncode == 130, err[-3000:]
    assert "run run-ctrl-c: interrupted" in out
    assert "Traceback" not in err
    assert _listing(run_settings, "run-ctrl-c")["status"] == "interrupted"


@pytest.mark.fault("run-command-killed", "baseline", 5)
def test_a_killed_run_command_takes_its_parts_and_everything_they_started_with_it(
    run_settings: Path, settings: Settings
) -> None:
    marker = new_marker("run-orphaned")
    run = _start(
        run_settings, marker, "run", "baseline", "--seed", "5", "--minutes", "30",
        "--speed", "4", "--model", "tiny", "--run-id", "run-orphaned",
    )  # fmt: skip
    try:
        _wait_for(settings.bootstrap_servers, "run-orphaned", "engine", "started", 180)
        running = marked(marker)
        assert any(p.name() == "java" for p in running), describe(running)
        run.kill()
        run.wait(10)
        killed_at = time.monotonic()
        # each part hears of it (its parent-death signal), stops as after a Ctrl-C, and takes
        # what it started with it
        _nothing_left(marker, timeout_s=60)
        ended_s = time.monotonic() - killed_at
    finally:
        run.kill()
        kill_marked(marker)
    print(f"every process of the run ended {ended_s:.1f} s after the run command was killed")
    assert _listing(run_settings, "run-orphaned")["status"] == "interrupted"
    endings = {
        e.part: e.event
        for e in run_events(settings.bootstrap_servers, "run-orphaned")
        if e.event in ("finished", "interrupted", "failed")
    }
    # the archiver closed the archive as interrupted (above); the others said so themselves
    assert (endings.get("producer"), endings.get("engine")) == ("interrupted", "interrupted")


def test_a_part_that_dies_is_named_and_stops_the_others(
    run_settings: Path, settings: Settings
) -> None:
    marker = new_marker("run-engine-killed")
    run = _start(
        run_settings, marker, "run", "baseline", "--seed", "5", "--minutes", "30",
        "--speed", "4", "--model", "tiny", "--run-id", "run-engine-killed",
    )  # fmt: skip
    try:
        _wait_for(settings.bootstrap_servers, "run-engine-killed", "producer", "progress", 120)
        # the engine's driver alone: its JVM is left without it
        os.kill(_engine_driver(marker), signal.SIGKILL)
        _, err = run.communicate(timeout=360)
        _nothing_left(marker, timeout_s=0)
    finally:
        run.kill()
        kill_marked(marker)
    assert run.returncode == 1
    lines = err.strip().splitlines()
    assert lines[-1] == (
        "fraudlab: run run-engine-killed failed: the engine failed: it was killed (signal 9)."
    ), err[-3000:]
    assert "Traceback" not in err
    assert _listing(run_settings, "run-engine-killed")["status"] == "failed"
