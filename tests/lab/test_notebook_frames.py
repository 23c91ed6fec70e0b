"""The notebook API's pure parts, without Kafka: results as DataFrames (the same from decoded
Kafka values as from the archive), a run's status from its run-events and from its archive, the
report and the comparison as the commands give them, and the refusals of ``lab.run``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from run_files import FileMessage, write_run_file

from archive.files import reading
from archive.reader import run_summary
from fraudlab import codec
from fraudlab.errors import UsageError
from fraudlab.records import (
    AlertedTransaction,
    FraudAlerts,
    Record,
    RunEvent,
    Score,
    TopProduct,
    Transaction,
    Truth,
    message_key,
)
from fraudlab.run_launch import LaunchedRun, ReplayRequest, RunRequest
from fraudlab.settings import Settings, load_settings
from lab.notebook import RunHandle
from lab.notebook_frames import (
    ALERT_COLUMNS,
    alerts_frame,
    archived_frame,
    decoded_records,
    scores_frame,
    top_products_frame,
)
from lab.notebook_status import archived_status, playing_status
from lab.run_status import RunFigures

START = 1_767_571_200  # event time of the hand-made run's first transaction


def _score(tid: str, ts: int, probability: float, **extra: object) -> Score:
    return Score(
        transaction_id=tid,
        session_id=f"s-{tid}",
        customer_id="c1",
        ts=ts,
        probability=probability,
        prediction=int(probability >= 0.5),
        model_name="m1",
        model_digest="d1",
        total_amount=150_000.0,
        shipment_location_lat=-6.2,
        shipment_location_long=106.8,
        product_metadata="[]",
        **extra,  # type: ignore[arg-type]
    )


def _alerted(score: Score) -> AlertedTransaction:
    return AlertedTransaction(
        score.transaction_id,
        score.session_id,
        score.customer_id,
        score.ts,
        score.total_amount,
        score.shipment_location_lat,
        score.shipment_location_long,
        score.probability,
        "model",
    )


SCORES = [
    _score("t2", START + 20, 0.9, reasons="model", challenger_prediction=1),
    _score("t1", START + 10, 0.1),
    _score("t3", START + 30, 0.8, reasons="model"),
]
REPORTS = [
    FraudAlerts(START - 90, START + 30, 2, (_alerted(SCORES[0]), _alerted(SCORES[2]))),
    FraudAlerts(START - 100, START + 20, 1, (_alerted(SCORES[0]),)),
]
TOP = [
    TopProduct(START, START + 30, 2, "p2", "Bag", 1, 90_000.0),
    TopProduct(START, START + 30, 1, "p1", "Shirt", 3, 450_000.0),
]


def _values(records: list[Score] | list[FraudAlerts] | list[TopProduct]) -> list[bytes | None]:
    """Their message values as the engine's at-least-once sink may leave them: the first
    repeated, and a tombstone."""
    values: list[bytes | None] = [codec.encode(r) for r in records]
    return [*values, values[0], None]


def test_decoded_results_become_one_row_each_sorted_by_event_time_and_typed() -> None:
    scores = scores_frame(decoded_records(Score, _values(SCORES)))
    assert scores.transaction_id.tolist() == ["t1", "t2", "t3"]
    assert scores.ts.dtype == "int64" and scores.probability.dtype == "float64"
    assert scores.challenger_prediction.dtype == "Int64"
    assert scores.challenger_prediction.isna().tolist() == [True, False, True]
    assert scores.reasons.tolist() == [None, "model", "model"]

    alerts = alerts_frame(decoded_records(FraudAlerts, _values(REPORTS)))
    assert tuple(alerts.columns) == ALERT_COLUMNS
    assert list(zip(alerts.window_end, alerts.transaction_id, strict=True)) == [
        (START + 20, "t2"),
        (START + 30, "t2"),
        (START + 30, "t3"),
    ]
    assert alerts["count"].tolist() == [1, 2, 2]

    top = top_products_frame(decoded_records(TopProduct, _values(TOP)))
    assert top[["rank", "product_id", "quantity"]].values.tolist() == [[1, "p1", 3], [2, "p2", 1]]


def test_no_results_yet_is_an_empty_frame_with_the_columns() -> None:
    assert scores_frame([]).empty and "probability" in scores_frame([]).columns
    assert tuple(alerts_frame([]).columns) == ALERT_COLUMNS
    assert top_products_frame([]).columns.tolist()[-1] == "sales"


def _message(record: Record, run_id: str) -> FileMessage:
    return FileMessage(record.STREAM, message_key(record, run_id), codec.encode(record), 1_000_000)


def _transaction(tid: str, ts: int) -> Transaction:
    return Transaction(
        str(ts), "c1", tid, f"s-{tid}", "[]", "OVO", "Success", "0", "", "0", "-6.2", "106.8",
        "150000", "1", ts,
    )  # fmt: skip


def _write_run(
    archive_dir: Path,
    run_id: str,
    scores: list[Score] = SCORES,
    reports: list[FraudAlerts] = REPORTS,
) -> Path:
    """A run of three transactions, t2 a fraud, scored, reported and closed as complete."""
    started = json.dumps({"scenario": "hand", "seed": 3, "minutes": 2, "speed": 20.0})
    progress = json.dumps({"simulated_s": 95.0, "horizon_s": 120.0, "sent": 40})
    records: list[Record] = [RunEvent(run_id, "producer", "started", started, 1000)]
    for s in SCORES:
        records.append(_transaction(s.transaction_id, s.ts))
        fraud = s.transaction_id == "t2"
        records.append(Truth(s.transaction_id, fraud, "card_testing" if fraud else "", s.ts))
    records += [*scores, scores[0], *reports, *TOP]
    records += [
        RunEvent(run_id, "producer", "progress", progress, 1003),
        RunEvent(run_id, "engine", "started", "{}", 1001),
        RunEvent(run_id, "producer", "finished", "{}", 1004),
        RunEvent(run_id, "engine", "finished", "{}", 1010),
    ]
    return write_run_file(archive_dir, run_id, [_message(r, run_id) for r in records])


def test_the_archive_gives_the_frames_kafka_gives(tmp_path: Path) -> None:
    _write_run(tmp_path, "hand")
    with reading(tmp_path, "hand") as con:
        archived = {cls: archived_frame(con, cls) for cls in (Score, FraudAlerts, TopProduct)}
    pd.testing.assert_frame_equal(
        archived[Score],
        scores_frame(decoded_records(Score, _values(SCORES))),
    )
    pd.testing.assert_frame_equal(
        archived[FraudAlerts],
        alerts_frame(decoded_records(FraudAlerts, _values(REPORTS))),
    )
    pd.testing.assert_frame_equal(
        archived[TopProduct],
        top_products_frame(decoded_records(TopProduct, _values(TOP))),
    )


def _events(*pairs: tuple[str, str, dict[str, object]]) -> list[RunEvent]:
    return [
        RunEvent("r1", part, event, json.dumps(details), 100 + i)
        for i, (part, event, details) in enumerate(pairs)
    ]


def test_a_playing_run_s_status_comes_from_its_run_events() -> None:
    waiting = playing_status("r1", RunFigures(), _events(("engine", "started", {})))
    assert (waiting.state, waiting.source_started) == ("in progress", False)
    assert waiting.describe().endswith("source starting")

    figures = RunFigures(simulated_s=60, horizon_s=300, events_per_s=800, alert_windows=4)
    started = ("producer", "started", {"speed": 20.0})
    playing = _events(started, ("engine", "started", {}))
    assert playing_status("r1", figures, playing).state == "in progress"

    paused = _events(started, ("producer", "paced", {"paused": True, "speed": 40.0}))
    status = playing_status("r1", RunFigures(paused=True), paused)
    assert (status.paused, status.speed) == (True, 40.0)
    assert "paused" in status.describe()

    ended = _events(
        started, ("engine", "started", {}), ("producer", "finished", {}), ("engine", "failed", {})
    )
    status = playing_status("r1", figures, ended)
    assert (status.state, status.ended, status.archived) == ("failed", True, False)

    scoring = _events(started, ("engine", "started", {}), ("producer", "finished", {}))
    sent = playing_status("r1", RunFigures(300, 300, unscored=12, produced=True), scoring)
    assert "5.0/5.0 min · all sent · 12 tx to score" in sent.describe()


def test_an_archived_run_s_status_comes_from_its_summary(tmp_path: Path) -> None:
    _write_run(tmp_path, "hand")
    with reading(tmp_path, "hand") as con:
        status = archived_status(run_summary(con))
    assert status.state == "complete" and status.archived
    assert (status.simulated_s, status.horizon_s, status.speed) == (120.0, 120.0, 20.0)
    assert status.alert_windows == 2 and status.events_per_s == pytest.approx(3 / 10)


def _settings(tmp_path: Path) -> Settings:
    # a broker nobody listens on: an archived run's handle never asks Kafka
    return load_settings(archive_dir=tmp_path, bootstrap_servers="127.0.0.1:9")


def test_an_archived_run_s_handle_reads_its_archive(tmp_path: Path) -> None:
    from lab.cli import app

    _write_run(tmp_path, "hand")
    handle = RunHandle("hand", _settings(tmp_path))
    assert handle.status().state == "complete"
    assert handle.scores().transaction_id.tolist() == ["t1", "t2", "t3"]
    assert len(handle.alerts()) == 3 and len(handle.top_products()) == 2

    printed = CliRunner().invoke(app, ["report", "hand", "--json", "--archive-dir", str(tmp_path)])
    assert printed.exit_code == 0, printed.output
    report = handle.report()
    assert report == json.loads(printed.output)
    assert report["recall"] == 1.0
    patterns = handle.per_pattern()
    assert patterns.set_index("pattern").loc["card_testing", "flagged"] == 1


def test_two_archived_runs_compare_as_the_compare_command_compares_them(tmp_path: Path) -> None:
    _write_run(tmp_path, "a")
    missed = [SCORES[1], _score("t2", START + 20, 0.2), SCORES[2]]
    _write_run(
        tmp_path, "b", missed, [FraudAlerts(START - 90, START + 30, 1, (_alerted(SCORES[2]),))]
    )
    table = RunHandle("a", _settings(tmp_path)).compare("b")
    rows = table.set_index("pattern")
    assert rows.loc["card_testing", "recall_a"] == 1.0
    assert rows.loc["card_testing", "recall_b"] == 0.0
    assert rows.loc["card_testing", "delta"] == -1.0
    assert table.attrs["runs"] == ("a", "b")
    assert table.attrs["overlap"] == {"both": 1, "only_a": 1, "only_b": 0, "jaccard": 0.5}


@pytest.mark.parametrize(
    ("kwargs", "sentence"),
    [
        ({}, "say what to run: a scenario, or csv=FOLDER"),
        ({"scenario": "baseline", "csv": "data"}, "say what to run"),
        ({"scenario": "baseline"}, "say how fast to play the run"),
        ({"scenario": "baseline", "speed": 10, "fast": True}, "exclude each other"),
        ({"scenario": "no-such-scenario", "fast": True}, "no-such-scenario"),
        ({"scenario": "baseline", "fast": True, "run_id": "Bad Id"}, "is not a valid run id"),
    ],
)
def test_lab_run_refuses_a_bad_request_in_one_sentence(
    tmp_path: Path, kwargs: dict[str, object], sentence: str
) -> None:
    import lab

    with pytest.raises(UsageError, match=sentence):
        lab.run(**kwargs, settings=_settings(tmp_path))


def test_lab_exposes_the_api_without_loading_it_for_the_cli() -> None:
    code = (
        "import sys, lab, lab.cli; assert 'lab.notebook' not in sys.modules; "
        "assert 'pandas' not in sys.modules; import lab.notebook as n; "
        "assert (lab.run, lab.open, lab.RunHandle) == (n.run, n.open, n.RunHandle)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_lab_run_asks_for_the_run_fraudlab_run_would_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import lab
    from lab import notebook

    asked: list[object] = []

    def launched(settings: Settings, request: object) -> LaunchedRun:
        asked.append(request)
        return LaunchedRun(request.run_id, 1, tmp_path / "run.log")  # type: ignore[attr-defined]

    monkeypatch.setattr(notebook, "launch_run", launched)
    settings = _settings(tmp_path)
    handle = lab.run("baseline", minutes=2, fast=True, rules=["rules/x.toml"], settings=settings)
    (request,) = asked
    assert isinstance(request, RunRequest) and request.run_id == handle.run_id
    assert handle.run_id.startswith("baseline-s7-")  # the scenario's own seed
    assert request.arguments() == [
        "run", "baseline", "--run-id", handle.run_id, "--seed", "7", "--minutes", "2", "--fast",
        "--rules", "rules/x.toml",
    ]  # fmt: skip
    lab.run(csv="data", run_id="mine", settings=settings)
    assert asked[-1] == RunRequest("mine", csv_folder=Path("data"))

    _write_run(tmp_path, "hand")
    replay = RunHandle("hand", settings).replay(speed=40, model="m2")
    assert replay.run_id.startswith("replay-hand-s3-")
    assert asked[-1] == ReplayRequest(replay.run_id, "hand", speed=40, model="m2")
