"""``fraudlab run`` and ``fraudlab replay``: a run end to end with one command.

``run`` simulates a scenario, or streams an assignment-layout CSV folder (``--csv DIR``);
``replay`` republishes a finished run's events from its archive.
Either way the engine scores them and the archiver records everything (see
:mod:`lab.run_supervisor`).
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Callable
from pathlib import Path

import click

from fraudlab import codec
from fraudlab.broker import require_broker
from fraudlab.cli_context import settings_from
from fraudlab.cli_options import (
    SPEED_HELP,
    given_options,
    minutes_option,
    pace,
    pace_options,
    resume_option,
    seed_option,
)
from fraudlab.errors import FraudlabError, UsageError
from fraudlab.progress import stderr
from fraudlab.run_events import latest_details, read_run_events
from fraudlab.runs import new_run_id, validate_run_id
from fraudlab.settings import Settings, settings_toml
from lab.run_parts import PartProcess, fraudlab_argv
from lab.run_rules import file_rules, free_run_id, publish_starting_rules, rules_option
from lab.run_status import RunFigures
from lab.run_supervisor import RunOutcome, RunSupervisor
from rulebook.rules import RuleChange

__all__ = ["register", "supervise"]

FAST_HELP = "As fast as it goes; the engine then runs available-now."
# without a terminal, a status line every this many seconds instead of a live one
LOG_STATUS_EVERY_S = 10.0


def pace_flags(speed: float | None, fast: bool) -> list[str]:
    """The --speed or --fast flags of a run's source, with one sentence for a bad choice."""
    chosen = pace(speed, fast)
    return ["--fast"] if chosen is None else ["--speed", f"{chosen:g}"]


# A live engine whose input stays under this many events per second starts its JVM with the C1
# JIT alone (fraudlab.spark): half the 8,000 events/s such an engine sustains on two cores, so
# it keeps up with room to spare, and its first scores come seconds sooner (make demo's first
# alert: 33 s with both JIT tiers, 25 s with C1 alone).
QUICK_START_MAX_RATE = 4_000.0


def engine_flags(model_name: str, speed: float | None, peak_rate: float | None = None) -> list[str]:
    """The engine of a run next to its source: available-now after a fast source, else live;
    a live one quick-starts when ``peak_rate`` (events/s of the source at speed 1, an upper
    estimate) times the speed stays under :data:`QUICK_START_MAX_RATE`."""
    flags = ["--model", model_name, "--until-producer-ends"]
    if speed is None:
        return [*flags, "--available-now"]
    flags += ["--speed", f"{speed:g}"]
    if peak_rate is not None and peak_rate * speed <= QUICK_START_MAX_RATE:
        flags.append("--quick-start")
    return flags


def _status_printer() -> tuple[Callable[[RunFigures], None], Callable[[], None]]:
    if not stderr.is_terminal:
        last = {"at": 0.0}
        started = time.monotonic()

        def log(figures: RunFigures) -> None:
            if time.monotonic() - last["at"] >= LOG_STATUS_EVERY_S:
                last["at"] = time.monotonic()
                click.echo(f"[{last['at'] - started:7.1f}s] {figures.describe()}", err=True)

        return log, lambda: None
    status = stderr.status("starting the run's parts")
    status.start()

    def update(figures: RunFigures) -> None:
        status.update(figures.describe())

    return update, status.stop


