"""``fraudlab engine RUN_ID``: score a run and write its reports."""

from __future__ import annotations

import time
from typing import Any

import click

from fraudlab.cli_context import settings_from
from fraudlab.cli_options import MIN_SPEED
from fraudlab.progress import Steps
from fraudlab.runs import validate_run_id
from fraudlab.stop_request import StopRequest


@click.command("engine")
@click.argument("run_id")
@click.option(
    "--model", "model_name", default="default", show_default=True, help="Saved model under models/."
)
@click.option(
    "--challenger",
    "challenger_name",
    help="A second saved model scored beside --model on every transaction; --model alone "
    "decides alerts.",
)
@click.option(
    "--available-now",
    is_flag=True,
    help="Process everything the run's topics hold now, close every window, stop.",
)
@click.option(
    "--speed",
    type=click.FloatRange(min=MIN_SPEED),
    default=1.0,
    show_default=True,
    help="The run's speed: live triggers are 10 s and 30 s / speed.",
)
@click.option(
    "--until-producer-ends",
    is_flag=True,
    help="Stop by itself once the run's producer has ended and its records are scored "
    "(with --available-now: wait for the producer's end, then process everything).",
)
@click.option(
    "--max-offsets",
    type=click.IntRange(min=100),
    help="Records per micro-batch at most [default: 20,000 live, 200,000 available-now].",
)
@click.option(
    "--quick-start",
    is_flag=True,
    help="Start the JVM with the C1 JIT alone, for the first scores seconds sooner at about "
    "half the sustained rate (fraudlab run chooses it when the run's input is slow or small).",
)
@click.pass_context
def engine_command(
    ctx: click.Context,
    run_id: str,
    model_name: str,
    challenger_name: str | None,
    available_now: bool,
    speed: float,
    until_producer_ends: bool,
    max_offsets: int | None,
    quick_start: bool,
) -> None:
    """Score RUN_ID with a saved model; report fraud every 10 s and top products every 30 s."""
    from engine.job import EngineOptions, run_engine
    from fraudlab.spark import build_spark_session, stop_and_wait_for_jvm
    from models.registry import load_model

    validate_run_id(run_id)
    settings = settings_from(ctx)
    # a missing model is reported before Spark starts
    load_model(settings.models_dir, model_name)
    if challenger_name is not None:
        load_model(settings.models_dir, challenger_name)
    # before Spark starts: a driver interrupted while its JVM is starting leaves that JVM
    # running with nobody to stop it
    stop = StopRequest().install()
    steps = Steps()
    steps("starting Spark")
    # the first scores come sooner from a JVM that JITs with C1 alone: asked for a run whose
    # input is slow or small (lab.run_plan.quick_start_for), or by the settings for every live
    # engine; available-now on a large backlog, the sustained rate counts
    quick_start = quick_start or (settings.spark_live_quick_start and not available_now)
    spark = build_spark_session(settings, f"fraudlab-engine-{run_id}", quick_start)
    # pyspark's SparkContext puts its own SIGINT handler in place (cancel every job, raise
    # KeyboardInterrupt in whatever py4j call runs): take it back, so that a Ctrl-C, or the
    # parent-death signal of a run's part, stops the engine as a SIGTERM does, cleanly
    stop.install()
    if stop():  # while Spark was starting: the JVM ends with this process
        raise KeyboardInterrupt
    last = {"at": 0.0}

    def progress(status: dict[str, Any]) -> None:
        if time.monotonic() - last["at"] < 10:
            return
        last["at"] = time.monotonic()
        for q in status["queries"]:
            if q["batch"] is None:
                continue
            steps(
                f"{q['query']:<13} batch {q['batch']:>4}: {q['input_rows']:>7,} rows, "
                f"{q['processed_per_s']:>9,.0f} rows/s, {q['batch_ms'] or 0:>6,} ms, "
                f"watermark {q['watermark'] or '-'}"
            )

    options = EngineOptions(
        run_id,
        model_name,
        available_now,
        speed,
        max_offsets,
        until_producer_ends=until_producer_ends,
        challenger_name=challenger_name,
    )
    beside = "" if challenger_name is None else f" (challenger {challenger_name})"
    steps(
        f"engine for run {run_id} with model {model_name}{beside} "
        f"({'available now' if available_now else f'live at speed {speed:g}'})"
    )
    report = run_engine(spark, settings, options, progress, stop)
    if settings.jvm_class_dump is not None:
        steps(f"writing the driver's class archive to {settings.jvm_class_dump}")
        stop_and_wait_for_jvm(spark)
    produced = sum(report.produced.values())
    click.echo(
        f"run {run_id}: {produced:,} input messages; {report.scored:,} transactions scored, "
        f"{report.dropped_late:,} records dropped as late, {report.duplicates:,} duplicates, "
        f"{report.dead_lettered:,} dead-lettered ({report.conflicts:,} claiming another "
        f"customer's transaction id or session), {report.after_frontier:,} folded in after the "
        f"frontier; {report.fraud_alert_windows:,} fraud-alert "
        f"windows, {report.top_product_rows:,} top-product rows, "
        f"{report.inventory_forecast_rows:,} inventory-forecast rows "
        f"({report.wall_s:,.0f} s)"
    )


def register(group: click.Group) -> None:
    """Add the engine command to the CLI."""
    group.add_command(engine_command)
