"""The default model the project ships is what its recipe gives (real Spark: three training and
two validation runs, about ten minutes on two quiet cores)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fraudlab.settings import Settings
from lab.default_model import RECIPE, SHIPPED, install
from lab.regression_suite import model_fingerprint
from lab.training_runs import train
from models.registry import load_model


@pytest.mark.spark
@pytest.mark.slow
# the recipe simulates five runs and fits on 144,000 transactions: 9.5 minutes alone, and over
# the suite's 10-minute limit beside the other test worker
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
