"""Training and evaluation fed with history: simulated from a scenario, read from a dataset
folder in the assignment's layout, or read back from archived runs (:mod:`lab.run_history`).

The glue of two stages: the simulator (or its CSV reader, or a run's archive) makes the records,
and :mod:`models.training` turns them into features and a saved model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fraudlab import codec
from fraudlab.errors import UsageError
from fraudlab.settings import Settings
from models.history import History, history_frames, rows_by_stream
from models.registry import SavedModel, validate_model_name
from models.training import Step, TrainingPlan, feature_rows, fit_and_save

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import SparkSession

    from simulator.csv_dataset import CsvDataset
    from simulator.simulation import Message


def simulated_history(
    spark: SparkSession,
    scenario_name: str,
    scenarios_dir: Path,
    seed: int,
    minutes: float | None = None,
    progress: Callable[[float, float], None] | None = None,
    customers: int | None = None,
) -> History:
    """Simulate a scenario (in a world of ``customers``, as ``run --customers`` plays it) and
    return its history as frames."""
    from simulator.scenario import load_scenario
    from simulator.simulation import Simulation

    scenario = load_scenario(scenario_name, scenarios_dir)
    if customers is not None:
        scenario = scenario.with_customers(customers)
    sim = Simulation(scenario, seed, minutes=minutes)

    def messages() -> Iterable[Message]:
        yield from sim.static_messages()
        t = 0.0
        while t < sim.horizon_s:
            t = min(t + 600.0, sim.horizon_s)
            yield from sim.advance(t)
            if progress is not None:
                progress(t, sim.horizon_s)
        yield from sim.advance(float("inf"))

    return history_frames(spark, rows_by_stream(messages()))


def training_dataset(data_dir: Path) -> CsvDataset:
    """The dataset folder ``data_dir``, its headers checked and its labels there (no Spark
    needed: a folder that cannot train is refused before a session starts); a UsageError
    otherwise."""
    from simulator.csv_dataset import locate_dataset

    dataset = locate_dataset(data_dir)
    if "truth" not in dataset.files:
        raise UsageError(f"{data_dir} has no fraud_transaction.csv: training needs the labels.")
    return dataset


def csv_history(spark: SparkSession, data_dir: Path) -> History:
    """The history in an assignment-layout dataset folder (the assignment's own or an export).

    The folder is read as ``produce-csv`` reads it (:mod:`simulator.csv_dataset`): either file
    names, a byte-order mark, quoted fields, every common time form (naive times in the
    default dataset time zone). Browsing rows without customer_id get it from
    customer_session.csv. fraud_transaction.csv may list only the frauds, as the assignment's
    does: a transaction it does not name is labelled legitimate; a label is 1 or 0, true or
    false, yes or no (``1.0`` too), and one naming no transaction of the dataset is a row that
    cannot be read. ``ts`` is each row's own time.

    Raises UsageError when a required file is missing or a row cannot be read (naming the
    file, line and field of the first; ``fraudlab check-csv`` lists them all).
    """
    from contextlib import ExitStack

    from fraudlab.field_values import event_time
    from simulator.csv_dataset import FraudLabels, set_aside_values
    from simulator.csv_rows import Problem

    dataset = training_dataset(data_dir)
    problems: list[Problem] = []
    rows: dict[str, list[dict[str, Any]]] = {}
    with ExitStack() as stack:
        for stream in ("customer", "customer_session", "browsing", "transactions"):
            rows[stream] = list(dataset.rows(stack, stream, problems.append))
        labels = FraudLabels.read(dataset, stack, problems.append)
    assert labels is not None  # the folder has the file: checked above
    known = {tx["transaction_id"] for tx in rows["transactions"]}
    known |= set_aside_values(problems, dataset.files["transactions"].name)
    problems.extend(labels.unmatched(known))
    if problems:
        raise UsageError(
            f"{len(problems)} row(s) of {data_dir} cannot be read (the first: {problems[0]}); "
            f"fraudlab check-csv {data_dir} lists them all."
        )
    sessions = {r["session_id"]: r["customer_id"] for r in rows["customer_session"]}
    for row in rows["browsing"]:
        row["customer_id"] = row.get("customer_id") or sessions.get(row["session_id"], "")
        row["ts"] = int(event_time(row["event_time"], dataset.zone))
    for row in rows["transactions"]:
        row["ts"] = int(event_time(row["created_at"], dataset.zone))
    for row in rows["customer"]:
        row["ts"] = 0
    rows["truth"] = [
        codec.to_dict(labels.truth_of(tx["transaction_id"], tx["ts"]))
        for tx in rows["transactions"]
    ]
    return history_frames(spark, rows)


def train(spark: SparkSession, settings: Settings, plan: TrainingPlan, step: Step) -> SavedModel:
    """Train, compare, choose and save a model as ``plan`` says; ``step`` hears progress."""
    validate_model_name(plan.name)
    horizon = settings.forecast_horizon_minutes
    if plan.runs:
        from lab.run_history import runs_training_rows

        train_rows, valid_rows, demand_parts = runs_training_rows(
            spark, settings.archive_dir, plan, step, settings.location_cell_resolution, horizon
        )
        saved = fit_and_save(spark, settings, plan, train_rows, valid_rows, step)
        if demand_parts:
            add_demand_model(saved, demand_parts, horizon, step)
        else:
            step(
                f"no run is longer than the forecast's {horizon:g}-minute horizon: the model "
                "has no demand forecast, and its engine writes no inventory report"
            )
        return saved
    import pandas as pd

    from lab.demand_training import demand_history_rows

    train_parts, demand_parts = [], []
    for history in _training_histories(spark, settings, plan, step):
        train_parts.append(feature_rows(spark, history, settings.location_cell_resolution))
        demand_parts.append(demand_history_rows(spark, history, horizon))
    train_rows = (
        pd.concat(train_parts, ignore_index=True) if len(train_parts) > 1 else train_parts[0]
    )
    valid_parts = []
    for seed in plan.validation_seeds:
        step(
            f"simulating validation history: {plan.validation_scenario or plan.scenario}, "
            f"seed {seed}"
        )
        valid_parts.append(
            feature_rows(
                spark,
                simulated_history(
                    spark,
                    plan.validation_scenario or plan.scenario,
                    settings.scenarios_dir,
                    seed,
                    plan.validation_minutes or plan.minutes,
                ),
                settings.location_cell_resolution,
            )
        )
    saved = fit_and_save(
        spark, settings, plan, train_rows, pd.concat(valid_parts, ignore_index=True), step
    )
    add_demand_model(saved, demand_parts, horizon, step)
    return saved


def _training_histories(
    spark: SparkSession, settings: Settings, plan: TrainingPlan, step: Step
) -> Iterator[History]:
    """The plan's training histories, one at a time: its dataset folder, or a simulation of its
    scenario for each of its training seeds (the one before is no longer held when the next is
    simulated)."""
    if plan.data_dir is not None:
        step(f"reading history from {plan.data_dir}")
        yield csv_history(spark, plan.data_dir)
        return
    for seed in plan.training_seeds():
        step(f"simulating training history: {plan.scenario}, seed {seed}")
        yield simulated_history(spark, plan.scenario, settings.scenarios_dir, seed, plan.minutes)


def add_demand_model(
    model: SavedModel, parts: Sequence[pd.DataFrame], horizon_minutes: float, step: Step
) -> None:
    """Fit the demand forecast on the demand rows of the training histories
    (:func:`lab.demand_training.demand_history_rows`'s) and save it in ``model``'s folder,
    beside its booster."""
    from lab.demand_training import fit_demand_pair
    from models.demand import save_demand

    step(f"fitting the demand forecast over {horizon_minutes:g} minutes ahead")
    save_demand(model.folder, fit_demand_pair(parts))
