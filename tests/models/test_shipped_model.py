"""The default model the project ships is what its recipe gives.

Every run of the suite checks that the model was trained from today's recipe inputs (the recipe,
the libraries, the scenarios and every module training imports: ``lab.default_model``); training
it again from the recipe (real Spark: three training and two validation runs, about ten minutes
on two quiet cores) is ``make model-check``, which sets ``FRAUDLAB_CHECK_RECIPE``."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from fraudlab.settings import Settings
from lab.default_model import RECIPE, RECIPE_FILE, SHIPPED, install, recipe_inputs, stale_inputs
from lab.regression_suite import model_fingerprint
from lab.training_runs import train
from models.registry import load_model


def test_the_shipped_default_model_was_trained_from_today_s_recipe_inputs() -> None:
    changed = stale_inputs()
    assert not changed, (
        f"{SHIPPED} was trained from other recipe inputs than the tree holds "
        f"({', '.join(changed[:8])}{' ...' if len(changed) > 8 else ''}): train it again with "
        "`make model-ship` (about ten minutes) and commit the folder"
    )


def test_the_recipe_inputs_name_the_files_training_reads() -> None:
    files = recipe_inputs()["files"]
    # the recipe, the scenarios it plays, the simulator, the features and the fit
    for path in (
        "scenarios/history.toml",
        "scenarios/baseline.toml",
        "simulator/simulation.py",
        "features/definition.py",
        "features/demand_counts.py",
        "models/training.py",
        "models/demand.py",
        "lab/demand_training.py",
        "fraudlab/records.py",
    ):
        assert path in files, path
    # paths the recipe never takes, and the stages after training
    assert not [f for f in files if f.split("/")[0] in ("engine", "viz", "archive", "replay")]
    assert "lab/run_history.py" not in files


def test_a_changed_input_is_named(tmp_path: Path) -> None:
    shipped = tmp_path / "default"
    shutil.copytree(SHIPPED, shipped)
    recorded = json.loads((shipped / RECIPE_FILE).read_text())
    recorded["files"]["features/demand.py"] = "0" * 64
    recorded["files"]["features/gone.py"] = "0" * 64
    recorded["libraries"]["xgboost"] = "0.1"
    (shipped / RECIPE_FILE).write_text(json.dumps(recorded))
    changed = stale_inputs(shipped)
    assert "features/demand.py" in changed
    assert "features/gone.py (no longer read)" in changed
    assert [c for c in changed if c.startswith("xgboost ")]
    (shipped / RECIPE_FILE).unlink()
    assert "the recipe" in stale_inputs(shipped)


@pytest.mark.spark
@pytest.mark.slow
@pytest.mark.skipif(
    not os.environ.get("FRAUDLAB_CHECK_RECIPE"),
    reason="training the recipe again takes ten minutes: make model-check",
)
# the recipe simulates five runs and fits on 144,000 transactions: 9.5 minutes alone
@pytest.mark.timeout(1800)
def test_the_shipped_default_model_is_what_its_recipe_gives(
    spark: Any, base_settings: Settings, tmp_path: Path
) -> None:
    """Trained again from the recipe, the model says on its validation rows exactly what the
    shipped one says: the same threshold and validation figures, from the same recipe."""
    settings = base_settings.model_copy(update={"models_dir": tmp_path / "trained"})
    trained = train(spark, settings, RECIPE, lambda _: None)
    shipped = load_model(SHIPPED.parent, SHIPPED.name)
    assert model_fingerprint(trained) == model_fingerprint(shipped)
    if trained.metadata["xgboost"] == shipped.metadata["xgboost"]:
        assert trained.digest == shipped.digest  # the same xgboost writes the same bytes


def test_install_copies_the_shipped_model_once(base_settings: Settings, tmp_path: Path) -> None:
    settings = base_settings.model_copy(update={"models_dir": tmp_path / "models"})
    folder = install(settings)
    assert folder is not None and load_model(settings.models_dir, "default").digest == (
        load_model(SHIPPED.parent, SHIPPED.name).digest
    )
    assert install(settings) is None  # a default model that is there is kept
