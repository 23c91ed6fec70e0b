"""``fraudlab archive``, ``runs``, ``report`` and ``export-run``.

Heavy imports (DuckDB, Arrow, Kafka) happen inside the commands, so ``fraudlab --help`` stays
quick.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from fraudlab.cli_context import run_async, settings_from
from fraudlab.cli_options import archive_dir_option, json_option
from fraudlab.errors import UsageError

if TYPE_CHECKING:
    from archive.archiver import ArchiveProgress
    from archive.forecast_quality import ForecastQuality
    from archive.quality import DetectionQuality
    from archive.reader import RunSummary

_ARCHIVE_DIR = archive_dir_option()


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _text(value: object) -> str:
    return "-" if value is None else str(value)


def _when(ts: int | None) -> str:
    return "-" if ts is None else datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    """Left-aligned text columns, two spaces apart."""
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
        for r in [header, *rows]
    ]


def _progress_printer() -> tuple[Callable[[ArchiveProgress], None], Callable[[], None]]:
    """A rich progress line on stderr (only on a terminal), and a function that ends it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from fraudlab.progress import stderr as console

    # only on a terminal: a redirected stderr keeps to the one-line errors
    if not console.is_terminal:
        return (lambda _p: None), (lambda: None)
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("messages · {task.fields[status]}"),
        console=console,
        transient=True,
    )
    progress.start()
    task = progress.add_task("archiving", total=None, status="starting")

    def update(p: ArchiveProgress) -> None:
        progress.update(
            task,
            description=f"archiving {p.run_id}",
            completed=p.messages,
            total=p.target,
            status=p.status,
        )

    return update, progress.stop


@click.command("archive")
@click.argument("run_id")
@click.option("--follow", is_flag=True, help="Keep tailing the run's topics until interrupted.")
@click.option(
    "--until-end", is_flag=True, help="Stop once the run is over and all of it is archived."
)
@click.option(
    "--wait-for",
    default="producer,engine",
    show_default=True,
    help="Parts whose end ends the run (comma-separated; 'none' for none).",
)
@click.option("--bootstrap-servers", help="Kafka bootstrap servers.")
@_ARCHIVE_DIR
@click.pass_context
def archive_command(
    ctx: click.Context,
    run_id: str,
    follow: bool,
    until_end: bool,
    wait_for: str,
    bootstrap_servers: str | None,
    archive_dir: Path | None,
) -> None:
    """Archive a run's topics into its DuckDB file, exactly once; rerun to resume.

    \b
    Without --follow or --until-end: archive what the topics hold now and stop; the file is
    closed as complete when the run-events show the run is over (every part in --wait-for
    has ended), else as partial.
    --until-end: wait for that end, archive up to the end offsets of that moment, close.
    --follow: keep tailing (new topics too) until Ctrl-C.
    Ctrl-C or SIGTERM writes the current batch and closes the file as interrupted (exit 130).
    A finished file is read-only and left as it is, unless it ended interrupted or failed and
    the run was resumed since (`fraudlab run --resume`): then it goes on.
    """
    from archive.archiver import ArchiveOptions, Mode, archive_run
    from fraudlab.runs import validate_run_id

    if follow and until_end:
        raise UsageError("--follow and --until-end exclude each other: choose one.")
    validate_run_id(run_id)
    settings = settings_from(ctx, bootstrap_servers=bootstrap_servers, archive_dir=archive_dir)
    mode = Mode.FOLLOW if follow else Mode.UNTIL_END if until_end else Mode.SNAPSHOT
    parts = tuple(p.strip() for p in wait_for.split(",") if p.strip() and p.strip() != "none")
    update, done = _progress_printer()
    try:
        # the process's entry point into async code: the command is this one coroutine
        result = run_async(
            archive_run(
                settings,
                run_id,
                ArchiveOptions(mode=mode, wait_for=parts),
                progress=update,
                handle_signals=True,
            )
        )
    finally:
        done()
    if result.already_final:
        click.echo(
            f"run {run_id} is already archived ({result.status}) in {result.path}; "
            f"digest {result.digest}"
        )
        return
    w = result.written
    click.echo(
        f"archived run {run_id}: {result.status}{' (final)' if result.final else ''}, "
        f"{w.messages} messages this session ({w.stored} stored, {w.duplicates} duplicates "
        f"dropped, {w.undecodable} undecodable) in {result.path}; digest {result.digest}"
    )
    if result.status == "interrupted" and not result.final:
        ctx.exit(130)


