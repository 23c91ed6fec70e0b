"""``fraudlab train`` and ``fraudlab evaluate``."""

from __future__ import annotations

import json
from pathlib import Path

import click

from fraudlab.cli_context import settings_from
from fraudlab.cli_options import json_option, minutes_option, plot_option, seed_option
from fraudlab.progress import Steps


@click.command("train")
@click.option("--name", required=True, help="Model name: its folder under models_dir.")
@click.option(
    "--scenario",
    default="history",
    show_default=True,
    help="Scenario whose simulation is the training history.",
)
@seed_option("Seed of the training run.", default=7)
@minutes_option(
    "Simulated minutes of history (a day of the history scenario does not fit a 2 GB driver).",
    default=180.0,
    minimum=1.0,
)
@click.option(
    "--validation-seed",
    "validation_seeds",
    type=int,
    multiple=True,
    help="Seeds of the validation runs [default: seed + 1000].",
)
@click.option(
    "--validation-scenario",
    help="Scenario the threshold is tuned on [default: the training scenario].",
)
@click.option(
    "--validation-minutes",
    type=click.FloatRange(min=1),
    default=120.0,
    show_default=True,
    help="Simulated minutes of each validation run (with --data too).",
)
@click.option(
    "--data",
    "data_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Train on an exported dataset folder instead of a simulation.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="xgboost.spark workers (Spark tasks) that train the trees together.",
)
@click.pass_context
def train_command(
    ctx: click.Context,
    name: str,
    scenario: str,
    seed: int,
    minutes: float,
    validation_seeds: tuple[int, ...],
    validation_scenario: str | None,
    validation_minutes: float,
    data_dir: Path | None,
    workers: int,
) -> None:
    """Train a fraud model on simulated (or exported) history and save it as models/NAME."""
    from fraudlab.spark import build_spark_session
    from lab.training_runs import train, training_dataset
    from models.registry import validate_model_name
    from models.training import TrainingPlan

    validate_model_name(name)
    settings = settings_from(ctx)
    if data_dir is not None:
        training_dataset(data_dir)  # a folder that cannot train is refused before Spark starts
    steps = Steps()
    steps("starting Spark")
    spark = build_spark_session(settings, f"fraudlab-train-{name}")
    plan = TrainingPlan(
        name=name,
        scenario=scenario,
        seed=seed,
        minutes=None if data_dir is not None else minutes,  # the folder holds the history
        validation_seeds=validation_seeds or (seed + 1000,),
        validation_scenario=validation_scenario,
        validation_minutes=validation_minutes,
        data_dir=data_dir,
        num_workers=workers,
    )
    saved = train(spark, settings, plan, steps)
    click.echo(f"saved model {saved.name} ({saved.metadata['kind']}) in {saved.folder}")


@click.command("evaluate")
@click.argument("name")
@click.option("--scenario", default="baseline", show_default=True)
@seed_option("Seed of the scenario run scored.", default=101)
@minutes_option("Simulated minutes to score.", minimum=1.0)
@json_option("Print one JSON object.")
@plot_option("Write a precision-recall curve (PNG).")
@click.pass_context
def evaluate_command(
    ctx: click.Context,
    name: str,
    scenario: str,
    seed: int,
    minutes: float | None,
    as_json: bool,
    plot: Path | None,
) -> None:
    """Score a held-out simulation with model NAME and report how well it detects fraud."""
    from fraudlab.errors import UsageError
    from fraudlab.spark import build_spark_session
    from lab.training_runs import simulated_history
    from models.evaluation import evaluate, plot_precision_recall
    from models.registry import load_model

    settings = settings_from(ctx)
    model = load_model(settings.models_dir, name)
    if seed == model.metadata.get("training", {}).get("seed") or seed in model.metadata.get(
        "validation", {}
    ).get("seeds", []):
        raise UsageError(f"seed {seed} was used to train or validate {name}: pick another.")
    steps = Steps()
    steps("starting Spark")
    spark = build_spark_session(settings, f"fraudlab-evaluate-{name}")
    steps(f"simulating {scenario}, seed {seed}")
    history = simulated_history(spark, scenario, settings.scenarios_dir, seed, minutes)
    steps("scoring")
    result, probs = evaluate(spark, model, history, scenario, seed)
    if plot is not None:
        plot_precision_recall(result, probs, plot)
        steps(f"wrote {plot}")
    if as_json:
        click.echo(json.dumps(result.as_json(), sort_keys=True))
        return
    click.echo(
        f"model {result.model} on {scenario} (seed {seed}): {result.transactions} "
        f"transactions, {result.frauds} fraudulent"
    )
    for label, value in (
        ("AUC-ROC", result.auc_roc),
        ("average precision", result.average_precision),
        ("precision", result.precision),
        ("recall", result.recall),
        ("alert rate", result.alert_rate),
        ("recall at precision >= 0.5", result.recall_at_precision_50),
    ):
        click.echo(f"  {label:<28} {value:.3f}")
    click.echo(
        f"  {'best single feature AP':<28} {result.best_single_feature_ap:.3f} "
        f"({result.best_single_feature})"
    )
    for pattern, recall in result.per_pattern_recall.items():
        click.echo(f"  recall {pattern:<21} {recall:.3f}")


def register(group: click.Group) -> None:
    """Add the model commands to the CLI."""
    group.add_command(train_command)
    group.add_command(evaluate_command)
