"""``fraudlab serve``: the live, replay and compare views on one Bokeh server, and the index
page's start form, which offers the scenarios and the saved models (read here, in the layer
that sees them all; the views do not import the simulator or the models).

Bokeh and Tornado are imported inside the command, so ``fraudlab --help`` stays quick.
"""

from __future__ import annotations

import signal
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

import click

from fraudlab.cli_context import settings_from
from fraudlab.cli_options import archive_dir_option
from fraudlab.settings import REPO_ROOT, Settings

if TYPE_CHECKING:
    from viz.run_start import StartChoices

RULES_DIR = REPO_ROOT / "rules"


def start_choices(settings: Settings, rules_dir: Path = RULES_DIR) -> StartChoices:
    """What the start form offers: every scenario of ``settings.scenarios_dir`` (one that does
    not load is left out: ``fraudlab scenarios NAME`` says why), the saved models, and the
    example rule files of ``rules_dir``."""
    from fraudlab.errors import UsageError
    from models.registry import list_models
    from simulator.scenario import Scenario, load_scenario
    from viz.run_start import ScenarioChoice, StartChoices

    scenarios: list[Scenario] = []
    for path in sorted(settings.scenarios_dir.glob("*.toml")):
        try:
            scenarios.append(load_scenario(str(path), settings.scenarios_dir))
        except UsageError:
            continue
    return StartChoices(
        tuple(
            ScenarioChoice(
                s.name,
                s.description,
                tuple(name for name, _ in s.patterns.enabled()),
                s.seed,
                s.minutes,
            )
            for s in scenarios
        ),
        tuple(list_models(settings.models_dir)),
        tuple(sorted(rules_dir.glob("*.toml"))),
    )


@click.command("serve")
@click.option("--port", type=int, help="Port to serve on [default: 5006].")
@click.option("--address", help="Address to bind [default: 127.0.0.1, loopback only].")
@click.option(
    "--allow-origin",
    "allow_origins",
    multiple=True,
    metavar="HOST:PORT",
    help="Another origin whose pages may open the views (repeatable), e.g. behind a proxy.",
)
@archive_dir_option()
@click.option("--bootstrap-servers", help="Kafka bootstrap servers of the live view.")
@click.pass_context
def serve_command(
    ctx: click.Context,
    port: int | None,
    address: str | None,
    allow_origins: tuple[str, ...],
    archive_dir: Path | None,
    bootstrap_servers: str | None,
) -> None:
    """Serve /live, /replay and /compare, and an index of runs at /, until Ctrl-C.

    Served on loopback, the index page also starts runs (as `fraudlab run` does) and /live
    pauses, re-paces and stops them."""
    from viz.server import allowed_origins, make_server, urls

    settings = settings_from(
        ctx,
        {"viz_port": "--port", "viz_address": "--address"},
        viz_port=port,
        viz_address=address,
        archive_dir=archive_dir,
        bootstrap_servers=bootstrap_servers,
    )
    server = make_server(
        settings, extra_origins=allow_origins, start_choices=partial(start_choices, settings)
    )
    server.start()
    loop = server.io_loop.asyncio_loop
    loop.add_signal_handler(signal.SIGTERM, server.io_loop.stop)
    click.echo(
        f"serving the views of {settings.archive_dir} and Kafka at {settings.bootstrap_servers}:"
    )
    for url in urls(settings.viz_address, settings.viz_port):
        click.echo(f"  {url}")
    origins = allowed_origins(settings.viz_address, settings.viz_port, allow_origins)
    click.echo(
        f"pages may be opened through {', '.join(origins)}; "
        f"through any other name, add --allow-origin NAME:{settings.viz_port}"
    )
    click.echo("Ctrl-C stops the server.", nl=True)
    try:
        server.io_loop.start()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
        loop.remove_signal_handler(signal.SIGTERM)
    click.echo("server stopped")


def register(group: click.Group) -> None:
    """Add ``serve`` to the ``fraudlab`` CLI."""
    group.add_command(serve_command)
