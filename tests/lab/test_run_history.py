"""Training from archived runs without Spark: which runs can train (each refusal one sentence
naming the run and its file), the command's refusals before Spark starts, and the event-time
split of the runs' feature rows."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from run_files import FileMessage, write_run_file

from fraudlab import codec
from fraudlab.errors import FraudlabError, UsageError
from fraudlab.records import Record, RunEvent, Transaction, Truth, message_key
from fraudlab.settings import load_settings, settings_toml
from lab import run_history
from lab.run_history import runs_training_rows, training_run
from models.training import HELD_OUT_SHARE, TrainingPlan, TrainingRun


def _transaction(tid: str, ts: int) -> Transaction:
    return Transaction(
        str(ts), "c1", tid, "s1", "[]", "OVO", "Success", "0", "", "0", "-6.2", "106.8", "10", "1",
        ts,
    )  # fmt: skip


def _write_run(archive_dir: Path, run_id: str, *, truth: bool = True, close: bool = True) -> Path:
    """A run of two transactions (with their truth unless ``truth`` is False), archived."""
    details = json.dumps({"scenario": "hand", "seed": 3})
    records: list[Record] = [RunEvent(run_id, "producer", "started", details, 1000)]
    for tid, ts, fraud in (("t1", 100, False), ("t2", 110, True)):
        records.append(_transaction(tid, ts))
        if truth:
            records.append(Truth(tid, fraud, "card_testing" if fraud else "", ts))
    records.append(RunEvent(run_id, "producer", "finished", "{}", 1001))
    messages = [
        FileMessage(r.STREAM, message_key(r, run_id), codec.encode(r), 1_000_000) for r in records
    ]
    return write_run_file(archive_dir, run_id, messages, close=close)


def test_a_labelled_closed_run_is_named_by_its_archive_digest(tmp_path: Path) -> None:
    path = _write_run(tmp_path, "labelled")
    with duckdb.connect(str(path), read_only=True) as con:
        ((digest,),) = con.execute("SELECT digest FROM run").fetchall()
    assert training_run(tmp_path, "labelled") == TrainingRun("labelled", digest, "hand", 3)
    assert len(digest) == 64


def test_a_run_without_ground_truth_is_refused_naming_it(tmp_path: Path) -> None:
    path = _write_run(tmp_path, "unlabelled", truth=False)
    with pytest.raises(UsageError) as refused:
        training_run(tmp_path, "unlabelled")
    assert str(refused.value).startswith("run unlabelled has no ground truth to train on: ")
    assert str(path) in str(refused.value)


def test_a_run_that_is_not_archived_is_refused_naming_its_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as refused:
        training_run(tmp_path, "nowhere")
    assert str(refused.value) == (
        f"run nowhere is not archived: there is no {tmp_path / 'nowhere.duckdb'} "
        "(`fraudlab runs` lists the archived runs)."
    )


def test_an_archive_never_closed_is_refused(tmp_path: Path) -> None:
    _write_run(tmp_path, "open", close=False)
    with pytest.raises(
        UsageError,
        match=r"^run open cannot train: its archive .*open\.duckdb was "
        r"never closed \(status crashed\); `fraudlab archive open` finishes it\.$",
    ):
        training_run(tmp_path, "open")


def test_an_archive_changed_since_it_was_closed_is_refused(tmp_path: Path) -> None:
    path = _write_run(tmp_path, "changed")
    with duckdb.connect(str(path)) as con:
        con.execute("UPDATE truth SET is_fraud = NOT is_fraud")
    with pytest.raises(UsageError, match=r"no longer matches its digest"):
        training_run(tmp_path, "changed")


def test_a_file_that_is_no_archive_is_refused_naming_it(tmp_path: Path) -> None:
    path = tmp_path / "garbage.duckdb"
    path.write_bytes(b"not a database at all" * 100)
    with pytest.raises(FraudlabError) as refused:
        training_run(tmp_path, "garbage")
    assert str(path) in str(refused.value)
    assert "\n" not in str(refused.value)


def _rows(run_id: str, ts: list[int], frauds: set[int]) -> pd.DataFrame:
    """Feature rows as feature_rows gives them (transaction order), shortened to what the
    split reads."""
    return pd.DataFrame(
        {
            "transaction_id": [f"{run_id}-{t}" for t in ts],
            "ts": ts,
            "label": [1.0 if t in frauds else 0.0 for t in ts],
            "run": run_id,
        }
    )


@pytest.fixture
def archived_rows(monkeypatch: pytest.MonkeyPatch) -> dict[str, pd.DataFrame]:
    """Runs' feature rows as if read from their archives (no Spark): set them by run id; a
    run's demand rows are its feature rows' first row (none for a run whose id starts with
    ``short``, as for a run no longer than the forecast's horizon)."""
    rows: dict[str, pd.DataFrame] = {}
    monkeypatch.setattr(run_history, "run_history", lambda spark, folder, run_id: run_id)
    monkeypatch.setattr(run_history, "feature_rows", lambda spark, run_id, resolution: rows[run_id])

    def demand(spark: object, run_id: str, horizon: float, required: bool) -> pd.DataFrame:
        assert not required
        return rows[run_id].iloc[: 0 if run_id.startswith("short") else 1]

    monkeypatch.setattr(run_history, "demand_history_rows", demand)
    return rows


def _plan(runs: tuple[str, ...], validation: tuple[str, ...] = ()) -> TrainingPlan:
    return TrainingPlan(
        "m",
        runs=tuple(TrainingRun(r, "d" * 64) for r in runs),
        validation_runs=tuple(TrainingRun(r, "d" * 64) for r in validation),
    )


def test_the_last_part_of_each_run_s_event_time_validates(
    archived_rows: dict[str, pd.DataFrame],
) -> None:
    # run a spans 1000-1400 (cut at 1300), run b 5000-5040 (cut at 5030): each its own cut
    archived_rows["a"] = _rows("a", [1000, 1100, 1250, 1299, 1300, 1400], {1100, 1300})
    archived_rows["b"] = _rows("b", [5000, 5010, 5029, 5030, 5040], {5010, 5040})
    steps: list[str] = []
    train, valid, _ = runs_training_rows(None, Path("."), _plan(("b", "a")), steps.append)  # type: ignore[arg-type]
    assert HELD_OUT_SHARE == 0.25
    assert sorted(zip(train["run"], train["ts"], strict=True)) == [
        ("a", 1000), ("a", 1100), ("a", 1250), ("a", 1299), ("b", 5000), ("b", 5010), ("b", 5029),
    ]  # fmt: skip
    assert sorted(zip(valid["run"], valid["ts"], strict=True)) == [
        ("a", 1300), ("a", 1400), ("b", 5030), ("b", 5040),
    ]  # fmt: skip
    # every held-out row is later than every row its run trains on
    for run in ("a", "b"):
        assert train[train["run"] == run]["ts"].max() < valid[valid["run"] == run]["ts"].min()
    assert any("the last 25% of its event time (2) held out" in s for s in steps)


def test_the_same_runs_give_the_same_rows_however_they_are_listed(
    archived_rows: dict[str, pd.DataFrame],
) -> None:
    archived_rows["a"] = _rows("a", [10, 20, 30, 40], {20, 40})
    archived_rows["b"] = _rows("b", [10, 20, 30, 40], {30, 40})
    archived_rows["b"]["transaction_id"] = archived_rows["a"]["transaction_id"]  # shared ids
    first = runs_training_rows(None, Path("."), _plan(("a", "b")), lambda _: None)  # type: ignore[arg-type]
    second = runs_training_rows(None, Path("."), _plan(("b", "a")), lambda _: None)  # type: ignore[arg-type]
    for one, other in zip(first[:2], second[:2], strict=True):
        pd.testing.assert_frame_equal(one, other)
    for one, other in zip(first[2], second[2], strict=True):
        pd.testing.assert_frame_equal(one, other)
    assert list(first[0]["transaction_id"]) == sorted(first[0]["transaction_id"])
    assert list(first[0]["run"]) == ["a", "b", "a", "b", "a", "b"]  # ties in run id order


def test_validation_runs_validate_whole_and_the_training_runs_train_whole(
    archived_rows: dict[str, pd.DataFrame],
) -> None:
    archived_rows["a"] = _rows("a", [10, 20, 30, 40], {40})
    archived_rows["c"] = _rows("c", [15, 25], {25})
    train, valid, _ = runs_training_rows(None, Path("."), _plan(("a",), ("c",)), lambda _: None)  # type: ignore[arg-type]
    assert list(train["ts"]) == [10, 20, 30, 40] and list(valid["ts"]) == [15, 25]


def test_the_demand_forecast_learns_from_each_training_run_longer_than_its_horizon(
    archived_rows: dict[str, pd.DataFrame],
) -> None:
    archived_rows["b"] = _rows("b", [10, 20, 30, 40], {20, 40})
    archived_rows["a"] = _rows("a", [10, 20, 30, 40], {30, 40})
    archived_rows["short-c"] = _rows("short-c", [10, 20, 30, 40], {30, 40})
    archived_rows["v"] = _rows("v", [15, 25], {25})
    steps: list[str] = []
    _, _, demand = runs_training_rows(
        None,  # type: ignore[arg-type]
        Path("."),
        _plan(("short-c", "b", "a"), ("v",)),
        steps.append,
        horizon_minutes=30,
    )
    # in run order, the validation run not among them, the short run left out and named
    assert [part["run"].tolist() for part in demand] == [["a"], ["b"]]
    assert (
        "run short-c is no longer than the forecast's 30-minute horizon: the demand forecast "
        "does not learn from it"
    ) in steps


@pytest.mark.parametrize(
    ("frauds", "validation", "refusal"),
    [
        (
            {},
            (),
            "the training rows of run(s) a hold no fraud: a model cannot learn fraud from them; "
            "train on runs whose scenarios have fraud patterns.",
        ),
        (
            {"a": {20}},
            (),
            "the last 25% of the event time of run(s) a holds no fraud to choose a threshold "
            "on: train on longer runs, or name --validation-runs that have frauds.",
        ),
        (
            {"a": {40}},
            ("c",),
            "validation run(s) c hold no fraud to choose a threshold on: name --validation-runs "
            "that have frauds.",
        ),
    ],
)
def test_rows_without_fraud_on_either_side_are_refused(
    archived_rows: dict[str, pd.DataFrame],
    frauds: dict[str, set[int]],
    validation: tuple[str, ...],
    refusal: str,
) -> None:
    archived_rows["a"] = _rows("a", [10, 20, 30, 40], frauds.get("a", set()))
    archived_rows["c"] = _rows("c", [15, 25], set())
    with pytest.raises(UsageError) as refused:
        runs_training_rows(None, Path("."), _plan(("a",), validation), lambda _: None)  # type: ignore[arg-type]
    assert str(refused.value) == refusal


# ---- the command: refused in one sentence, before Spark starts ------------------------------


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    archive = tmp_path / "archive"
    _write_run(archive, "labelled")
    _write_run(archive, "unlabelled", truth=False)
    path = tmp_path / "fraudlab.toml"
    path.write_text(settings_toml(load_settings(archive_dir=archive, models_dir=tmp_path / "m")))
    return path


def _train(settings_file: Path, *args: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "lab", "--settings", str(settings_file), "train", "--name", "m"]
    return subprocess.run([*argv, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    ("args", "sentence"),
    [
        (("--runs", "unlabelled"), "run unlabelled has no ground truth to train on: "),
        (("--runs", "labelled,nowhere"), "run nowhere is not archived: there is no "),
        (("--runs", "labelled", "--scenario", "baseline", "--minutes", "5"),
         "--runs trains on archived runs: drop --scenario, --minutes."),
        (("--validation-runs", "labelled"),
         "--validation-runs goes with --runs: name the runs to train on."),
        (("--runs", "labelled", "--validation-runs", "labelled"),
         "run labelled is named by both --runs and --validation-runs: "),
        (("--runs", "labelled,,x"), "--runs 'labelled,,x': name archived runs separated by "),
        (("--runs", "Bad Id"), "'Bad Id' is not a valid run id: "),
    ],
)  # fmt: skip
def test_the_command_refuses_in_one_sentence(
    settings_file: Path, args: tuple[str, ...], sentence: str
) -> None:
    done = _train(settings_file, *args)
    assert done.returncode == 2, done.stderr
    assert done.stderr.startswith(f"fraudlab: {sentence}")
    assert done.stderr.strip().count("\n") == 0
    assert "starting Spark" not in done.stderr
    assert not (settings_file.parent / "m").exists()