def supervise(
    ctx: click.Context,
    settings: Settings,
    run_id: str,
    source_args: list[str],
    engine_args: list[str],
    rules: list[RuleChange] | None = None,
    deliver: bool = True,
    default_rules: bool = False,
) -> RunOutcome:
    """Run a source command, the engine and the archiver for ``run_id``, then print its report.

    ``rules``: changes published to the run's rules topic before any part starts; with
    ``default_rules`` and no ``rules``, those of the default rule book. With ``deliver`` and
    sinks in the settings, a delivery part sends each new alert to them.
    """
    from models.registry import load_model

    load_model(settings.models_dir, engine_args[engine_args.index("--model") + 1])
    require_broker(settings.bootstrap_servers)
    publish_starting_rules(settings, run_id, rules, default_rules)
    logs = settings.logs_dir / run_id
    logs.mkdir(parents=True, exist_ok=True)
    settings_file = logs / "settings.toml"
    settings_file.write_text(settings_toml(settings))

    def part(name: str, args: list[str], label: str = "") -> PartProcess:
        return PartProcess(name, fraudlab_argv(settings_file, *args), logs / f"{name}.log", label)

    show, done = _status_printer()
    delivery = None
    wait_for = "producer,engine"
    if deliver and settings.alert_sinks:
        delivery = part("delivery", ["deliver", run_id])
        wait_for += ",delivery"
        sinks = ", ".join(s.name for s in settings.alert_sinks)
        stderr.print(f"run {run_id}: new alerts go to {sinks}")
    supervisor = RunSupervisor(
        settings,
        run_id,
        part(
            "producer",
            source_args,
            "producer" if source_args[0] in ("produce", "produce-csv") else "replay",
        ),
        part("engine", ["engine", run_id, *engine_args]),
        part("archiver", ["archive", run_id, "--until-end", "--wait-for", wait_for]),
        show,
        delivery,
    )
    stderr.print(f"run {run_id}: parts' logs in {logs}")
    # a SIGTERM stops the run as a Ctrl-C does: every part ends cleanly
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        outcome = supervisor.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
        done()
    if outcome.status == "failed":
        raise FraudlabError(f"run {run_id} failed: {outcome.reason}.".replace("..", "."))
    ctx.invoke(_report_command(ctx), run_id=run_id, as_json=False, archive_dir=None)
    reached = _speed_reached(settings, run_id)
    click.echo(f"run {run_id}: {outcome.status}{reached}")
    if outcome.status == "interrupted":
        ctx.exit(130)
    return outcome


def _resumed(
    settings: Settings,
    run_id: str,
    speed: float | None,
    fast: bool,
    model_name: str | None,
    replay: bool,
) -> tuple[list[str], list[str]]:
    """The source and engine arguments that continue ``run_id``, stopped part way: its source
    with ``--resume``, at its announced pace unless ``speed`` or ``fast`` say otherwise, and
    the engine on the model it started with (or ``model_name``), from its checkpoints. A
    UsageError, in one sentence, for a run that cannot be continued so."""
    from fraudlab.resume import resume_point, resumed_pace

    pace(speed, fast, required=False)
    point = asyncio.run(resume_point(settings.bootstrap_servers, run_id, ()))
    details = point.details
    source_of = details.get("replay_of")
    if replay and source_of is None:
        raise UsageError(
            f"run {run_id} is not a replay: continue it with `fraudlab run --resume {run_id}`."
        )
    if not replay and source_of is not None:
        raise UsageError(
            f"run {run_id} is a replay of run {source_of}: continue it with "
            f"`fraudlab replay --resume {run_id}`."
        )
    if not replay and not isinstance(details.get("scenario_text"), str):
        raise UsageError(
            f"run {run_id} was not produced from a scenario ({details.get('scenario')}): only "
            "scenario runs and replays can be resumed."
        )
    chosen = resumed_pace(details, speed, fast)
    flags = ["--fast"] if chosen is None else ["--speed", f"{chosen:g}"]
    if replay:
        source = ["republish", str(source_of), "--run-id", run_id, "--resume", *flags]
    else:
        source = ["produce", "--resume", run_id, *flags]
    events = asyncio.run(read_run_events(settings.bootstrap_servers, run_id))
    model = model_name or latest_details(events, "engine", "started").get("model_name")
    return source, engine_flags(str(model or "default"), chosen)


def _speed_reached(settings: Settings, run_id: str) -> str:
    """The pace the run's events went out at, as the source reported it (or nothing)."""
    try:
        events = asyncio.run(read_run_events(settings.bootstrap_servers, run_id))
    except FraudlabError:
        return ""
    speed = latest_details(events, "producer", "finished").get("speed_reached")
    return f" (events sent at {speed:,.1f}x)" if isinstance(speed, int | float) else ""


def _report_command(ctx: click.Context) -> click.Command:
    command = ctx.find_root().command
    assert isinstance(command, click.Group)
    found = command.get_command(ctx, "report")
    if found is None:
        raise FraudlabError("the report command is missing from this installation.")
    return found


