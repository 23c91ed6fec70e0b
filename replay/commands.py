"""``fraudlab compare`` (archived runs side by side) and ``fraudlab republish`` (a replay's input).

Heavy imports (DuckDB, matplotlib) happen inside the command, so ``fraudlab --help`` stays quick.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import click

from fraudlab.cli_context import run_async, settings_from
from fraudlab.cli_options import (
    archive_dir_option,
    json_option,
    minutes_option,
    pace,
    pace_options,
    plot_option,
)
from fraudlab.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console
    from rich.table import Table

    from fraudlab.kafka_session import KafkaSession
    from fraudlab.settings import Settings
    from replay.compare import Comparison, PairComparison, RunFigures


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _delta(value: float | None) -> str:
    return "-" if value is None else f"{value:+.3f}"


def _text(value: object) -> str:
    return "-" if value is None else str(value)


def _console() -> Console:
    from rich.console import Console

    console = Console(highlight=False)
    if not console.is_terminal:
        # piped output keeps whole table rows on one line
        console = Console(highlight=False, width=200)
    return console


def _runs_table(runs: tuple[RunFigures, ...]) -> Table:
    from rich import box
    from rich.table import Table

    table = Table(box=box.SIMPLE_HEAD, title="runs", title_justify="left")
    for name in ("RUN", "SCENARIO", "SEED", "MODEL", "STATUS", "EVENTS", "TRANSACTIONS"):
        numeric = name in ("SEED", "EVENTS", "TRANSACTIONS")
        table.add_column(name, justify="right" if numeric else "left")
    for name in ("ALERTS", "FLAGGED", "PRECISION", "RECALL"):
        table.add_column(name, justify="right")
    for r in runs:
        table.add_row(
            r.run_id,
            _text(r.scenario),
            _text(r.seed),
            _text(r.model_name),
            r.status,
            str(r.events),
            str(r.transactions),
            str(r.alerts),
            str(r.flagged),
            _figure(r.precision),
            _figure(r.recall),
        )
    return table


def _pair_table(pair: PairComparison, a: RunFigures, b: RunFigures) -> Table:
    from rich import box
    from rich.table import Table

    o = pair.overlap
    title = (
        f"{pair.a} (A) vs {pair.b} (B): alerted by both {o.both}, only A {o.only_a}, "
        f"only B {o.only_b}, Jaccard {o.jaccard:.3f}"
    )
    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left")
    table.add_column("PATTERN")
    for name in ("RECALL A", "RECALL B", "DELTA", "TO FLAG A (S)", "TO FLAG B (S)"):
        table.add_column(name, justify="right")
    to_flag_a = {p.pattern: p.seconds_to_flag for p in a.per_pattern}
    to_flag_b = {p.pattern: p.seconds_to_flag for p in b.per_pattern}
    for d in pair.patterns:
        table.add_row(
            d.pattern or "(none)",
            _figure(d.recall_a),
            _figure(d.recall_b),
            _delta(d.delta),
            _text(to_flag_a.get(d.pattern)),
            _text(to_flag_b.get(d.pattern)),
        )
    return table


def _rules_table(pair: PairComparison) -> Table | None:
    """Hits and precision of the model and each rule in both runs (None without rules)."""
    from rich import box
    from rich.table import Table

    if not any(r.source != "model" for r in pair.rules):
        return None
    table = Table(
        box=box.SIMPLE_HEAD,
        title=f"{pair.a} (A) vs {pair.b} (B): per rule, against ground truth",
        title_justify="left",
    )
    table.add_column("MODEL OR RULE")
    for name in ("HITS A", "HITS B", "PRECISION A", "PRECISION B"):
        table.add_column(name, justify="right")
    for r in pair.rules:
        table.add_row(
            r.source,
            str(r.hits_a),
            str(r.hits_b),
            _figure(r.precision_a),
            _figure(r.precision_b),
        )
    return table


def _timeline_lines(comparison: Comparison) -> list[str]:
    lines = [f"flagged per {comparison.bucket_s} s, aligned on each run's first event:"]
    for run, flagged in zip(comparison.runs, comparison.flagged, strict=True):
        if not any(flagged):
            lines.append(f"  {run.run_id}: none flagged")
            continue
        peak = max(flagged)
        at = comparison.seconds[flagged.index(peak)]
        mean = sum(flagged) / len(flagged)
        lines.append(f"  {run.run_id}: peak {peak} at +{at} s, mean {mean:.2f} per bucket")
    return lines


def _print_text(comparison: Comparison) -> None:
    console = _console()
    console.print(_runs_table(comparison.runs))
    by_id = {r.run_id: r for r in comparison.runs}
    for pair in comparison.pairs:
        console.print(_pair_table(pair, by_id[pair.a], by_id[pair.b]))
        rules = _rules_table(pair)
        if rules is not None:
            console.print(rules)
    for run in comparison.runs:
        if run.challenger is not None:
            console.print(_challenger_table(run))
    for line in _timeline_lines(comparison):
        console.print(line)


def _challenger_table(run: RunFigures) -> Table:
    """A run's champion and the challenger scored beside it, per pattern."""
    from rich import box
    from rich.table import Table

    from archive.challenger_quality import DUEL_HEADER, duel_rows, duel_title

    assert run.challenger is not None
    title = f"{run.run_id}: {duel_title(run.challenger)}"
    table = Table(box=box.SIMPLE_HEAD, title=title, title_justify="left")
    for i, name in enumerate(DUEL_HEADER):
        table.add_column(name, justify="left" if i == 0 else "right")
    for row in duel_rows(run.challenger):
        table.add_row(*row)
    return table


