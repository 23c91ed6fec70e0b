"""The ``fraudlab`` command line: one entry point, one-sentence errors, no tracebacks.

Each package adds its commands from a module with ``register(group)``, listed in
:data:`COMMAND_MODULES`. Errors a user can cause are :class:`fraudlab.errors.FraudlabError`
and end as ``fraudlab: <sentence>`` with the error's exit code.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

import click

from fraudlab import broker as local_broker
from fraudlab.cli_context import CliState, settings_from
from fraudlab.cluster import LocalCluster
from fraudlab.errors import FraudlabError

# Modules whose `register(group)` adds commands, package by package.
COMMAND_MODULES: tuple[str, ...] = (
    "simulator.commands",
    "lab.run_commands",
    "simulator.produce_commands",
    "lab.model_commands",
    "lab.champion_commands",
    "lab.control_commands",
    "engine.commands",
    "rulebook.commands",
    "delivery.commands",
    "archive.commands",
    "replay.commands",
    "lab.serve_command",
    "lab.regress_commands",
    "lab.inventory_commands",
)


@click.group(
    name="fraudlab",
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--settings",
    "settings_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Settings file (TOML); default ./fraudlab.toml when present.",
)
@click.pass_context
def app(ctx: click.Context, settings_path: Path | None) -> None:
    """Simulate, stream, score, archive, replay and compare e-commerce fraud runs."""
    ctx.obj = CliState(settings_path=settings_path)


@app.group("broker")
def broker_group() -> None:
    """Run a local Kafka broker, or a cluster of them, (KRaft) from the jars in jvm/lib."""


def _broker_options(fn: click.decorators.FC) -> click.decorators.FC:
    fn = click.option("--port", type=int, help="Broker port [default: 9092].")(fn)
    fn = click.option(
        "--data-dir",
        type=click.Path(file_okay=False, path_type=Path),
        help="Broker data folder [default: var/kafka].",
    )(fn)
    return click.pass_context(fn)  # type: ignore[return-value]


def _local_broker(
    ctx: click.Context, port: int | None, data_dir: Path | None, brokers: int = 1
) -> local_broker.LocalBroker | LocalCluster:
    """The folder's broker, or its cluster (when it holds one, or ``brokers`` > 1)."""
    s = settings_from(
        ctx,
        {"broker_port": "--port", "broker_data_dir": "--data-dir"},
        broker_port=port,
        broker_data_dir=data_dir,
    )
    if brokers > 1 or LocalCluster.found_in(s.broker_data_dir):
        return LocalCluster(
            s.broker_data_dir,
            s.broker_port,
            s.jvm_lib_dir,
            s.broker_heap,
            brokers,
            share_classes=s.jvm_class_archives,
        )
    return local_broker.LocalBroker(
        s.broker_data_dir,
        s.broker_port,
        s.jvm_lib_dir,
        s.broker_heap,
        share_classes=s.jvm_class_archives,
    )


@broker_group.command("up")
@click.option(
    "--brokers",
    type=click.IntRange(1, 5),
    default=1,
    show_default=True,
    help="Nodes: more than one makes a KRaft cluster on consecutive ports from --port, topics "
    "replicated on up to 3 of them with 2 in sync.",
)
@_broker_options
def broker_up(ctx: click.Context, brokers: int, port: int | None, data_dir: Path | None) -> None:
    """Start the broker (or cluster); return once it answers metadata requests."""
    broker = _local_broker(ctx, port, data_dir, brokers)
    seconds = broker.up()
    what = "cluster" if isinstance(broker, LocalCluster) else "broker"
    click.echo(f"{what} ready at {broker.bootstrap} in {seconds:.1f} s (data in {broker.data_dir})")


@broker_group.command("down")
@_broker_options
def broker_down(ctx: click.Context, port: int | None, data_dir: Path | None) -> None:
    """Stop the broker (or every node of the cluster) and wait until its ports are free."""
    broker = _local_broker(ctx, port, data_dir)
    stopped = broker.down()
    what = "cluster" if isinstance(broker, LocalCluster) else "broker"
    click.echo(f"{what} stopped" if stopped else f"no broker was running from {broker.data_dir}")


@broker_group.command("status")
@_broker_options
def broker_status(ctx: click.Context, port: int | None, data_dir: Path | None) -> None:
    """Say whether the broker runs and answers; exit 1 when it does not."""
    status = _local_broker(ctx, port, data_dir).status()
    click.echo(status.describe())
    if not (status.running and status.answers):
        ctx.exit(1)


@broker_group.command(
    "tool", context_settings={"ignore_unknown_options": True, "allow_interspersed_args": False}
)
@click.argument("name", type=click.Choice(sorted(local_broker.TOOLS)))
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
@click.pass_context
def broker_tool(ctx: click.Context, name: str, args: tuple[str, ...]) -> None:
    """Run one of Kafka's own command-line tools; ARGS go to the tool.

    Example: fraudlab broker tool console-consumer --bootstrap-server 127.0.0.1:9092 --topic T
    """
    ctx.exit(local_broker.run_tool(name, list(args), settings_from(ctx).jvm_lib_dir))


for _module in COMMAND_MODULES:
    importlib.import_module(_module).register(app)


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``fraudlab`` script."""
    try:
        code = app.main(args=argv, prog_name="fraudlab", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        where = exc.ctx.command_path if exc.ctx is not None else "fraudlab"
        print(f"fraudlab: {exc.format_message()} (see `{where} --help`)", file=sys.stderr)
        sys.exit(2)
    except click.ClickException as exc:
        print(f"fraudlab: {exc.format_message()}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except FraudlabError as exc:
        print(f"fraudlab: {exc}", file=sys.stderr)
        sys.exit(exc.exit_code)
    except (KeyboardInterrupt, click.exceptions.Abort):
        print("fraudlab: interrupted.", file=sys.stderr)
        sys.exit(130)
    sys.exit(code if isinstance(code, int) else 0)


if __name__ == "__main__":
    main()
