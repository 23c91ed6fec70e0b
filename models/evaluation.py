"""Evaluating a saved model on held-out history: the figures and the precision-recall plot.

Every figure is computed from one pass of the model's scorer over a simulation whose seed was not
used in training; ``best_single_feature_ap`` says how far any one feature gets alone, which is how a
too-easy world shows itself.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from features.definition import CATEGORY_FEATURES, NUMERIC_FEATURES
from features.location import DEFAULT_RESOLUTION
from models import metrics
from models.registry import SavedModel
from models.training import feature_rows, probabilities

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import SparkSession

    from models.history import History


@dataclass(frozen=True)
class Evaluation:
    """What ``fraudlab evaluate`` reports."""

    model: str
    scenario: str
    seed: int
    transactions: int
    frauds: int
    threshold: float
    auc_roc: float
    average_precision: float
    precision: float
    recall: float
    per_pattern_recall: dict[str, float]
    alert_rate: float
    recall_at_precision_50: float  # the best the ranking allows, whatever the saved threshold
    best_single_feature_ap: float
    best_single_feature: str

    def as_json(self) -> dict[str, Any]:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def single_feature_aps(rows: pd.DataFrame) -> dict[str, float]:
    """The average precision each feature reaches alone (categories by their fraud rate)."""
    labels = rows["label"].to_numpy()
    out = {
        name: metrics.single_feature_ap(rows[name].to_numpy(dtype=float), labels)
        for name in NUMERIC_FEATURES
    }
    for name in CATEGORY_FEATURES:
        # a category's own fraud rate is the best any ranking by that feature alone can do
        rate = rows.groupby(name)["label"].transform("mean").to_numpy(dtype=float)
        out[name] = metrics.average_precision(rate, labels)
    return out


def evaluate(
    spark: SparkSession, model: SavedModel, history: History, scenario: str, seed: int
) -> tuple[Evaluation, pd.DataFrame]:
    """Figures of ``model`` on ``history``, and the scored rows (for plots)."""
    resolution = int(model.metadata.get("location_cell_resolution", DEFAULT_RESOLUTION))
    return evaluate_rows(spark, model, feature_rows(spark, history, resolution), scenario, seed)


def evaluate_rows(
    spark: SparkSession, model: SavedModel, rows: pd.DataFrame, scenario: str, seed: int
) -> tuple[Evaluation, pd.DataFrame]:
    """Figures of ``model`` on labelled feature rows, and the scored rows (for plots)."""
    probs = probabilities(model.scorer(), rows)
    scores, labels = probs["fraud_probability"].to_numpy(), probs["label"].to_numpy()
    at = metrics.at_threshold(scores, labels, model.threshold)
    fraud = probs[probs["label"] == 1.0]
    per_pattern = {
        str(pattern): float((group["fraud_probability"] >= model.threshold).mean())
        for pattern, group in sorted(fraud.groupby("pattern"), key=lambda g: str(g[0]))
    }
    aps = single_feature_aps(rows)
    best_feature = max(aps, key=lambda k: aps[k] if aps[k] == aps[k] else -1.0)
    evaluation = Evaluation(
        model=model.name,
        scenario=scenario,
        seed=seed,
        transactions=len(probs),
        frauds=int(labels.sum()),
        threshold=model.threshold,
        auc_roc=metrics.roc_auc(scores, labels),
        average_precision=metrics.average_precision(scores, labels),
        precision=at.precision,
        recall=at.recall,
        per_pattern_recall=per_pattern,
        alert_rate=at.alert_rate,
        recall_at_precision_50=metrics.recall_at_precision(scores, labels, 0.5),
        best_single_feature_ap=aps[best_feature],
        best_single_feature=best_feature,
    )
    return evaluation, probs


def plot_precision_recall(evaluation: Evaluation, probs: pd.DataFrame, path: Path) -> None:
    """A PNG of the precision-recall curve, the operating point and each pattern's recall."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    precision, recall, _ = metrics.pr_curve(probs["fraud_probability"], probs["label"])
    fig, ax = plt.subplots(figsize=(8, 6), dpi=110)
    ax.plot(
        recall,
        precision,
        color="#1f77b4",
        lw=2,
        label=f"{evaluation.model} (AP {evaluation.average_precision:.3f})",
    )
    base = evaluation.frauds / max(evaluation.transactions, 1)
    ax.axhline(base, color="grey", ls=":", lw=1, label=f"fraud rate {base:.3f}")
    ax.scatter(
        [evaluation.recall],
        [evaluation.precision],
        s=90,
        color="black",
        zorder=5,
        label=f"threshold {evaluation.threshold:.3f}",
    )
    colours = plt.get_cmap("tab10")
    for i, (pattern, value) in enumerate(evaluation.per_pattern_recall.items()):
        ax.scatter(
            [value],
            [evaluation.precision],
            marker="v",
            s=80,
            color=colours(i + 1),
            zorder=6,
            label=f"{pattern} recall {value:.2f}",
        )
    ax.set(
        xlim=(0, 1.02),
        ylim=(0, 1.02),
        xlabel="recall",
        ylabel="precision",
        title=f"{evaluation.scenario}, seed {evaluation.seed}: "
        f"{evaluation.transactions} transactions, {evaluation.frauds} fraudulent",
    )
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left", fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