@click.command("compare")
@click.argument("run_ids", nargs=-1, metavar="RUN_A RUN_B [RUN_C ...]")
@json_option("Print one JSON object.")
@plot_option("Also draw the alert-rate timelines and recall per pattern into a PNG.")
@archive_dir_option()
@click.pass_context
def compare_command(
    ctx: click.Context,
    run_ids: tuple[str, ...],
    as_json: bool,
    plot: Path | None,
    archive_dir: Path | None,
) -> None:
    """Compare archived runs: detection per pattern, alert overlap, alert-rate timelines.

    \b
    Per run: events, transactions, alerts, precision and recall, time to detect per pattern.
    Per pair: alerted transactions in both or only one (Jaccard), recall per pattern and delta.
    Timelines: transactions flagged per 10 s of event time since each run's first event.
    """
    from archive.files import reading
    from fraudlab.runs import validate_run_id
    from replay.compare import compare_runs, run_figures

    if len(run_ids) < 2:
        raise UsageError("compare needs at least two run ids: fraudlab compare RUN_A RUN_B.")
    for run_id in run_ids:
        validate_run_id(run_id)
    settings = settings_from(ctx, archive_dir=archive_dir)
    figures = []
    for run_id in run_ids:
        with reading(settings.archive_dir, run_id) as con:
            figures.append(run_figures(con))
    comparison = compare_runs(figures)
    if plot is not None:
        from replay.compare_plot import plot_comparison

        plot_comparison(comparison, plot)
    if as_json:
        click.echo(json.dumps(comparison.to_dict(), indent=2))
    else:
        _print_text(comparison)
    if plot is not None and not as_json:
        click.echo(f"plot written to {plot}")