@click.command("runs")
@json_option()
@_ARCHIVE_DIR
@click.pass_context
def runs_command(ctx: click.Context, as_json: bool, archive_dir: Path | None) -> None:
    """One line per archived run: id, scenario, seed, model, status, events, alerts, quality."""
    from archive.reader import list_runs

    settings = settings_from(ctx, archive_dir=archive_dir)
    listing = list_runs(settings.archive_dir)
    if as_json:
        click.echo(json.dumps([asdict(r) for r in listing], indent=2))
        return
    if not listing:
        click.echo(f"no archived runs in {settings.archive_dir}")
        return
    header = [
        "RUN",
        "SCENARIO",
        "SEED",
        "MODEL",
        "STATUS",
        "EVENTS",
        "ALERTS",
        "PRECISION",
        "RECALL",
    ]
    rows = [
        [
            r.run_id,
            _text(r.scenario),
            _text(r.seed),
            _text(r.model),
            r.status,
            _text(r.events),
            _text(r.alerts),
            _figure(r.precision),
            _figure(r.recall),
        ]
        for r in listing
    ]
    for line in _table(header, rows):
        click.echo(line)


def _report_json(summary: RunSummary, quality: DetectionQuality) -> dict[str, Any]:
    out = summary.to_dict()
    out["quality"] = {k: v for k, v in asdict(quality).items() if k != "per_pattern"}
    out["per_pattern"] = [asdict(p) for p in quality.per_pattern]
    return out


def _quarantined_rows(s: RunSummary) -> list[str]:
    """The first quarantined rows, each with its file, line, field and reason."""
    lines = [f"             {row}" for row in s.quarantined_first]
    more = sum(s.quarantined.values()) - len(s.quarantined_first)
    if more > 0:
        lines.append(f"             and {more:,} more (the run's quarantine table)")
    return lines


def _report_text(s: RunSummary, q: DetectionQuality) -> list[str]:
    counted = ", ".join(f"{k} {v}" for k, v in s.duplicates.items()) or "none"
    bad = ", ".join(f"{k} {v}" for k, v in s.undecodable.items()) or "none"
    unread = ", ".join(f"{k} {v}" for k, v in s.quarantined.items()) or "none"
    letters = ", ".join(f"{k} {v}" for k, v in s.dead_letters.items()) or "none"
    lines = [
        f"run          {s.run_id}",
        f"scenario     {_text(s.scenario)} (seed {_text(s.seed)})",
        f"model        {_text(s.model_name)} ({_text(s.model_digest)})",
        f"status       {s.status}{' (final)' if s.final else ''}",
        f"started      {_when(s.started_at)}",
        f"ended        {_when(s.ended_at)}",
        f"events       {s.events} ({s.transactions} transactions)",
        f"alerts       {s.alerts} flagged transactions, {s.fraud_alert_windows} alert windows",
        f"precision    {_figure(s.precision)}",
        f"recall       {_figure(s.recall)}  ({q.true_positives} of {q.frauds} frauds flagged)",
        f"duplicates   {counted} (results the engine emitted twice, stored once)",
        f"undecodable  {bad}",
        f"dead letters {letters} (records the engine did not use; a conflict is a transaction "
        "claiming another customer's transaction id or session)",
        f"quarantined  {unread} (input rows that could not be read)",
        *_quarantined_rows(s),
        f"digest       {_text(s.digest)}",
        "",
    ]
    header = [
        "PATTERN",
        "TRANSACTIONS",
        "FRAUDS",
        "FLAGGED",
        "PRECISION",
        "RECALL",
        "TO FLAG (S)",
        "TO ALERT (S)",
    ]
    rows = [
        [
            p.pattern or "(none)",
            str(p.transactions),
            str(p.frauds),
            str(p.flagged),
            _figure(p.precision),
            _figure(p.recall),
            _text(p.seconds_to_flag),
            _text(p.seconds_to_alert),
        ]
        for p in q.per_pattern
    ]
    return lines + _table(header, rows)


