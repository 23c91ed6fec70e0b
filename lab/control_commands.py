"""``fraudlab pace`` and ``fraudlab stop``: a playing run paused, resumed, re-paced or stopped
from another terminal, through the run's control topic (:mod:`fraudlab.run_control`) as the
views' buttons and a notebook's run handle do."""

from __future__ import annotations

import time

import click

from fraudlab.cli_context import command_kafka, settings_from
from fraudlab.errors import UsageError
from fraudlab.run_control import control_request, send_control
from fraudlab.runs import validate_run_id


@click.command("pace")
@click.argument("run_id", metavar="RUN")
@click.option("--pause", "action", flag_value="pause", help="Hold the run's source.")
@click.option("--resume", "action", flag_value="resume", help="Let a paused source go on.")
@click.option(
    "--speed",
    type=float,
    metavar="K",
    help="Go on at K simulated seconds per wall second (event times are unchanged).",
)
@click.pass_context
def pace_command(ctx: click.Context, run_id: str, action: str | None, speed: float | None) -> None:
    """Pause, resume or re-pace RUN while it plays: its events keep their times, so it is
    scored as if it had been left alone."""
    if (action is None) == (speed is None):
        raise UsageError("say one of --pause, --resume or --speed K.")
    run_id = validate_run_id(run_id)
    request = control_request(run_id, action or "speed", speed, by="cli", ts=int(time.time()))
    settings = settings_from(ctx)
    send_control(command_kafka(ctx, settings), settings.topic_partitions, run_id, request)
    said = f"go on at {request.speed:g}x" if request.speed is not None else request.action
    click.echo(f"asked run {run_id} to {said}")


@click.command("stop")
@click.argument("run_id", metavar="RUN")
@click.pass_context
def stop_command(ctx: click.Context, run_id: str) -> None:
    """Stop RUN as a Ctrl-C of its `fraudlab run` would: every part ends cleanly, the archive
    is marked interrupted, and `fraudlab run --resume RUN` continues it. RUN was started by
    `fraudlab run` or `replay` (at a terminal, from the views' index page or a notebook); parts
    started one by one are stopped where they run."""
    run_id = validate_run_id(run_id)
    request = control_request(run_id, "stop", None, by="cli", ts=int(time.time()))
    settings = settings_from(ctx)
    send_control(command_kafka(ctx, settings), settings.topic_partitions, run_id, request)
    click.echo(f"asked run {run_id} to stop")


def register(group: click.Group) -> None:
    """Add ``pace`` and ``stop`` to the CLI."""
    group.add_command(pace_command)
    group.add_command(stop_command)