@click.command("republish")
@click.argument("source_run_id", metavar="RUN")
@click.option("--run-id", required=True, help="The new run's id (its topics must be empty).")
@pace_options("Pace: the original's simulated seconds per wall second (1 = real time).")
@minutes_option("Only the first MINUTES of the run [default: all of it].")
@click.option(
    "--resume",
    is_flag=True,
    help="Continue replay --run-id, stopped part way, from what its topics hold (its own "
    "minutes; its speed unless --speed or --fast).",
)
@click.pass_context
def republish_command(
    ctx: click.Context,
    source_run_id: str,
    run_id: str,
    speed: float | None,
    fast: bool,
    minutes: float | None,
    resume: bool,
) -> None:
    """Publish archived RUN's input again, as run --run-id, for an engine and an archiver.

    \b
    The same messages, keys, partitions and order as the original, event times unchanged; the
    new run's run-events name the original (replay_of). Start an engine and an archiver on the
    new run to score it again (`fraudlab replay` does all three).
    """
    from archive.files import reading
    from fraudlab.runs import validate_run_id
    from replay.source import replay_source

    pace(speed, fast, required=not resume)
    validate_run_id(source_run_id)
    validate_run_id(run_id)
    settings = settings_from(ctx)
    with reading(settings.archive_dir, source_run_id) as con:
        horizon_s = replay_source(con, source_run_id, settings.topic_partitions).horizon_s
    until_s = minutes * 60 if minutes else None
    if resume and minutes is not None:
        raise UsageError("--resume continues a replay as it was announced: drop --minutes.")
    if fast:
        speed = None
    # the process's entry point into async code: the command is this one coroutine
    run_async(_republish(settings, source_run_id, run_id, speed, fast, until_s, horizon_s, resume))


async def _republish(
    settings: Settings,
    source_run_id: str,
    run_id: str,
    speed: float | None,
    fast: bool,
    until_s: float | None,
    horizon_s: float,
    resume: bool,
) -> None:
    """Republish ``source_run_id`` as ``run_id`` with a live bar, then print the counts; a
    resumed replay at its announced pace (unless ``speed`` or ``fast`` say otherwise)."""
    from rich.progress import TaskID

    from fraudlab.kafka_io import producer_tuning
    from fraudlab.kafka_session import KafkaSession
    from fraudlab.progress import BrokerWaitStatus, progress_bar, stderr
    from replay.republish import republish_run

    if resume:
        async with KafkaSession(settings.bootstrap_servers) as kafka:
            speed, until_s = await _announced_pace(kafka, run_id, speed, fast, horizon_s)
    stderr.print(
        f"{'resuming the replay' if resume else 'replaying'} of run {source_run_id} as run "
        f"{run_id} to {settings.bootstrap_servers}"
    )
    with progress_bar(f"run {run_id}", min(horizon_s, until_s or horizon_s)) as bar:

        def progress(sim_s: float, sent: Counter[str]) -> None:
            bar.update(
                TaskID(0),
                completed=sim_s,
                status=f"{sim_s / 60:,.1f} min, {sum(sent.values()):,} messages",
            )

        report = await republish_run(
            settings,
            source_run_id,
            run_id,
            speed,
            details={},
            progress=progress,
            until_s=until_s,
            tuning=producer_tuning(settings),
            on_wait=BrokerWaitStatus(bar),
            resume=resume,
        )
    for stream, count in report.delivered.items():
        click.echo(f"  {stream:<18} {count:>10,}")
    click.echo(f"  {'total':<18} {report.total:>10,}  ({report.raw:,} undecodable values, raw)")
    click.echo(
        f"run {run_id} (replay of {source_run_id}): {report.total:,} messages delivered in "
        f"{report.wall_s:,.1f} s (speed reached {report.speed:,.1f}x{'' if speed else ', --fast'})"
    )


async def _announced_pace(
    kafka: KafkaSession, run_id: str, speed: float | None, fast: bool, horizon_s: float
) -> tuple[float | None, float | None]:
    """(speed, until_s) of replay ``run_id`` as it announced them, the speed unless given
    (``fast``: None); a UsageError when it never announced itself."""
    from fraudlab.resume import resumed_pace
    from fraudlab.run_events import latest_details, read_run_events

    details = latest_details(await read_run_events(kafka, run_id), "producer", "started")
    if not details:
        raise UsageError(f"run {run_id} never started at {kafka.bootstrap}: nothing to resume.")
    speed = resumed_pace(details, speed, fast)
    minutes = details.get("minutes")
    until_s = float(minutes) * 60 if isinstance(minutes, int | float) else None
    return speed, until_s if until_s is not None and until_s < horizon_s - 1e-6 else None


def register(group: click.Group) -> None:
    """Add the replay package's commands to the ``fraudlab`` CLI."""
    group.add_command(compare_command)
    group.add_command(republish_command)
