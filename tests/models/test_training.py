"""Training (xgboost.spark), saving, loading and honest evaluation of a fraud model (real Spark)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import xgboost

from fraudlab.errors import UsageError
from fraudlab.settings import Settings
from lab.training_runs import simulated_history
from models import metrics
from models.evaluation import evaluate_rows, plot_precision_recall, single_feature_aps
from models.feature_vectors import encoding_for
from models.registry import load_model
from models.scorer import BOOSTER_FILE, Scorer, read_booster
from models.training import TrainingPlan, feature_rows, fit_and_save, fit_booster, probabilities

pytestmark = [pytest.mark.spark, pytest.mark.slow]

MINUTES = 30.0


@pytest.fixture(scope="module")
def model_settings(base_settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return base_settings.model_copy(update={"models_dir": tmp_path_factory.mktemp("models")})


def _rows(spark: Any, settings: Settings, seed: int) -> Any:
    return feature_rows(
        spark, simulated_history(spark, "baseline", settings.scenarios_dir, seed, MINUTES)
    )


@pytest.fixture(scope="module")
def train_rows(spark: Any, model_settings: Settings) -> Any:
    return _rows(spark, model_settings, 7)


@pytest.fixture(scope="module")
def held_out(spark: Any, model_settings: Settings) -> Any:
    """Feature rows of a seed used neither in training nor in validation."""
    return _rows(spark, model_settings, 101)


@pytest.fixture(scope="module")
def trained(spark: Any, model_settings: Settings, train_rows: Any) -> Any:
    plan = TrainingPlan(
        name="small",
        scenario="baseline",
        seed=7,
        minutes=MINUTES,
        validation_seeds=(1007,),
    )
    steps: list[str] = []
    valid_rows = _rows(spark, model_settings, 1007)
    return fit_and_save(spark, model_settings, plan, train_rows, valid_rows, steps.append), steps


def test_training_saves_a_model_with_its_metadata(trained: Any) -> None:
    saved, steps = trained
    meta = json.loads((saved.folder / "metadata.json").read_text())
    assert meta["training"] == {
        "scenario": "baseline",
        "data_dir": None,
        "seed": 7,
        "minutes": MINUTES,
        "transactions": meta["training"]["transactions"],
        "frauds": meta["training"]["frauds"],
    }
    assert meta["training"]["frauds"] > 20
    assert set(meta["validation"]["average_precision"]) == {"xgboost"}
    assert meta["kind"] == "xgboost"
    assert meta["xgboost"] == xgboost.__version__
    assert meta["params"]["max_depth"] == 6 and meta["params"]["random_state"] == 7
    assert 0.0 < meta["threshold"] < 1.0
    assert len(meta["digest"]) == 64 and meta["features"]
    assert meta["encoding"]["categories"][0]["feature"] == "payment_method"
    assert sorted(p.name for p in saved.folder.iterdir()) == [BOOSTER_FILE, "metadata.json"]
    assert any("chose" in s for s in steps)


def test_the_saved_scorer_gives_the_validation_figures_training_saw(
    spark: Any, model_settings: Settings, trained: Any
) -> None:
    saved, _ = trained
    valid_rows = _rows(spark, model_settings, 1007)
    scorer = load_model(saved.folder.parent, "small").scorer()
    probs = probabilities(scorer, valid_rows)
    assert len(probs) == saved.metadata["validation"]["transactions"]
    ap = metrics.average_precision(probs["fraud_probability"], probs["label"])
    assert round(ap, 6) == saved.metadata["validation"]["average_precision"]["xgboost"]
    assert scorer.threshold == saved.threshold and scorer.digest == saved.digest


def test_training_again_gives_the_same_booster_byte_for_byte(
    spark: Any, trained: Any, train_rows: Any
) -> None:
    saved, _ = trained
    raw = fit_booster(spark, "xgboost", 7, train_rows, encoding_for(train_rows))
    assert raw == (saved.folder / BOOSTER_FILE).read_bytes()


def test_evaluation_on_a_held_out_seed(
    spark: Any, trained: Any, held_out: Any, tmp_path: Path
) -> None:
    saved, _ = trained
    result, probs = evaluate_rows(
        spark, load_model(saved.folder.parent, "small"), held_out, "baseline", 101
    )
    assert result.average_precision > 0.3
    assert result.auc_roc > 0.85
    assert result.best_single_feature_ap < 0.5
    assert set(result.per_pattern_recall) <= {
        "card_testing",
        "account_takeover",
        "promo_abuse",
        "bot_checkout",
        "regional_fraud_ring",
        "high_value_spike",
    }
    keys = set(result.as_json())
    assert {
        "auc_roc",
        "average_precision",
        "precision",
        "recall",
        "per_pattern_recall",
        "alert_rate",
        "best_single_feature_ap",
    } <= keys
    plot = tmp_path / "pr.png"
    plot_precision_recall(result, probs, plot)
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and plot.stat().st_size > 20_000


def test_shuffled_labels_bring_average_precision_down_to_the_fraud_rate(
    spark: Any, model_settings: Settings, held_out: Any
) -> None:
    train_rows = feature_rows(
        spark, simulated_history(spark, "baseline", model_settings.scenarios_dir, 7, MINUTES)
    )
    shuffled = train_rows.copy()
    shuffled["label"] = np.random.default_rng(0).permutation(shuffled["label"].to_numpy())
    encoding = encoding_for(shuffled)
    raw = fit_booster(spark, "xgboost", 7, shuffled, encoding)
    scorer = Scorer(read_booster(model_settings.models_dir, raw), encoding, 0.5, "shuffled", "")
    probs = probabilities(scorer, held_out)
    fraud_rate = probs["label"].mean()
    ap = metrics.average_precision(probs["fraud_probability"], probs["label"])
    assert ap < 3 * fraud_rate, (ap, fraud_rate)


def test_no_single_feature_gives_fraud_away(held_out: Any) -> None:
    aps = single_feature_aps(held_out)
    assert max(aps.values()) < 0.5, sorted(aps.items(), key=lambda kv: -kv[1])[:3]


def test_missing_and_damaged_model_folders_are_one_sentence(trained: Any, tmp_path: Path) -> None:
    saved, _ = trained
    with pytest.raises(UsageError, match=r"no model named 'nope' in .*: train it with"):
        load_model(saved.folder.parent, "nope")
    broken = tmp_path / "models"
    shutil.copytree(saved.folder, broken / "small")
    booster = broken / "small" / BOOSTER_FILE
    booster.write_bytes(booster.read_bytes() + b"\0")
    with pytest.raises(UsageError, match="is corrupt: its files do not match the digest"):
        load_model(broken, "small")
    booster.unlink()
    with pytest.raises(UsageError, match=f"is incomplete: {BOOSTER_FILE} is missing"):
        load_model(broken, "small")
    # a folder saved before the move to xgboost: a Spark ML pipeline and no booster
    (broken / "small" / "pipeline" / "stages").mkdir(parents=True)
    with pytest.raises(UsageError, match=r"Spark ML pipeline .*: retrain it \(`make model-clean"):
        load_model(broken, "small")
    shutil.rmtree(broken / "small" / "pipeline")
    (broken / "small" / "metadata.json").write_text("{not json")
    with pytest.raises(UsageError, match=r"metadata\.json is unreadable"):
        load_model(broken, "small")
    (broken / "small" / "metadata.json").unlink()
    with pytest.raises(UsageError, match=r"metadata\.json is missing"):
        load_model(broken, "small")


def test_evaluate_cli_names_a_missing_model(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "lab.cli", "evaluate", "nope", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"FRAUDLAB_MODELS_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    assert result.stderr.startswith("fraudlab: no model named 'nope'")
    assert result.stderr.count("\n") == 1