def _forecast_lines(f: ForecastQuality) -> list[str]:
    """The report's lines on the demand forecast (archive.forecast_quality)."""

    def ratio(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    lines = [
        f"demand forecast over {f.windows} windows ({f.pairs:,} window-product pairs, "
        f"{f.actual_units:,} units sold):",
        *_table(
            ["FORECAST", "WAPE", "OVER NAIVE"],
            [
                ["from browsing and sales", _figure(f.wape), ratio(f.over_naive)],
                ["sales only", _figure(f.sales_only_wape), ratio(f.sales_only_over_naive)],
                ["naive (last horizon)", _figure(f.naive_wape), "1.000"],
                [
                    "last 30 s window x horizon",
                    _figure(f.last_window_wape),
                    ratio(
                        None
                        if f.last_window_wape is None
                        else f.last_window_wape / (f.naive_wape or 1)
                    ),
                ],
            ],
        ),
    ]
    if f.stock_outs or f.restock_orders:
        lines.append(
            f"stock        {f.stock_outs:,} stock-outs turned away {f.units_turned_away:,} units "
            f"of {f.products_out:,} products; {f.restock_orders:,} restock orders"
        )
    return lines


@click.command("report")
@click.argument("run_id")
@json_option()
@_ARCHIVE_DIR
@click.pass_context
def report_command(
    ctx: click.Context, run_id: str, as_json: bool, archive_dir: Path | None
) -> None:
    """A run's summary and its detection quality per fraud pattern."""
    from archive.challenger_quality import challenger_comparison
    from archive.delivery_log import sink_deliveries
    from archive.files import reading
    from archive.forecast_quality import forecast_quality
    from archive.quality import detection_quality
    from archive.reader import run_summary

    settings = settings_from(ctx, archive_dir=archive_dir)
    with reading(settings.archive_dir, run_id) as con:
        summary = run_summary(con)
        quality = detection_quality(con)
        deliveries = sink_deliveries(con)
        challenger = challenger_comparison(con)
        forecast = forecast_quality(con)
    if as_json:
        out = _report_json(summary, quality)
        out["deliveries"] = [asdict(d) for d in deliveries]
        out["challenger"] = None if challenger is None else challenger.to_dict()
        out["forecast"] = None if forecast is None else forecast.to_dict()
        click.echo(json.dumps(out, indent=2))
        return
    for line in _report_text(summary, quality):
        click.echo(line)
    if forecast is not None:
        click.echo("")
        for line in _forecast_lines(forecast):
            click.echo(line)
    if challenger is not None:
        from archive.challenger_quality import DUEL_HEADER, duel_rows, duel_title

        click.echo("")
        click.echo(duel_title(challenger))
        for line in _table(list(DUEL_HEADER), [list(r) for r in duel_rows(challenger)]):
            click.echo(line)
    if deliveries:
        click.echo("")
        header = ["SINK", "SENT", "RETRIES", "DEAD-LETTERED", "P50 MS", "P99 MS"]
        rows = [
            [
                d.sink,
                str(d.sent),
                str(d.retries),
                str(d.dead_lettered),
                _text(None if d.latency_p50_ms is None else round(d.latency_p50_ms)),
                _text(None if d.latency_p99_ms is None else round(d.latency_p99_ms)),
            ]
            for d in deliveries
        ]
        for line in _table(header, rows):
            click.echo(line)
        for d in deliveries:
            if d.dead_lettered:
                click.echo(
                    f"{d.dead_lettered} alerts were not taken by {d.sink}: they are in "
                    f"fraudlab.{run_id}.delivery-dead-letter, and `fraudlab deliver {run_id} "
                    "--retry-dead-letters` sends them again."
                )


@click.command("explain")
@click.argument("run_id")
@click.argument("transaction_id")
@_ARCHIVE_DIR
@click.pass_context
def explain_command(
    ctx: click.Context, run_id: str, transaction_id: str, archive_dir: Path | None
) -> None:
    """Why the model scored TRANSACTION_ID of run RUN_ID as it did: its top feature
    contributions (xgboost's TreeSHAP, in log-odds), in words."""
    from archive.explanations import explained_score
    from archive.files import reading

    settings = settings_from(ctx, archive_dir=archive_dir)
    with reading(settings.archive_dir, run_id) as con:
        score = explained_score(con, run_id, transaction_id)
    for line in score.lines():
        click.echo(line)
    if score.explanation is None:
        why = (
            "it was not a potential fraud, and only potential frauds are explained unless "
            "the setting explain_every_score is on"
            if not score.prediction
            else "the run was scored before scores carried explanations"
        )
        raise UsageError(f"transaction {transaction_id}'s score carries no explanation: {why}.")


@click.command("export-run")
@click.argument("run_id")
@click.argument("out_dir", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
@_ARCHIVE_DIR
@click.pass_context
def export_command(
    ctx: click.Context, run_id: str, out_dir: Path, archive_dir: Path | None
) -> None:
    """Write every table of a run as Parquet files into DIR."""
    from archive.export import export_run

    settings = settings_from(ctx, archive_dir=archive_dir)
    from fraudlab.progress import stderr as console

    with console.status("exporting", spinner="dots") as status:

        def progress(table: str, done: int, total: int) -> None:
            if console.is_terminal:
                status.update(f"exporting {run_id}: {table} ({done + 1}/{total})")

        written = export_run(settings.archive_dir, run_id, out_dir, progress)
    click.echo(f"exported run {run_id}: {len(written)} Parquet files in {out_dir}")


def register(group: click.Group) -> None:
    """Add the archive's commands to the ``fraudlab`` CLI."""
    for command in (
        archive_command,
        runs_command,
        report_command,
        explain_command,
        export_command,
    ):
        group.add_command(command)
