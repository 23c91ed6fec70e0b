"""``fraudlab train`` and ``fraudlab evaluate``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click

from fraudlab.cli_context import settings_from
from fraudlab.cli_options import json_option, minutes_option, plot_option, seed_option
from fraudlab.errors import UsageError
from fraudlab.progress import Steps

if TYPE_CHECKING:
    from models.training import TrainingPlan


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
    "--more-seed",
    "more_seeds",
    type=click.IntRange(min=0),
    multiple=True,
    help="Train on a further run of the scenario with this seed (repeatable), simulated after "
    "the one before: more frauds to learn from than one run a 2 GB driver holds.",
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
    "--runs",
    "run_list",
    metavar="A,B",
    help="Train on these archived runs (comma-separated): their events and labels, read from "
    "their archives, instead of a simulation.",
)
@click.option(
    "--validation-runs",
    "validation_list",
    metavar="C,D",
    help="With --runs: archived runs the threshold is tuned on [default: the last quarter of "
    "each training run's event time].",
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
    more_seeds: tuple[int, ...],
    validation_seeds: tuple[int, ...],
    validation_scenario: str | None,
    validation_minutes: float,
    data_dir: Path | None,
    run_list: str | None,
    validation_list: str | None,
    workers: int,
) -> None:
    """Train a fraud model on simulated (or exported, or archived) history and save it as
    models/NAME."""
    from fraudlab.spark import build_spark_session
    from lab.training_runs import train, training_dataset
    from models.registry import validate_model_name
    from models.training import TrainingPlan

    validate_model_name(name)
    settings = settings_from(ctx)
    if run_list is None and validation_list is not None:
        raise UsageError("--validation-runs goes with --runs: name the runs to train on.")
    if run_list is not None:
        plan = _runs_plan(ctx, settings.archive_dir, name, run_list, validation_list, workers)
    else:
        if data_dir is not None:
            training_dataset(data_dir)  # a folder that cannot train is refused before Spark
            if more_seeds:
                raise UsageError("--more-seed goes with a simulated history, not --data.")
        shared = {seed, *more_seeds} & set(validation_seeds or (seed + 1000,))
        if shared:
            raise UsageError(
                f"seed {min(shared)} would both train and validate: pick other validation seeds."
            )
        plan = TrainingPlan(
            name=name,
            scenario=scenario,
            seed=seed,
            more_seeds=tuple(dict.fromkeys(s for s in more_seeds if s != seed)),
            minutes=None if data_dir is not None else minutes,  # the folder holds the history
            validation_seeds=validation_seeds or (seed + 1000,),
            validation_scenario=validation_scenario,
            validation_minutes=validation_minutes,
            data_dir=data_dir,
            num_workers=workers,
        )
    steps = Steps()
    steps("starting Spark")
    spark = build_spark_session(settings, f"fraudlab-train-{name}")
    saved = train(spark, settings, plan, steps)
    click.echo(
        f"saved model {saved.name} ({saved.metadata['kind']}) in {saved.folder}; "
        f"booster digest {saved.digest}"
    )


# what --runs replaces: a training run's history, seed and validation are the runs'
_SIMULATION_OPTIONS = (
    "scenario",
    "seed",
    "minutes",
    "validation_seeds",
    "validation_scenario",
    "validation_minutes",
    "data_dir",
)


def _given_on_command_line(ctx: click.Context, names: tuple[str, ...]) -> list[str]:
    """The options among the parameters ``names`` that were given, not defaulted, as --flags."""
    from click.core import ParameterSource

    given = []
    for param in ctx.command.params:
        source = ctx.get_parameter_source(param.name or "")
        if param.name in names and source not in (None, ParameterSource.DEFAULT):
            given.append(param.opts[0])
    return given


def _listed_runs(text: str, option: str) -> tuple[str, ...]:
    """The run ids of a comma-separated option value, once each, in order; a UsageError names
    a bad one.

    >>> _listed_runs("a, b,a", "--runs")
    ('a', 'b')
    """
    from fraudlab.runs import validate_run_id

    ids = [part.strip() for part in text.split(",")]
    if not all(ids):
        raise UsageError(f"{option} {text!r}: name archived runs separated by commas (A,B).")
    return tuple(dict.fromkeys(validate_run_id(i) for i in ids))


def _runs_plan(
    ctx: click.Context,
    archive_dir: Path,
    name: str,
    run_list: str,
    validation_list: str | None,
    workers: int,
) -> TrainingPlan:
    """The plan of training on archived runs, each run's archive checked before Spark starts."""
    from lab.run_history import training_run
    from models.training import TrainingPlan

    given = _given_on_command_line(ctx, _SIMULATION_OPTIONS)
    if given:
        raise UsageError(f"--runs trains on archived runs: drop {', '.join(given)}.")
    runs = _listed_runs(run_list, "--runs")
    validation = _listed_runs(validation_list, "--validation-runs") if validation_list else ()
    both = [r for r in runs if r in validation]
    if both:
        raise UsageError(
            f"run {both[0]} is named by both --runs and --validation-runs: a model is validated "
            "on runs it was not trained on."
        )
    return TrainingPlan(
        name=name,
        runs=tuple(training_run(archive_dir, r) for r in runs),
        validation_runs=tuple(training_run(archive_dir, r) for r in validation),
        num_workers=workers,
    )


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
    from fraudlab.spark import build_spark_session
    from lab.training_runs import simulated_history
    from models.evaluation import evaluate, plot_precision_recall
    from models.registry import load_model
    from models.training import seeds_trained_on

    settings = settings_from(ctx)
    model = load_model(settings.models_dir, name)
    if seed in seeds_trained_on(model.metadata.get("training", {})) or seed in (
        model.metadata.get("validation", {}).get("seeds", [])
    ):
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