def csv_source(
    data_dir: Path, run_id: str, seed: int, first_ts: int | None, fast: bool
) -> list[str]:
    """The produce-csv command line of a CSV run.

    >>> csv_source(Path("cases/a"), "r1", 0, 1800000000, True)
    ['produce-csv', 'cases/a', '--run-id', 'r1', '--seed', '0', '--first-ts', '1800000000', \
'--fast']
    """
    source = ["produce-csv", str(data_dir), "--run-id", run_id, "--seed", str(seed)]
    if first_ts is not None:
        source += ["--first-ts", str(first_ts)]
    return [*source, "--fast"] if fast else source


def _csv_run(
    ctx: click.Context,
    data_dir: Path,
    seed: int | None,
    first_ts: int | None,
    speed: float | None,
    fast: bool,
    model_name: str,
    run_id: str | None,
    rules: list[RuleChange] | None,
) -> None:
    """``run --csv DIR``: the folder streamed by produce-csv, scored and archived."""
    from fraudlab.runs import validate_run_id
    from simulator.csv_dataset import locate_dataset

    if speed is not None:
        raise UsageError(
            "a CSV run is paced by its batch interval (one batch every 5 s): leave out --speed, "
            "or send batches back to back with --fast."
        )
    settings = settings_from(ctx)
    # every header is read, and the folder refused in one sentence, before any part starts
    locate_dataset(data_dir, zone=settings.csv_time_zone)
    seed = seed or 0
    run_id = validate_run_id(run_id) if run_id else new_run_id("csv", seed)
    source = csv_source(data_dir, run_id, seed, first_ts, fast)
    # one batch of at most 500 rows every 5 s
    engine = engine_flags(model_name, None if fast else 1.0, peak_rate=100.0)
    supervise(ctx, settings, run_id, source, engine, rules, default_rules=rules is None)


@click.command("run")
@click.argument("scenario", required=False)
@click.option(
    "--csv",
    "csv_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Stream this assignment-layout CSV folder instead of simulating a scenario.",
)
@click.option(
    "--first-ts",
    type=click.IntRange(min=0),
    help="With --csv: ts of the first batch, for a reproducible run [default: the wall clock].",
)
@seed_option()
@minutes_option()
@pace_options(SPEED_HELP, FAST_HELP)
@click.option("--model", "model_name", help="Saved model [default: default].")
@click.option("--run-id", help="Run id [default: scenario, seed and the time it starts].")
@rules_option("The run starts with the rules of FILE (TOML or JSON, see rules/); repeatable.")
@resume_option(
    "RUN",
    "Continue run RUN, stopped part way: its producer from what its topics hold, its engine "
    "from its checkpoints, its archive from its file.",
)
@click.pass_context
def run_command(
    ctx: click.Context,
    scenario: str | None,
    csv_dir: Path | None,
    first_ts: int | None,
    seed: int | None,
    minutes: float | None,
    speed: float | None,
    fast: bool,
    model_name: str | None,
    run_id: str | None,
    rule_files: tuple[Path, ...],
    resume_run: str | None,
) -> None:
    """Run SCENARIO end to end: produce it, score it, archive it, and print its report.

    With --csv DIR instead of SCENARIO, the folder's datasets are streamed as the assignment
    says (see produce-csv); labels in its fraud_transaction.csv give precision and recall.
    Ctrl-C stops every part cleanly; the archive is then marked interrupted, and --resume RUN
    continues it.
    """
    from simulator.scenario import load_scenario

    if resume_run is not None:
        given = given_options(
            SCENARIO=scenario,
            csv=csv_dir,
            first_ts=first_ts,
            seed=seed,
            minutes=minutes,
            run_id=run_id,
            rules=rule_files or None,
        )
        if given:
            raise UsageError(f"--resume continues a run as it started: drop {', '.join(given)}.")
        settings = settings_from(ctx)
        run_id = validate_run_id(resume_run)
        source, engine = _resumed(settings, run_id, speed, fast, model_name, replay=False)
        supervise(ctx, settings, run_id, source, engine)
        return
    model_name = model_name or "default"
    if scenario is not None and csv_dir is not None:
        raise UsageError(
            f"run {scenario!r} or the CSV files of --csv {csv_dir}, not both: a run plays one."
        )
    if scenario is None and csv_dir is None:
        raise UsageError("say what to run: a SCENARIO, or --csv DIR for a folder of CSV files.")
    free_run_id(run_id)
    # a run starts with its --rules files, else with the default rule book (read in supervise)
    rules = file_rules(rule_files) if rule_files else None
    if csv_dir is not None:
        if minutes is not None:
            raise UsageError("--minutes is for scenarios: a CSV run streams its whole folder.")
        _csv_run(ctx, csv_dir, seed, first_ts, speed, fast, model_name, run_id, rules)
        return
    assert scenario is not None
    if first_ts is not None:
        raise UsageError("--first-ts is for --csv runs: a scenario run starts at its own start.")

    flags = pace_flags(speed, fast)
    settings = settings_from(ctx)
    loaded = load_scenario(scenario, settings.scenarios_dir)
    seed = loaded.seed if seed is None else seed
    run_id = run_id or new_run_id(loaded.name, seed)
    source = ["produce", scenario, "--seed", str(seed), "--run-id", run_id, *flags]
    if minutes is not None:
        source += ["--minutes", f"{minutes:g}"]
    peak = loaded.traffic.peak_events_per_s()
    engine = engine_flags(model_name, None if fast else speed, peak)
    supervise(ctx, settings, run_id, source, engine, rules, default_rules=rules is None)


