"""The simulator's commands: ``scenarios``, ``simulate`` and ``export``.

Progress goes to stderr, so that stdout holds only what a command is asked for (the digest).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import BinaryIO

import click
import orjson
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from fraudlab.cli_context import settings_from
from fraudlab.cli_options import minutes_option, seed_option
from fraudlab.errors import UsageError
from simulator.clock import DEFAULT_START, parse_start
from simulator.export import export_csv
from simulator.messages import Message
from simulator.scenario import Scenario, list_scenarios, load_scenario, scenario_toml
from simulator.simulation import STEP_S, Simulation, canonical_digest


def _scenario(ctx: click.Context, name_or_path: str) -> Scenario:
    return load_scenario(name_or_path, settings_from(ctx).scenarios_dir)


def _start(text: str | None) -> datetime:
    if text is None:
        return DEFAULT_START
    try:
        return parse_start(text)
    except ValueError:
        raise UsageError(f"--start: {text!r} is not an ISO 8601 date and time.") from None


def _messages(sim: Simulation, label: str) -> Iterator[Message]:
    """All messages of ``sim``, with a progress bar over simulated minutes on stderr."""
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[done]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(label, total=sim.horizon_s, done="")
        yield from sim.static_messages()
        t = 0.0
        while t < sim.horizon_s:
            t = min(t + STEP_S, sim.horizon_s)
            yield from sim.advance(t)
            progress.update(task, completed=t, done=f"{t / 60:,.0f}/{sim.minutes:,g} min")
        yield from sim.advance(float("inf"))


def _json_line(m: Message) -> bytes:
    line: dict[str, object] = {
        "deliver_at": round(m.deliver_at, 3),
        "stream": m.stream,
        "key": m.key.decode("utf-8", "replace"),
    }
    try:
        line["value"] = m.value.decode("utf-8")
    except UnicodeDecodeError:
        line["value_base64"] = base64.b64encode(m.value).decode("ascii")
    return orjson.dumps(line) + b"\n"


_seed = seed_option()
_minutes = minutes_option()
_start_option = click.option(
    "--start",
    "start_text",
    metavar="ISO",
    help="Run start (event time of simulated second 0) [default: 2026-01-05T00:00:00Z].",
)


def register(group: click.Group) -> None:
    """Add the simulator's commands to the ``fraudlab`` command group."""

    @group.command("scenarios")
    @click.argument("name", required=False)
    @click.pass_context
    def scenarios(ctx: click.Context, name: str | None) -> None:
        """List the scenarios, or print one (a name or a TOML file) with every default filled in."""
        if name is not None:
            click.echo(scenario_toml(_scenario(ctx, name)), nl=False)
            return
        for scenario in list_scenarios(settings_from(ctx).scenarios_dir):
            click.echo(f"{scenario.name:<24} {scenario.description}")

    @group.command("simulate")
    @click.argument("scenario_name", metavar="SCENARIO")
    @_seed
    @_minutes
    @_start_option
    @click.option(
        "--digest", is_flag=True, help="Print the SHA-256 of the event stream (last line)."
    )
    @click.option(
        "--out",
        type=click.Path(dir_okay=False, path_type=Path),
        help="Write every message as a JSON line to this file.",
    )
    @click.pass_context
    def simulate(
        ctx: click.Context,
        scenario_name: str,
        seed: int | None,
        minutes: float | None,
        start_text: str | None,
        digest: bool,
        out: Path | None,
    ) -> None:
        """Simulate SCENARIO (a name or a TOML file) without Kafka: a digest or JSON lines."""
        if not digest and out is None:
            raise UsageError("simulate needs --digest or --out FILE (or both).")
        scenario = _scenario(ctx, scenario_name)
        sim = Simulation(
            scenario, scenario.seed if seed is None else seed, _start(start_text), minutes
        )
        messages = _messages(sim, f"simulating {scenario.name}")
        counts: dict[str, int] = {}

        def counted(stream: Iterator[Message]) -> Iterator[Message]:
            for m in stream:
                counts[m.stream] = counts.get(m.stream, 0) + 1
                yield m

        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            with out.open("wb") as f:
                result = canonical_digest(_written(counted(messages), f))
        else:
            result = canonical_digest(counted(messages))
        summary = ", ".join(f"{k} {v:,}" for k, v in counts.items())
        click.echo(f"{scenario.name} seed {sim.seed}, {sim.minutes:g} min: {summary}", err=True)
        if digest:
            click.echo(result)

    @group.command("export")
    @click.argument("scenario_name", metavar="SCENARIO")
    @_seed
    @_minutes
    @_start_option
    @click.option(
        "--form",
        type=click.Choice(["assignment", "fraudlab"]),
        default="assignment",
        show_default=True,
        help="Values as the assignment writes them (naive local times with milliseconds, "
        "Fail, Python-literal product_metadata), or as fraudlab streams them (ISO UTC, JSON).",
    )
    @click.option(
        "--time-zone",
        "csv_time_zone",
        help="Zone of the naive local times [default: setting csv_time_zone, Asia/Jakarta].",
    )
    @click.argument("out_dir", metavar="DIR", type=click.Path(file_okay=False, path_type=Path))
    @click.pass_context
    def export(
        ctx: click.Context,
        scenario_name: str,
        seed: int | None,
        minutes: float | None,
        start_text: str | None,
        form: str,
        csv_time_zone: str | None,
        out_dir: Path,
    ) -> None:
        """Write SCENARIO's run as the assignment's CSV datasets into DIR.

        The assignment's columns come first in each file, fraudlab's extra columns after them.
        """
        settings = settings_from(ctx, {"csv_time_zone": "--time-zone"}, csv_time_zone=csv_time_zone)
        scenario = _scenario(ctx, scenario_name)
        sim = Simulation(
            scenario, scenario.seed if seed is None else seed, _start(start_text), minutes
        )
        counts = export_csv(
            _messages(sim, f"exporting {scenario.name}"),
            out_dir,
            dedupe=scenario.faults.duplicates > 0,
            form="fraudlab" if form == "fraudlab" else "assignment",
            zone=settings.csv_time_zone,
        )
        for name, rows in counts.items():
            click.echo(f"{out_dir / name}: {rows:,} rows")


def _written(messages: Iterator[Message], f: BinaryIO) -> Iterator[Message]:
    write = f.write
    for m in messages:
        write(_json_line(m))
        yield m
