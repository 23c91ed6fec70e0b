"""Every named scenario end to end, as ``fraudlab run SCENARIO --fast`` runs it (supervised
producer, engine and archiver), against its golden digests.

A scenario that fails names itself, the digest that differs (events or alerts) and the first
records that differ. ``fraudlab regress --update`` rewrites the goldens; these tests never do.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from fraudlab.settings import REPO_ROOT, Settings
from lab.regression_goldens import model_failure, read_goldens
from lab.regression_suite import (
    GOLDEN_FILE,
    MODEL_RECIPE,
    model_fingerprint,
    regression_plans,
    run_suite,
    train_regression_model,
)

pytestmark = [pytest.mark.kafka, pytest.mark.spark, pytest.mark.slow]

NAMES = [p.name for p in regression_plans(REPO_ROOT / "scenarios")]


@pytest.fixture(scope="module")
def regression_model(
    spark: Any, base_settings: Settings, tiny_model: Any, tmp_path_factory: pytest.TempPathFactory
) -> Any:
    """The tests' small model when it is trained as the suite's recipe says (no second
    training), else one trained from the recipe."""
    if model_fingerprint(tiny_model).recipe == MODEL_RECIPE:
        return tiny_model
    own = base_settings.model_copy(update={"models_dir": tmp_path_factory.mktemp("models")})
    return train_regression_model(spark, own, lambda _: None)


def test_the_goldens_cover_every_scenario_and_pin_this_model(regression_model: Any) -> None:
    goldens = read_goldens(GOLDEN_FILE)
    assert sorted(goldens.scenarios) == NAMES, (
        "the goldens do not cover exactly the named scenarios: run `fraudlab regress --update`"
    )
    failure = model_failure(goldens.model, model_fingerprint(regression_model))
    assert failure is None, failure


@pytest.mark.parametrize("name", NAMES)
def test_scenario_gives_its_golden_events_and_alerts(
    name: str, settings: Settings, regression_model: Any, tmp_path: Path
) -> None:
    goldens = read_goldens(GOLDEN_FILE)
    own = settings.model_copy(update={"checkpoint_dir": tmp_path / "checkpoints"})
    outcome = run_suite(own, goldens, regression_model, [name])
    assert not outcome.failed, outcome.failure_text()