@click.command("replay")
@click.argument("source_run_id", metavar="RUN", required=False)
@pace_options("Pace: the original event-time gaps divided by K (1 = as it happened).", FAST_HELP)
@click.option("--model", "model_name", help="Saved model [default: the one that scored RUN].")
@click.option("--run-id", help="The replay's run id [default: replay of RUN's scenario and seed].")
@rules_option(
    'Replay with the rules of FILE instead of RUN\'s own ("what if this rule had been on?"); '
    "repeatable. Without it, RUN's rule changes apply at the same event times."
)
@resume_option("REPLAY", "Continue replay REPLAY, stopped part way, from what its topics hold.")
@click.pass_context
def replay_command(
    ctx: click.Context,
    source_run_id: str | None,
    speed: float | None,
    fast: bool,
    model_name: str | None,
    run_id: str | None,
    rule_files: tuple[Path, ...],
    resume_run: str | None,
) -> None:
    """Play a finished run again as a new run: its events, its pacing scaled, scored again.

    With another --model this is how a new model is tried on a past run's traffic; `fraudlab
    compare RUN NEW_RUN` then holds the two side by side. A replay stopped part way continues
    with --resume REPLAY (no RUN).
    """
    from archive.files import reading
    from archive.reader import rule_changes, run_summary

    if resume_run is not None:
        if source_run_id is not None or run_id is not None or rule_files:
            raise UsageError(
                "--resume continues a replay as it started: drop RUN, --run-id and --rules."
            )
        settings = settings_from(ctx)
        run_id = validate_run_id(resume_run)
        source, engine = _resumed(settings, run_id, speed, fast, model_name, replay=True)
        supervise(ctx, settings, run_id, source, engine, deliver=False)
        return
    if source_run_id is None:
        raise UsageError(
            "say which archived run to replay (see `fraudlab runs`), or --resume REPLAY."
        )
    flags = pace_flags(speed, fast)
    settings = settings_from(ctx)
    free_run_id(run_id)
    rules = file_rules(rule_files)
    with reading(settings.archive_dir, validate_run_id(source_run_id)) as con:
        original = run_summary(con)
        if not rule_files:
            rules = [RuleChange.from_json(codec.encode(r)) for r in rule_changes(con)]
    model = model_name or original.model_name
    if model is None:
        raise UsageError(f"run {source_run_id} names no model: choose one with --model NAME.")
    run_id = (
        validate_run_id(run_id)
        if run_id
        else new_run_id(f"replay-{original.scenario or 'run'}", original.seed or 0)
    )
    source = ["republish", source_run_id, "--run-id", run_id, *flags]
    engine = engine_flags(model, None if fast else speed)
    # a replay's alerts are a what-if: `fraudlab deliver REPLAY` sends them when they are wanted
    supervise(ctx, settings, run_id, source, engine, rules, deliver=False)


def register(group: click.Group) -> None:
    """Add ``run`` and ``replay`` to the CLI."""
    group.add_command(run_command)
    group.add_command(replay_command)
