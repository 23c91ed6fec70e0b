"""Training history read back from archived runs: ``fraudlab train --runs A,B``.

A run's archive holds every record its producer sent. Read back as those messages
(:mod:`replay.archived_messages`: each record written by the codec again, each partition in its
log's order, undecodable values as they were sent), a run's history goes through the same
:func:`models.history.rows_by_stream` and :func:`models.history.history_frames` as a simulation's
messages: a run gives the same frames, and so the same feature rows (the engine's fold,
:mod:`features.frames`), whether it is simulated again or read from its archive. Each run is
folded on its own, since two runs may share customer ids, with the ``ts`` its records carried
as the engine saw them (a CSV run's batch time, not the row's own time as ``train --data``
reads it).

A run trains only when its archive is whole and labelled: closed (it has a digest, which the
model's metadata names, and its contents still match it) and holding ground truth. Each refusal
is one sentence naming the run and its file. Validation is other runs, or the last part of each
training run's event time (:data:`models.training.HELD_OUT_SHARE`), never a random draw.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from archive.files import ArchiveCorrupt, archive_error, archive_path, reading
from archive.reader import run_summary, verify_digest
from features.demand import DEFAULT_HORIZON_MINUTES
from features.location import DEFAULT_RESOLUTION
from fraudlab.errors import UsageError
from lab.demand_training import demand_history_rows
from models.history import HISTORY_STREAMS, History, history_frames, rows_by_stream
from models.training import (
    HELD_OUT_SHARE,
    Step,
    TrainingPlan,
    TrainingRun,
    feature_rows,
    hold_out_last,
)
from replay.archived_messages import ArchivedMessage, partition_sequence, sequences

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import SparkSession

__all__ = ["run_history", "runs_training_rows", "training_run"]


@contextlib.contextmanager
def _archive(archive_dir: Path, run_id: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """The run's archive open read-only; unknown, live and unreadable files as one sentence."""
    path = archive_path(archive_dir, run_id)
    if not path.exists():
        raise UsageError(
            f"run {run_id} is not archived: there is no {path} "
            "(`fraudlab runs` lists the archived runs)."
        )
    with reading(archive_dir, run_id) as con:
        try:
            yield con
        except duckdb.Error as exc:
            raise archive_error(exc, run_id, path, writing=False) from None
        except ArchiveCorrupt as exc:
            raise ArchiveCorrupt(f"run {run_id}'s archive {path} is unreadable: {exc}") from None


def training_run(archive_dir: Path, run_id: str) -> TrainingRun:
    """Run ``run_id`` as a model's metadata names it, once its archive is checked: archived,
    readable, closed, its contents matching its digest, and holding ground truth; a
    one-sentence error otherwise."""
    path = archive_path(archive_dir, run_id)
    with _archive(archive_dir, run_id) as con:
        summary = run_summary(con)
        if summary.digest is None:
            raise UsageError(
                f"run {run_id} cannot train: its archive {path} was never closed (status "
                f"{summary.status}); `fraudlab archive {run_id}` finishes it."
            )
        if not summary.rows.get("truth"):
            raise UsageError(
                f"run {run_id} has no ground truth to train on: its archive {path} holds no "
                "truth records (a CSV run has them when its folder has fraud_transaction.csv)."
            )
        if not verify_digest(con):
            raise UsageError(
                f"run {run_id} cannot train: its archive {path} no longer matches its digest; "
                "archive the run again from Kafka."
            )
    return TrainingRun(run_id, summary.digest, summary.scenario, summary.seed)


def _history_messages(con: duckdb.DuckDBPyConnection, run_id: str) -> Iterator[ArchivedMessage]:
    """The messages of the streams history reads, each partition in its log's order (what one
    customer sent stays in order: a record's key names its customer)."""
    return itertools.chain.from_iterable(
        partition_sequence(con, run_id, stream, partition)
        for stream, partition in sequences(con, run_id)
        if stream in HISTORY_STREAMS
    )


