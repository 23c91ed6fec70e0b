"""Training from archived runs (real Spark; the runs on a real broker): a run read back from its
archive gives the feature rows its simulation gives and the engine's fold scored, a model
trained on it twice is the same booster, and a labelled CSV run trains too."""

from __future__ import annotations

import asyncio
import csv
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from run_files import FileMessage, write_run_file
from run_settings import own_run_settings

from archive.archiver import ArchiveOptions, archive_run
from archive.files import reading
from fraudlab import codec
from fraudlab.records import Browsing, Record, RunEvent, assignment_columns, message_key
from fraudlab.settings import Settings
from lab.run_history import run_history, training_run
from lab.training_runs import simulated_history, train
from models.demand import load_demand
from models.registry import load_model
from models.training import HELD_OUT_SHARE, TrainingPlan, feature_rows
from simulator.clock import DEFAULT_START
from simulator.csv_producer import CsvRunOptions, produce_csv
from simulator.export import export_csv
from simulator.scenario import load_scenario
from simulator.simulation import Simulation

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
CUSTOMERS = 300


def _simulation(scenario: str, seed: int, minutes: float) -> Simulation:
    loaded = load_scenario(scenario, SCENARIOS).with_customers(CUSTOMERS)
    return Simulation(loaded, seed, DEFAULT_START, minutes)


@pytest.mark.spark
def test_a_run_read_from_its_archive_gives_the_feature_rows_of_its_simulation(
    spark: Any, tmp_path: Path
) -> None:
    """Late, reordered, duplicated and broken deliveries included: the archive holds the broken
    values as they were sent, and the records it decoded are written by the codec again."""
    run_id = "dirty"
    started = RunEvent(run_id, "producer", "started", json.dumps({"scenario": "x"}), 1000)
    finished = RunEvent(run_id, "producer", "finished", "{}", 1001)
    start_ms = int(DEFAULT_START.timestamp() * 1000)
    held = [
        FileMessage(m.stream, m.key, m.value, start_ms + int(m.deliver_at * 1000))
        for m in _simulation("late-and-dirty", 17, 4).messages()
    ]
    events = [
        FileMessage(e.STREAM, message_key(e), codec.encode(e), 1_000_000)
        for e in (started, finished)
    ]
    write_run_file(tmp_path, run_id, [events[0], *held, events[1]])
    with reading(tmp_path, run_id) as con:
        (faults,) = con.execute("SELECT count(DISTINCT fault) FROM faults").fetchone()  # type: ignore[misc]
        (broken,) = con.execute("SELECT count(*) FROM undecodable").fetchone()  # type: ignore[misc]
    assert faults >= 4 and broken > 0

    archived = feature_rows(spark, run_history(spark, tmp_path, run_id))
    simulated = feature_rows(
        spark,
        simulated_history(spark, "late-and-dirty", SCENARIOS, 17, 4, customers=CUSTOMERS),
    )
    assert len(archived) > 300 and archived["label"].sum() > 0
    pd.testing.assert_frame_equal(archived, simulated)


# ---- a fast run of the lab, trained on ----------------------------------------------------------

RUN_ID = "train-source"


