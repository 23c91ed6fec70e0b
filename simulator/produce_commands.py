"""``fraudlab produce`` and ``fraudlab produce-csv``: runs into Kafka.

Progress goes to stderr; the last lines are the counts per topic of what the broker
acknowledged. A broker that is down, or stops acknowledging, ends the command in one sentence.

Each command is one coroutine from its first Kafka call to its last, run by
:func:`fraudlab.cli_context.run_async`: the process's entry point into async code.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import click
from rich.progress import TaskID

from fraudlab.cli_context import run_async, settings_from
from fraudlab.cli_options import (
    customers_option,
    given_options,
    minutes_option,
    pace,
    pace_options,
    resume_option,
    seed_option,
)
from fraudlab.errors import FraudlabError, UsageError
from fraudlab.kafka_io import producer_tuning
from fraudlab.kafka_session import KafkaSession
from fraudlab.progress import BrokerWaitStatus, progress_bar, stderr
from fraudlab.runs import new_run_id, validate_run_id
from fraudlab.settings import Settings
from simulator.csv_dataset import CheckReport, locate_dataset
from simulator.produce_plan import ProducePlan, resumed_run
from simulator.producer import ProduceReport, produce_run, run_details


def _print_report(report: ProduceReport, paced: bool) -> None:
    for stream, count in report.delivered.items():
        click.echo(f"  {stream:<18} {count:>10,}")
    click.echo(f"  {'total':<18} {report.total:>10,}")
    if report.digest:
        click.echo(f"canonical digest of the run's messages: {report.digest}")
    if report.resumed:
        click.echo(f"{report.resumed:,} of them were in the run's topics already (resumed)")
    if report.quarantined:
        click.echo(
            f"{report.quarantined:,} row{'s' if report.quarantined != 1 else ''} could not be "
            "read and went to quarantine (`fraudlab check-csv` lists them all):"
        )
        for problem in report.quarantined_first:
            click.echo(f"  {problem}")
        if report.quarantined > len(report.quarantined_first):
            click.echo(f"  and {report.quarantined - len(report.quarantined_first):,} more")
    speed = f"{report.speed:,.1f}x" if report.simulated_s else "-"
    click.echo(
        f"run {report.run_id}: {report.total:,} messages delivered in "
        f"{report.wall_s:,.1f} s (speed reached {speed}{'' if paced else ', --fast'})"
    )


@click.command("produce")
@click.argument("scenario", required=False)
@seed_option()
@minutes_option()
@click.option("--start", "start_text", help="Run start (ISO 8601) [default: 2026-01-05T00:00Z].")
@customers_option()
@click.option("--run-id", help="Run id [default: scenario, seed and the time it starts].")
@pace_options()
@resume_option(
    "RUN",
    "Continue run RUN, stopped part way, from what its topics hold (its own scenario, seed and "
    "start; its speed unless --speed or --fast).",
)
@click.pass_context
def produce_command(
    ctx: click.Context,
    scenario: str | None,
    seed: int | None,
    minutes: float | None,
    customers: int | None,
    start_text: str | None,
    run_id: str | None,
    speed: float | None,
    fast: bool,
    resume_run: str | None,
) -> None:
    """Simulate SCENARIO and publish it to Kafka as run RUN_ID (or continue one: --resume)."""
    from simulator.clock import DEFAULT_START, parse_start
    from simulator.scenario import load_scenario
    from simulator.simulation import Simulation

    settings = settings_from(ctx)
    if resume_run is not None:
        given = given_options(
            SCENARIO=scenario,
            seed=seed,
            minutes=minutes,
            customers=customers,
            start=start_text,
            run_id=run_id,
        )
        if given:
            raise UsageError(
                f"--resume continues a run as it was announced: drop {', '.join(given)}."
            )
        pace(speed, fast, required=False)
        run_async(_resume(settings, validate_run_id(resume_run), speed, fast))
        return
    if scenario is None:
        raise UsageError(
            "say which scenario to produce (see `fraudlab scenarios`), or --resume RUN."
        )
    chosen = pace(speed, fast)
    loaded = load_scenario(scenario, settings.scenarios_dir)
    if customers is not None:
        loaded = loaded.with_customers(customers)
    seed = loaded.seed if seed is None else seed
    try:
        start = parse_start(start_text) if start_text else DEFAULT_START
    except ValueError:
        raise UsageError(f"--start: {start_text!r} is not an ISO 8601 date and time.") from None
    run_id = validate_run_id(run_id) if run_id else new_run_id(loaded.name, seed)
    simulation = Simulation(loaded, seed, start, minutes)
    details = run_details(
        loaded.text, loaded.name, seed, start, simulation.minutes, chosen, customers
    )
    stderr.print(
        f"producing {loaded.name} (seed {seed}, {simulation.minutes:g} min) as run "
        f"{run_id} to {settings.bootstrap_servers}"
    )
    run_async(_produce(settings, ProducePlan(run_id, loaded.name, simulation, chosen, details)))


async def _resume(settings: Settings, run_id: str, speed: float | None, fast: bool) -> None:
    """Continue run ``run_id``: where its topics stand, then :func:`_produce` the rest."""
    async with KafkaSession(settings.bootstrap_servers) as kafka:
        plan = await resumed_run(kafka, run_id, speed, fast)
    assert plan.resume is not None
    stderr.print(
        f"resuming run {plan.run_id} ({plan.name}, seed {plan.simulation.seed}): "
        f"{plan.resume.held_total:,} messages are in its topics already"
    )
    await _produce(settings, plan)


async def _produce(settings: Settings, plan: ProducePlan) -> None:
    """Produce ``plan`` with a live bar (and the broker's waits in it); print the counts."""
    simulation = plan.simulation
    with progress_bar(f"run {plan.run_id}", simulation.horizon_s) as bar:

        def progress(sim_s: float, sent: Counter[str]) -> None:
            bar.update(
                TaskID(0),
                completed=sim_s,
                status=f"{sim_s / 60:,.1f} min, {sum(sent.values()):,} messages",
            )

        report = await produce_run(
            simulation,
            simulation.start,
            plan.run_id,
            settings.bootstrap_servers,
            settings.topic_partitions,
            plan.speed,
            details=plan.details,
            tuning=producer_tuning(settings),
            progress=progress,
            on_wait=BrokerWaitStatus(bar),
            resume=plan.resume,
        )
    _print_report(report, plan.speed is not None)


_TOPIC_NAME = re.compile(r"[A-Za-z0-9._-]{1,249}")


def _topic_names(pairs: tuple[str, ...]) -> dict[str, str]:
    """--topic STREAM=NAME pairs as stream -> topic; a UsageError names a bad pair."""
    from simulator.csv_producer import CSV_STREAMS

    named: dict[str, str] = {}
    for pair in pairs:
        stream, sep, name = pair.partition("=")
        if not sep or stream not in CSV_STREAMS or stream == "run-events":
            streams = ", ".join(s for s in CSV_STREAMS if s != "run-events")
            raise UsageError(f"--topic {pair!r}: say STREAM=NAME with STREAM one of {streams}.")
        if not _TOPIC_NAME.fullmatch(name) or name in (".", ".."):
            raise UsageError(
                f"--topic {pair!r}: a topic name is 1-249 letters, digits, '.', '_' or '-'."
            )
        named[stream] = name
    return named


def _print_problems(report: CheckReport) -> None:
    for problem in report.problems:
        click.echo(str(problem))
    rows = sum(report.rows.values())
    files = ", ".join(f"{name} {count:,}" for name, count in report.rows.items())
    click.echo(f"{rows:,} rows can be read ({files})")


_encoding = click.option(
    "--encoding",
    default="utf-8",
    show_default=True,
    help="Text encoding of the files (UTF-8 may start with a byte-order mark).",
)
_time_zone = click.option(
    "--time-zone",
    "csv_time_zone",
    help="Time zone of naive times in the files [default: setting csv_time_zone, Asia/Jakarta].",
)


@click.command("check-csv")
@click.argument("data_dir", type=click.Path(file_okay=False, path_type=Path))
@_encoding
@_time_zone
@click.pass_context
def check_csv_command(
    ctx: click.Context, data_dir: Path, encoding: str, csv_time_zone: str | None
) -> None:
    """List the rows of an assignment-layout dataset folder that cannot be read, sending nothing.

    Each problem is one line, FILE:LINE: FIELD: REASON; the exit code is 1 if there is any.
    """
    from simulator.csv_dataset import check_dataset_rows, locate_dataset

    settings = settings_from(ctx, {"csv_time_zone": "--time-zone"}, csv_time_zone=csv_time_zone)
    dataset = locate_dataset(data_dir, encoding=encoding, zone=settings.csv_time_zone)
    report = check_dataset_rows(dataset)
    _print_problems(report)
    if report.problems:
        count = len(report.problems)
        rows = f"{count:,} rows cannot be read" if count > 1 else "1 row cannot be read"
        raise FraudlabError(
            f"{data_dir}: {rows}; produce-csv would quarantine {'them' if count > 1 else 'it'} "
            "and stream the rest."
        )


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
@seed_option("Seed of the random batch sizes.", default=0)
@click.option(
    "--first-ts",
    type=click.IntRange(min=0),
    help="ts of the first batch, Unix seconds: the same folder, seed and first ts give the "
    "same messages [default: the wall clock].",
)
@click.option(
    "--fast",
    is_flag=True,
    help="Send batches back to back instead of every interval; without --first-ts each batch's "
    "ts is the moment it is sent.",
)
@click.option(
    "--topic",
    "topic_pairs",
    multiple=True,
    metavar="STREAM=NAME",
    help="Publish a stream to the topic NAME (e.g. browsing=browsing_behaviour) instead of the "
    "run's own; fraudlab's engine and archiver read the run's own topics. Repeatable.",
)
@_encoding
@_time_zone
@click.option(
    "--check", is_flag=True, help="Only list the rows that cannot be read (as check-csv)."
)
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
    first_ts: int | None,
    fast: bool,
    topic_pairs: tuple[str, ...],
    encoding: str,
    csv_time_zone: str | None,
    check: bool,
) -> None:
    """Stream an assignment-layout dataset folder (DATA_DIR) to Kafka as the assignment says.

    Rows that cannot be read go to the run's quarantine stream, each with its file, line, field
    and reason; the rest streams on.
    """
    from simulator.csv_batches import BatchRule, CsvBatch
    from simulator.csv_producer import CsvRunOptions, produce_csv

    if check:
        ctx.invoke(
            check_csv_command, data_dir=data_dir, encoding=encoding, csv_time_zone=csv_time_zone
        )
        return
    try:
        rule = BatchRule(min_rows, max_rows, interval)
    except ValueError as exc:
        raise UsageError(f"{exc}.") from None
    topics = _topic_names(topic_pairs)
    settings = settings_from(ctx, {"csv_time_zone": "--time-zone"}, csv_time_zone=csv_time_zone)
    # every header is read before anything is sent
    locate_dataset(data_dir, encoding=encoding, zone=settings.csv_time_zone)
    run_id = validate_run_id(run_id) if run_id else new_run_id("csv", seed)
    options = CsvRunOptions(
        rule,
        "batch" if message_format == "batch" else "record",
        seed,
        first_ts,
        fast,
        settings.csv_time_zone,
        encoding,
        topics,
    )
    counts: Counter[str] = Counter()

    def progress(batch: CsvBatch) -> None:
        counts["browsing"] += len(batch.browsing)
        counts["transactions"] += len(batch.transactions)
        stderr.print(
            f"batch {batch.number:>5}: ts {batch.ts}, {len(batch.browsing)} browsing, "
            f"{len(batch.transactions)} transactions "
            f"({counts['browsing']:,} / {counts['transactions']:,} so far)"
        )

    stderr.print(f"producing {data_dir} as run {run_id} to {settings.bootstrap_servers}")
    report = run_async(
        produce_csv(
            data_dir,
            run_id,
            settings.bootstrap_servers,
            settings.topic_partitions,
            options,
            progress=progress,
            tuning=producer_tuning(settings),
            on_wait=BrokerWaitStatus(),
        )
    )
    _print_report(report, not fast)


def register(group: click.Group) -> None:
    """Add the producer commands to the CLI."""
    group.add_command(produce_command)
    group.add_command(produce_csv_command)
    group.add_command(check_csv_command)