def run_history(spark: SparkSession, archive_dir: Path, run_id: str) -> History:
    """The history run ``run_id``'s archive holds, as frames (see the module's docstring)."""
    with _archive(archive_dir, run_id) as con:
        rows = rows_by_stream(_history_messages(con, run_id))
    return history_frames(spark, rows)


def _named(runs: Iterable[TrainingRun]) -> str:
    return ", ".join(r.run_id for r in runs)


def runs_training_rows(
    spark: SparkSession,
    archive_dir: Path,
    plan: TrainingPlan,
    step: Step,
    resolution: int = DEFAULT_RESOLUTION,
    horizon_minutes: float = DEFAULT_HORIZON_MINUTES,
) -> tuple[pd.DataFrame, pd.DataFrame, list[pd.DataFrame]]:
    """The labelled feature rows ``plan`` trains and validates on: of its runs, and of its
    validation runs or else the last :data:`HELD_OUT_SHARE` of each training run's event time
    (location cells at H3 ``resolution``); and the demand forecast's rows of each training run
    longer than ``horizon_minutes`` (:func:`lab.demand_training.demand_history_rows`, over the
    run's whole event time: the forecast is fitted, not validated, there), in run order.

    Runs are read in the order of their ids and rows put in transaction order, so the same runs
    give the same rows however they were listed; a UsageError when either side holds no fraud.
    """
    train_parts, valid_parts, demand_parts = [], [], []
    for run in sorted(plan.runs, key=lambda r: r.run_id):
        step(f"reading run {run.run_id} from its archive (digest {run.digest[:12]})")
        history = run_history(spark, archive_dir, run.run_id)
        rows = feature_rows(spark, history, resolution)
        demand = demand_history_rows(spark, history, horizon_minutes, required=False)
        if demand.empty:
            step(
                f"run {run.run_id} is no longer than the forecast's {horizon_minutes:g}-minute "
                "horizon: the demand forecast does not learn from it"
            )
        else:
            demand_parts.append(demand)
        if plan.validation_runs:
            train_parts.append(rows)
            continue
        train, valid = hold_out_last(rows, HELD_OUT_SHARE)
        step(
            f"run {run.run_id}: {len(train)} transactions to train on, the last "
            f"{HELD_OUT_SHARE:.0%} of its event time ({len(valid)}) held out for validation"
        )
        train_parts.append(train)
        valid_parts.append(valid)
    for run in sorted(plan.validation_runs, key=lambda r: r.run_id):
        step(f"reading validation run {run.run_id} from its archive (digest {run.digest[:12]})")
        valid_parts.append(
            feature_rows(spark, run_history(spark, archive_dir, run.run_id), resolution)
        )
    train_rows, valid_rows = _in_order(train_parts), _in_order(valid_parts)
    if not train_rows["label"].any():
        raise UsageError(
            f"the training rows of run(s) {_named(plan.runs)} hold no fraud: a model cannot "
            "learn fraud from them; train on runs whose scenarios have fraud patterns."
        )
    if not valid_rows["label"].any():
        if plan.validation_runs:
            raise UsageError(
                f"validation run(s) {_named(plan.validation_runs)} hold no fraud to choose a "
                "threshold on: name --validation-runs that have frauds."
            )
        raise UsageError(
            f"the last {HELD_OUT_SHARE:.0%} of the event time of run(s) {_named(plan.runs)} "
            "holds no fraud to choose a threshold on: train on longer runs, or name "
            "--validation-runs that have frauds."
        )
    return train_rows, valid_rows, demand_parts


def _in_order(parts: list[pd.DataFrame]) -> pd.DataFrame:
    """The rows of several runs in one frame, in transaction order (a stable sort: rows of runs
    that share a transaction id keep the order of their run ids)."""
    import pandas as pd

    rows = pd.concat(parts, ignore_index=True)
    return rows.sort_values("transaction_id", kind="mergesort").reset_index(drop=True)