@pytest.fixture(scope="module")
def run_settings(
    settings: Settings, tiny_model: Any, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """A settings file with the tiny model beside this module's own archive and models."""
    root = tmp_path_factory.mktemp("training-runs")
    models = root / "models"
    models.mkdir()
    (models / "tiny").symlink_to(tiny_model.folder)
    return own_run_settings(settings, models, root)


def _fraudlab(settings_file: Path, *args: str, timeout: float = 600) -> str:
    argv = [sys.executable, "-m", "lab", "--settings", str(settings_file), *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def fast_run(run_settings: Path) -> Settings:
    """Five minutes of baseline in a world of 300 customers, run --fast and archived; the
    settings it ran with."""
    _fraudlab(
        run_settings, "run", "baseline", "--seed", "11", "--minutes", "5", "--fast",
        "--customers", str(CUSTOMERS), "--model", "tiny", "--run-id", RUN_ID,
    )  # fmt: skip
    from fraudlab.settings import load_settings

    return load_settings(run_settings)


@pytest.mark.kafka
@pytest.mark.spark
@pytest.mark.slow
def test_the_archive_s_feature_rows_are_those_the_engine_s_fold_scored(
    spark: Any, fast_run: Settings, tiny_model: Any
) -> None:
    """The tiny model scores the rows training reads from the archive exactly as the engine
    scored the run's transactions in its fold: the same features, bit for bit."""
    with reading(fast_run.archive_dir, RUN_ID) as con:
        engine = dict(
            con.execute(
                "SELECT transaction_id, coalesce(model_probability, probability) FROM scores"
            ).fetchall()
        )
    rows = feature_rows(spark, run_history(spark, fast_run.archive_dir, RUN_ID))
    assert len(engine) == len(rows) > 300
    scored = tiny_model.scorer().probabilities(rows)
    batch = dict(zip(rows["transaction_id"], map(float, scored), strict=True))
    assert batch == engine


@pytest.mark.kafka
@pytest.mark.spark
@pytest.mark.slow
def test_training_on_a_run_twice_gives_the_same_booster(
    spark: Any, fast_run: Settings, run_settings: Path
) -> None:
    printed = _fraudlab(run_settings, "train", "--name", "from-run", "--runs", RUN_ID)
    saved = load_model(fast_run.models_dir, "from-run")
    assert printed.strip().endswith(f"booster digest {saved.digest}")
    with reading(fast_run.archive_dir, RUN_ID) as con:
        ((digest,),) = con.execute("SELECT digest FROM run").fetchall()
    training, validation = saved.metadata["training"], saved.metadata["validation"]
    assert training["runs"] == [
        {"run_id": RUN_ID, "digest": digest, "scenario": "baseline", "seed": 11}
    ]
    assert validation["held_out_share"] == HELD_OUT_SHARE
    assert training["frauds"] > 0 and validation["transactions"] > 0
    assert "scenario" not in training and "seeds" not in validation

    # five minutes are no longer than the forecast's 30-minute horizon: no demand forecast
    assert load_demand(saved.folder) is None

    plan = TrainingPlan("from-run-again", runs=(training_run(fast_run.archive_dir, RUN_ID),))
    again = train(spark, fast_run, plan, lambda _: None)
    assert again.digest == saved.digest
    assert again.metadata["threshold"] == saved.metadata["threshold"]


@pytest.mark.kafka
@pytest.mark.spark
@pytest.mark.slow
def test_a_run_longer_than_the_horizon_trains_the_demand_forecast_too(
    spark: Any, fast_run: Settings
) -> None:
    """Over a 2-minute horizon the five-minute run teaches the demand forecast, fitted on the
    run's own counts, as a simulated history's is."""
    two_minutes = fast_run.model_copy(update={"forecast_horizon_minutes": 2.0})
    plan = TrainingPlan("with-demand", runs=(training_run(fast_run.archive_dir, RUN_ID),))
    steps: list[str] = []
    saved = train(spark, two_minutes, plan, steps.append)
    demand = load_demand(saved.folder)
    assert demand is not None
    model, sales_only = demand
    assert model.horizon_s == sales_only.horizon_s == 120
    assert model.training["rows"] > 0
    assert any("fitting the demand forecast over 2 minutes ahead" in s for s in steps)


# ---- a labelled CSV run ---------------------------------------------------------------------

CSV_RUN = "csv-labelled"
FIRST_TS = 1_800_000_000


def _assignment_columns_only(path: Path, cls: type[Record]) -> None:
    """Keep only the assignment's own columns of a CSV file (browsing: no customer or event id)."""
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    with path.open("w", newline="") as f:
        out = csv.DictWriter(f, assignment_columns(cls), extrasaction="ignore")
        out.writeheader()
        out.writerows(rows)


@pytest.mark.kafka
@pytest.mark.spark
@pytest.mark.slow
def test_a_labelled_csv_run_trains_with_the_ts_the_engine_saw(
    spark: Any, settings: Settings, tmp_path: Path
) -> None:
    folder = tmp_path / "exported"
    export_csv(_simulation("baseline", 11, 10).messages(), folder)
    _assignment_columns_only(folder / "browsing_behaviour.csv", Browsing)
    own = settings.model_copy(
        update={"archive_dir": tmp_path / "archive", "models_dir": tmp_path / "models"}
    )
    options = CsvRunOptions(fast=True, first_ts=FIRST_TS)
    asyncio.run(produce_csv(folder, CSV_RUN, own.bootstrap_servers, 2, options))
    asyncio.run(archive_run(own, CSV_RUN, ArchiveOptions(wait_for=("producer",))))

    history = run_history(spark, own.archive_dir, CSV_RUN)
    with (folder / "browsing_behaviour.csv").open() as f:
        browsing_rows = sum(1 for _ in csv.DictReader(f))
    with (folder / "fraud_transaction.csv").open() as f:
        frauds = sum(1 for row in csv.DictReader(f) if row["is_fraud"] == "1")
    browsing: Any = history.browsing.select("customer_id", "ts").toPandas()
    assert len(browsing) == browsing_rows > 1000  # no event ids: none taken for a second copy
    assert browsing["customer_id"].str.len().min() > 0
    assert browsing["ts"].min() == FIRST_TS  # the batch's ts, not the row's own time
    assert history.truth.where("is_fraud").count() == frauds > 0

    run = training_run(own.archive_dir, CSV_RUN)
    assert run.scenario == "csv:exported"
    saved = train(spark, own, TrainingPlan("from-csv", runs=(run,)), lambda _: None)
    assert saved.metadata["training"]["runs"] == [run.to_dict()]
    assert saved.metadata["training"]["frauds"] > 0
