"""``fraudlab restock-check``: what a run's forecast restock list would have saved
(:mod:`lab.restock_check`)."""

from __future__ import annotations

import json
from pathlib import Path

import click

from fraudlab.cli_context import settings_from
from fraudlab.cli_options import archive_dir_option, json_option


@click.command("restock-check")
@click.argument("run_id")
@json_option("Print one JSON object.")
@archive_dir_option()
@click.pass_context
def restock_check_command(
    ctx: click.Context, run_id: str, as_json: bool, archive_dir: Path | None
) -> None:
    """Simulate RUN_ID's world again with its forecast's restock list followed, and count the
    stock-outs it would have avoided."""
    from fraudlab.progress import stderr as console
    from lab.restock_check import restock_check

    settings = settings_from(ctx, archive_dir=archive_dir)
    with console.status(f"simulating run {run_id}'s world twice", spinner="dots"):
        check = restock_check(settings.archive_dir, run_id)
    if as_json:
        click.echo(json.dumps(check.to_dict(), indent=2))
        return
    ran, followed = check.as_ran, check.with_forecast
    share = f" ({check.avoided / ran.stock_outs:.0%})" if ran.stock_outs else ""
    click.echo(
        f"run {run_id} ({check.scenario}, seed {check.seed}, {check.minutes:g} minutes): "
        f"{check.listed:,} restock-list entries in its forecast"
    )
    for label, s in (("as it ran", ran), ("restocked on the forecast", followed)):
        click.echo(
            f"  {label:<26} {s.stock_outs:>6,} stock-outs ({s.units_turned_away:,} units "
            f"turned away, {s.products_out:,} products), {s.restock_orders:,} restock orders "
            f"({s.units_ordered:,} units)"
        )
    click.echo(
        f"  avoided: {check.avoided:,} stock-outs{share}, for "
        f"{followed.units_ordered - ran.units_ordered:,} more units ordered"
    )


def register(group: click.Group) -> None:
    """Add ``restock-check`` to the CLI."""
    group.add_command(restock_check_command)
