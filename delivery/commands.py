"""``fraudlab deliver RUN``: send a run's new fraud alerts to the sinks in the settings.

``fraudlab run`` starts it as one of a run's parts when the settings name sinks
(``[[alert_sinks]]``); on its own it delivers the alerts of a run that is playing, or of one that
was played without it (a replay, say), and continues a delivery that was stopped.
"""

from __future__ import annotations

import asyncio
import time

import click

from fraudlab.cli_context import run_async, settings_from
from fraudlab.errors import UsageError
from fraudlab.progress import Steps
from fraudlab.runs import validate_run_id
from fraudlab.stop_request import StopRequest

STATUS_EVERY_S = 10.0


@click.command("deliver")
@click.argument("run_id")
@click.option(
    "--follow",
    is_flag=True,
    help="Keep following the run's alerts after its engine has ended, until Ctrl-C (for an "
    "engine that will be started again) [default: stop once the engine has ended and every "
    "alert it reported is sent or dead-lettered].",
)
@click.option(
    "--retry-dead-letters",
    is_flag=True,
    help="Send again the alerts a sink did not take before (its dead letters).",
)
@click.pass_context
def deliver_command(
    ctx: click.Context, run_id: str, follow: bool, retry_dead_letters: bool
) -> None:
    """Send each new fraud alert of RUN_ID once to every sink of the settings' [[alert_sinks]].

    Each attempt is written to the run's delivery log; an alert a sink has not taken after its
    last attempt goes to the run's delivery dead letter. Run again, it skips what is done (the
    dead letters too, unless --retry-dead-letters). Deliveries made after the run was archived
    stay in its Kafka topics: its archive holds what was delivered while it played.
    """
    from delivery.sending import DeliveryStatus, deliver_run, describe_sink
    from fraudlab.kafka_session import KafkaSession
    from fraudlab.run_events import read_run_events

    validate_run_id(run_id)
    settings = settings_from(ctx)
    if not settings.alert_sinks:
        raise UsageError(
            "the settings name no alert sinks: add an [[alert_sinks]] table (a webhook or a "
            "Kafka topic) to the settings file."
        )
    names = [s.name for s in settings.alert_sinks]
    sinks = ", ".join(describe_sink(s) for s in settings.alert_sinks)
    status = DeliveryStatus()

    async def deliver() -> bool:
        async with KafkaSession(settings.bootstrap_servers) as kafka:
            await kafka.require_answer()
            if not await read_run_events(kafka, run_id):
                raise UsageError(
                    f"run {run_id} is not on Kafka at {settings.bootstrap_servers} (it has no "
                    "run-events): see `fraudlab runs`."
                )
            stop = StopRequest().install()
            steps = Steps()
            steps(f"delivering the alerts of run {run_id} to {sinks}")
            task = asyncio.create_task(
                deliver_run(
                    kafka,
                    settings,
                    run_id,
                    until_engine_ends=not follow,
                    should_stop=stop,
                    status=status,
                    retry_dead_letters=retry_dead_letters,
                )
            )
            shown = time.monotonic()
            while not task.done():
                await asyncio.wait({task}, timeout=1.0)
                if time.monotonic() - shown >= STATUS_EVERY_S:
                    shown = time.monotonic()
                    steps(status.describe(names))
            return task.result()

    # the process's entry point into async code: the command is this one coroutine
    complete = run_async(deliver())
    click.echo(f"run {run_id}: {status.describe(names)}")
    if not complete:
        ctx.exit(130)


def register(group: click.Group) -> None:
    """Add the deliver command to the CLI."""
    group.add_command(deliver_command)
