"""The default model, shipped with the project: ``python -m lab.default_model install|train``.

``make demo`` plays its first run without training a model first (about two minutes on two
cores): the project carries the model its recipe (:data:`RECIPE`) gives, in
``models/shipped/default`` (the booster, 0.5 MB, and its metadata). ``install`` copies it into
``models_dir`` unless a default model is there; ``train`` trains it again from the recipe into
``models_dir``. Training is repeatable (sorted feature rows, trees grown without sampling), and
the suite checks that the recipe still gives what the shipped model says on its validation rows
(``tests/models/test_shipped_model.py``), as the regression suite pins its own model: by its
threshold and validation figures rather than the booster's bytes, which also change with the
xgboost version that wrote them.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from fraudlab.errors import FraudlabError
from fraudlab.settings import REPO_ROOT, Settings, load_settings
from models.training import TrainingPlan

SHIPPED = REPO_ROOT / "models" / "shipped" / "default"
# a day of the history scenario does not fit a 2 GB driver: three runs of three hours of it,
# simulated one after another, and the threshold tuned on two runs of two hours of ordinary
# traffic. Against one run and one validation run (the location-cell issue's note has the
# table): validation AP 0.870 -> 0.883; baseline seed 101 AP 0.838 -> 0.868; regional-ring
# recall on regional-fraud-ring seed 101 0.897 -> 0.948 at precision 0.498 -> 0.553
RECIPE = TrainingPlan(
    name="default",
    scenario="history",
    seed=7,
    more_seeds=(8, 9),
    minutes=180.0,
    validation_seeds=(1007, 1008),
    validation_minutes=120.0,
    validation_scenario="baseline",
)


def install(settings: Settings) -> Path | None:
    """Copy the shipped default model into ``settings.models_dir``; its folder, or None when a
    default model is there already (it is kept)."""
    target = settings.models_dir / RECIPE.name
    if (target / "metadata.json").is_file():
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{RECIPE.name}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    shutil.copytree(SHIPPED, partial)
    partial.rename(target)
    return target


def train(settings: Settings) -> Path:
    """Train the default model from :data:`RECIPE` into ``settings.models_dir``."""
    from fraudlab.progress import Steps
    from fraudlab.spark import build_spark_session
    from lab.training_runs import train as train_model

    steps = Steps()
    steps("starting Spark")
    spark = build_spark_session(settings, "fraudlab-train-default")
    return train_model(spark, settings, RECIPE, steps).folder


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args not in (["install"], ["train"]):
        print("usage: python -m lab.default_model install|train", file=sys.stderr)
        return 2
    try:
        settings = load_settings()
        if args == ["install"]:
            folder = install(settings)
            where = settings.models_dir / RECIPE.name
            print(
                f"{where} is there (make model-train trains it again from its recipe)"
                if folder is None
                else f"installed the shipped default model into {folder}"
            )
        else:
            print(f"trained the default model into {train(settings)}")
    except FraudlabError as exc:
        print(f"fraudlab: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
