"""Training a fraud model: simulate (or read) history, build features, pick the better candidate.

Candidates are fitted on the training history and compared by average precision on validation
history simulated from other seeds; the winner's operating threshold is the one with the most
recall at precision >= 0.5 on validation. Feature rows are materialised in a fixed order before
fitting, so the same command gives the same model and the same metrics.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from engine.feature_frames import batch_features, customer_events
from engine.features import FEATURES
from fraudlab.settings import Settings
from fraudlab.version import code_version
from models import metrics
from models.history import History, csv_history, simulated_history
from models.pipelines import build_pipeline, scored
from models.registry import SavedModel, save_model, validate_model_name

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.ml import PipelineModel
    from pyspark.sql import DataFrame, SparkSession

Step = Callable[[str], None]
MIN_PRECISION = 0.5


@dataclass(frozen=True)
class TrainingPlan:
    """What to train on: a scenario and seed (or a dataset folder), and the candidates."""

    name: str
    scenario: str = "history"
    seed: int = 7
    minutes: float | None = None
    validation_seeds: tuple[int, ...] = (1007,)
    validation_minutes: float | None = None
    # the traffic the threshold is tuned for; None: the training scenario
    validation_scenario: str | None = None
    data_dir: Path | None = None
    candidates: tuple[str, ...] = ("gbt", "random_forest")
    extra: dict[str, Any] = field(default_factory=dict)


def feature_rows(spark: SparkSession, history: History) -> pd.DataFrame:
    """Labelled feature rows of a history, in transaction order (a pandas frame)."""
    events = customer_events(history.browsing, history.transactions, history.customers)
    labelled = history.labelled(batch_features(events))
    rows: pd.DataFrame = labelled.toPandas()
    return rows.sort_values("transaction_id", kind="mergesort").reset_index(drop=True)


def to_spark(spark: SparkSession, rows: pd.DataFrame) -> DataFrame:
    """A feature frame for Spark ML, partitioned the same way every time."""
    return spark.createDataFrame(rows).repartition(1).cache()


def probabilities(model: object, frame: DataFrame) -> pd.DataFrame:
    """transaction_id, label, pattern and fraud_probability of every row, in a fixed order."""
    out = scored(frame, model).select("transaction_id", "label", "pattern", "fraud_probability")
    rows: pd.DataFrame = out.toPandas()
    return rows.sort_values("transaction_id", kind="mergesort").reset_index(drop=True)


def train(spark: SparkSession, settings: Settings, plan: TrainingPlan, step: Step) -> SavedModel:
    """Train, compare, choose and save a model as ``plan`` says; ``step`` hears progress."""
    validate_model_name(plan.name)
    if plan.data_dir is not None:
        step(f"reading history from {plan.data_dir}")
        train_rows = feature_rows(spark, csv_history(spark, plan.data_dir))
    else:
        step(f"simulating training history: {plan.scenario}, seed {plan.seed}")
        train_rows = feature_rows(
            spark,
            simulated_history(
                spark, plan.scenario, settings.scenarios_dir, plan.seed, plan.minutes
            ),
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
            )
        )
    import pandas as pd

    return fit_and_save(
        spark, settings, plan, train_rows, pd.concat(valid_parts, ignore_index=True), step
    )


def fit_and_save(
    spark: SparkSession,
    settings: Settings,
    plan: TrainingPlan,
    train_rows: pd.DataFrame,
    valid_rows: pd.DataFrame,
    step: Step,
) -> SavedModel:
    """Fit every candidate on ``train_rows``, keep the best on ``valid_rows``, and save it."""

    train_df, valid_df = to_spark(spark, train_rows), to_spark(spark, valid_rows)
    fitted: dict[str, tuple[PipelineModel, float, pd.DataFrame]] = {}
    for kind in plan.candidates:
        step(
            f"fitting {kind} on {len(train_rows)} transactions "
            f"({int(train_rows['label'].sum())} fraudulent)"
        )
        model = build_pipeline(kind, plan.seed).fit(train_df)
        probs = probabilities(model, valid_df)
        ap = metrics.average_precision(probs["fraud_probability"], probs["label"])
        step(f"{kind}: validation average precision {ap:.3f}")
        fitted[kind] = (model, ap, probs)
    best = max(fitted, key=lambda k: (fitted[k][1], -plan.candidates.index(k)))
    model, ap, probs = fitted[best]
    threshold = metrics.best_threshold(probs["fraud_probability"], probs["label"], MIN_PRECISION)
    at = metrics.at_threshold(probs["fraud_probability"], probs["label"], threshold)
    metadata = {
        "kind": best,
        "training": {
            "scenario": plan.scenario if plan.data_dir is None else None,
            "data_dir": str(plan.data_dir) if plan.data_dir else None,
            "seed": plan.seed,
            "minutes": plan.minutes,
            "transactions": len(train_rows),
            "frauds": int(train_rows["label"].sum()),
        },
        "validation": {
            "scenario": plan.validation_scenario or plan.scenario,
            "seeds": list(plan.validation_seeds),
            "transactions": len(valid_rows),
            "average_precision": {k: round(v[1], 6) for k, v in fitted.items()},
            "auc_roc": round(metrics.roc_auc(probs["fraud_probability"], probs["label"]), 6),
            "precision": round(at.precision, 6),
            "recall": round(at.recall, 6),
            "alert_rate": round(at.alert_rate, 6),
        },
        "features": list(FEATURES),
        "threshold": threshold,
        "code_version": code_version(),
        **plan.extra,
    }
    step(
        f"chose {best} (validation AP {ap:.3f}); threshold {threshold:.4f} gives precision "
        f"{at.precision:.3f}, recall {at.recall:.3f}"
    )
    saved = save_model(model, settings.models_dir, plan.name, metadata)
    train_df.unpersist()
    valid_df.unpersist()
    return saved
