"""``fraudlab regress``: the scenario regression suite against its golden digests.

Progress goes to stderr; stdout holds the verdict: the differences (scenario, digest, first
records that differ) and a non-zero exit when any scenario fails, or with ``--update`` what
changed in the goldens it rewrote.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import click

from fraudlab.broker import require_broker
from fraudlab.cli_context import settings_from
from fraudlab.errors import FraudlabError
from fraudlab.progress import Steps
from lab.regression_goldens import (
    Goldens,
    model_changes,
    read_goldens,
    scenario_changes,
    write_goldens,
)
from lab.regression_suite import (
    ABOUT,
    GOLDEN_FILE,
    SuiteOutcome,
    regression_plans,
    run_suite,
    train_regression_model,
)


def _print_changes(before: Goldens | None, outcome: SuiteOutcome) -> None:
    click.echo(model_changes(before.model if before else None, outcome.model))
    for s in outcome.scenarios:
        golden = before.scenarios.get(s.digests.name) if before else None
        click.echo(scenario_changes(golden, s.digests))
    for name in outcome.orphans:
        click.echo(f"{name}: removed (no such scenario)")


@click.command("regress")
@click.argument("names", metavar="[SCENARIO]...", nargs=-1)
@click.option(
    "--update",
    is_flag=True,
    help="Rewrite the goldens from this run and print what changed (never run by `make test`).",
)
@click.option(
    "--goldens",
    "golden_file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=GOLDEN_FILE,
    show_default=True,
    help="The golden file.",
)
@click.pass_context
def regress_command(
    ctx: click.Context, names: tuple[str, ...], update: bool, golden_file: Path
) -> None:
    """Run every named scenario (or those given) end to end; compare events and alerts with
    the goldens."""
    settings = settings_from(ctx)
    plans = regression_plans(settings.scenarios_dir, names)  # a bad name is told before Spark
    require_broker(settings.bootstrap_servers)
    before = read_goldens(golden_file) if golden_file.is_file() or not update else None
    steps = Steps()
    steps(
        f"regression of {len(plans)} scenarios against {golden_file} "
        f"on the broker at {settings.bootstrap_servers}"
    )
    from fraudlab.spark import build_spark_session

    with tempfile.TemporaryDirectory(prefix="fraudlab-regress-") as work:
        # the suite's model, checkpoints and archive are its own; its parts' logs stay in the
        # settings' logs folder, to be read when a scenario fails
        own = settings.model_copy(
            update={
                "models_dir": Path(work, "models"),
                "checkpoint_dir": Path(work, "checkpoints"),
                "archive_dir": Path(work, "archive"),
            }
        )
        steps("starting Spark to train the suite's model")
        spark = build_spark_session(own, "fraudlab-regress")
        try:
            model = train_regression_model(spark, own, steps)
        finally:
            spark.stop()
        outcome = run_suite(own, None if update else before, model, names, steps)
    if update:
        write_goldens(golden_file, outcome.as_goldens(before), ABOUT)
        _print_changes(before, outcome)
        click.echo(f"wrote {golden_file} ({outcome.wall_s:.0f} s)")
        return
    if outcome.model_failure is not None or outcome.failed:
        click.echo(outcome.failure_text())
        which = ", ".join(outcome.failed) or "none of the scenarios, but the model"
        raise FraudlabError(f"regression failed: {which} (see above).")
    click.echo(
        f"{len(outcome.scenarios)} scenarios match their goldens: events and alerts "
        f"({outcome.wall_s:.0f} s)"
    )


def register(group: click.Group) -> None:
    """Add the regression command to the CLI."""
    group.add_command(regress_command)
