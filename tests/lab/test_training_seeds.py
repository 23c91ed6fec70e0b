"""Training on more than one simulated run (``train --more-seed``, the default recipe's): the
plan's seeds, what the metadata and ``champion`` say of them, and the mistakes refused before
Spark starts."""

from __future__ import annotations

from pathlib import Path

from cli_runs import fraudlab_offline, one_sentence

from lab.champion_commands import _trained_on
from lab.default_model import RECIPE
from models.training import TrainingPlan


def test_a_plan_with_more_seeds_names_each_run_it_trains_on() -> None:
    plan = TrainingPlan("m", "history", seed=7, minutes=180.0, more_seeds=(8, 9))
    assert plan.training_seeds() == (7, 8, 9)
    source = plan.training_source()
    assert (source["seed"], source["more_seeds"]) == (7, [8, 9])
    assert _trained_on({"training": source}) == "history (seeds 7, 8, 9, 180 min each)"


def test_a_plan_of_one_run_says_what_it_said_before() -> None:
    source = TrainingPlan("m", "baseline", seed=7, minutes=60.0).training_source()
    assert "more_seeds" not in source
    assert _trained_on({"training": source}) == "baseline (seed 7, 60 min)"


def test_the_default_recipe_trains_on_three_runs_and_validates_on_two() -> None:
    assert RECIPE.training_seeds() == (7, 8, 9)
    assert RECIPE.validation_seeds == (1007, 1008)
    assert not set(RECIPE.training_seeds()) & set(RECIPE.validation_seeds)


def test_a_seed_that_would_train_and_validate_is_refused_before_spark() -> None:
    result = fraudlab_offline("train", "--name", "x", "--more-seed", "8", "--validation-seed", "8")
    assert result.returncode == 2, result.stderr
    assert one_sentence(result).startswith("fraudlab: seed 8 would both train and validate")
    assert "starting Spark" not in result.stdout + result.stderr


def test_more_seeds_with_a_dataset_folder_are_refused() -> None:
    folder = Path(__file__).resolve().parents[1] / "simulator" / "data" / "cases" / "csv"
    result = fraudlab_offline(
        "train", "--name", "x", "--data", str(folder / "assignment-layout"), "--more-seed", "8"
    )
    assert result.returncode == 2, result.stderr
    expected = "fraudlab: --more-seed goes with a simulated history, not --data."
    assert one_sentence(result) == expected
    assert "starting Spark" not in result.stdout + result.stderr
