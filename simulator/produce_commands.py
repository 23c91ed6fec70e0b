"""``fraudlab produce`` and ``fraudlab produce-csv``: runs into Kafka.

Progress goes to stderr; the last lines are the counts per topic of what the broker
acknowledged. A broker that is down, or stops acknowledging, ends the command in one sentence.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click
from rich.progress import TaskID

from fraudlab.cli_context import run_async, settings_from
from fraudlab.errors import UsageError
from fraudlab.progress import progress_bar, stderr
from fraudlab.runs import new_run_id, validate_run_id
from simulator.producer import ProduceReport, produce_run, run_details


def _speed(speed: float | None, fast: bool) -> float | None:
    if fast and speed is not None:
        raise UsageError("--speed and --fast exclude each other: choose one.")
    if not fast and speed is None:
        raise UsageError("say how fast to play the run: --speed K (1 = real time) or --fast.")
    return None if fast else speed


def _print_report(report: ProduceReport, paced: bool) -> None:
    for stream, count in report.delivered.items():
        click.echo(f"  {stream:<18} {count:>10,}")
    click.echo(f"  {'total':<18} {report.total:>10,}")
    speed = f"{report.speed:,.1f}x" if report.simulated_s else "-"
    click.echo(
        f"run {report.run_id}: {report.total:,} messages delivered in "
        f"{report.wall_s:,.1f} s (speed reached {speed}{'' if paced else ', --fast'})"
    )


@click.command("produce")
@click.argument("scenario")
@click.option("--seed", type=click.IntRange(min=0), help="Seed [default: the scenario's].")
@click.option(
    "--minutes",
    type=click.FloatRange(min=0, min_open=True),
    help="Simulated minutes [default: the scenario's].",
)
@click.option("--start", "start_text", help="Run start (ISO 8601) [default: 2026-01-05T00:00Z].")
@click.option("--run-id", help="Run id [default: scenario, seed and the time it starts].")
@click.option(
    "--speed",
    type=click.FloatRange(min=0, min_open=True),
    help="Pace: simulated seconds per wall second (1 = real time).",
)
@click.option("--fast", is_flag=True, help="As fast as the broker takes it.")
@click.pass_context
def produce_command(
    ctx: click.Context,
    scenario: str,
    seed: int | None,
    minutes: float | None,
    start_text: str | None,
    run_id: str | None,
    speed: float | None,
    fast: bool,
) -> None:
    """Simulate SCENARIO and publish it to Kafka as run RUN_ID."""
    from simulator.clock import DEFAULT_START, parse_start
    from simulator.scenario import load_scenario
    from simulator.simulation import Simulation

    pace = _speed(speed, fast)
    settings = settings_from(ctx)
    loaded = load_scenario(scenario, settings.scenarios_dir)
    seed = loaded.seed if seed is None else seed
    try:
        start = parse_start(start_text) if start_text else DEFAULT_START
    except ValueError:
        raise UsageError(f"--start: {start_text!r} is not an ISO 8601 date and time.") from None
    run_id = validate_run_id(run_id) if run_id else new_run_id(loaded.name, seed)
    simulation = Simulation(loaded, seed, start, minutes)
    details = run_details(loaded.text, loaded.name, seed, start, simulation.minutes, pace)
    stderr.print(
        f"producing {loaded.name} (seed {seed}, {simulation.minutes:g} min) as run "
        f"{run_id} to {settings.bootstrap_servers}"
    )
    with progress_bar(f"run {run_id}", simulation.horizon_s) as bar:

        def progress(sim_s: float, sent: Counter[str]) -> None:
            bar.update(
                TaskID(0),
                completed=sim_s,
                status=f"{sim_s / 60:,.1f} min, {sum(sent.values()):,} messages",
            )

        report = run_async(
            produce_run(
                simulation,
                start,
                run_id,
                settings.bootstrap_servers,
                settings.topic_partitions,
                pace,
                details=details,
                progress=progress,
            )
        )
    _print_report(report, pace is not None)


@click.command("produce-csv")
@click.argument("data_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--run-id", help="Run id [default: csv and the time it starts].")
@click.option("--min-rows", type=click.IntRange(min=1), default=200, show_default=True)
@click.option("--max-rows", type=click.IntRange(min=1), default=500, show_default=True)
@click.option(
    "--interval",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Seconds between batches.",
)
@click.option(
    "--message-format",
    type=click.Choice(["record", "batch"]),
    default="record",
    show_default=True,
    help="One message per row, or one JSON array per batch.",
)
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    default=0,
    show_default=True,
    help="Seed of the random batch sizes.",
)
@click.option("--fast", is_flag=True, help="Send batches back to back instead of every interval.")
@click.pass_context
def produce_csv_command(
    ctx: click.Context,
    data_dir: Path,
    run_id: str | None,
    min_rows: int,
    max_rows: int,
    interval: int,
    message_format: str,
    seed: int,
    fast: bool,
) -> None:
    """Stream an assignment-layout dataset folder (DATA_DIR) to Kafka as the assignment says."""
    from simulator.csv_batches import BatchRule, CsvBatch
    from simulator.csv_producer import check_dataset, produce_csv

    try:
        rule = BatchRule(min_rows, max_rows, interval)
    except ValueError as exc:
        raise UsageError(f"{exc}.") from None
    check_dataset(data_dir)
    settings = settings_from(ctx)
    run_id = validate_run_id(run_id) if run_id else new_run_id("csv", seed)
    counts: Counter[str] = Counter()

    def progress(batch: CsvBatch) -> None:
        counts["browsing"] += len(batch.browsing)
        counts["transactions"] += len(batch.transactions)
        stderr.print(
            f"batch {batch.number:>5}: ts {batch.ts}, {len(batch.browsing)} browsing, "
            f"{len(batch.transactions)} transactions "
            f"({counts['browsing']:,} / {counts['transactions']:,} so far)"
        )

    report = run_async(
        produce_csv(
            data_dir,
            run_id,
            settings.bootstrap_servers,
            settings.topic_partitions,
            rule=rule,
            message_format="batch" if message_format == "batch" else "record",
            seed=seed,
            fast=fast,
            progress=progress,
        )
    )
    _print_report(report, not fast)


def register(group: click.Group) -> None:
    """Add the producer commands to the CLI."""
    group.add_command(produce_command)
    group.add_command(produce_csv_command)
