"""``fraudlab run`` and ``fraudlab replay``: a run end to end with one command.

``run`` simulates a scenario, or streams an assignment-layout CSV folder (``--csv DIR``);
``replay`` republishes a finished run's events from its archive.
Either way the engine scores them and the archiver records everything (see
:mod:`lab.run_supervisor`).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable
from pathlib import Path

import click

from fraudlab import codec
from fraudlab.blocking_kafka import BlockingKafka
from fraudlab.cli_context import command_kafka, settings_from
from fraudlab.cli_options import (
    SPEED_HELP,
    customers_option,
    given_options,
    minutes_option,
    pace,
    pace_options,
    resume_option,
    seed_option,
)
from fraudlab.errors import FraudlabError, UsageError
from fraudlab.progress import stderr
from fraudlab.run_events import latest_details
from fraudlab.runs import new_run_id, validate_run_id
from fraudlab.settings import Settings
from lab.run_plan import (
    CSV_PEAK_EVENTS_PER_S,
    CsvSource,
    ReplaySource,
    RunPlan,
    ScenarioSource,
    Source,
    quick_start_for,
)
from lab.run_rules import file_rules, free_run_id, rules_option
from lab.run_status import RunFigures
from lab.run_supervisor import RunOutcome, supervised_run
from rulebook.rules import RuleChange

__all__ = ["register", "supervise"]

FAST_HELP = "As fast as it goes; the engine then runs available-now."
# without a terminal, a status line every this many seconds instead of a live one
LOG_STATUS_EVERY_S = 10.0


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


def supervise(ctx: click.Context, settings: Settings, plan: RunPlan) -> RunOutcome:
    """Run ``plan`` (:func:`lab.run_supervisor.supervised_run`) on the command's Kafka session
    with a status line, then print its report; a SIGTERM stops the run as a Ctrl-C does, every
    part ending cleanly."""
    show, done = _status_printer()
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        kafka = command_kafka(ctx, settings)
        outcome = supervised_run(settings, plan, kafka, show, stderr.print)
    finally:
        signal.signal(signal.SIGTERM, previous)
        done()
    run_id = plan.run_id
    if outcome.status == "failed":
        raise FraudlabError(f"run {run_id} failed: {outcome.reason}.".replace("..", "."))
    ctx.invoke(_report_command(ctx), run_id=run_id, as_json=False, archive_dir=None)
    reached = _speed_reached(settings, run_id)
    click.echo(f"run {run_id}: {outcome.status}{reached}")
    if outcome.status == "interrupted":
        ctx.exit(130)
    return outcome


_CHALLENGER = click.option(
    "--challenger",
    metavar="MODEL",
    help="Score every transaction with this saved model too, beside --model, in the same pass: "
    "--model alone decides alerts; `fraudlab report` sets the two side by side per pattern.",
)


def _check_challenger(ctx: click.Context, model: str, challenger: str | None) -> None:
    """Refuse, in one sentence and before any part starts, a challenger that is not a saved
    model or is the champion itself."""
    from models.registry import load_model

    if challenger is None:
        return
    if challenger == model:
        raise UsageError(
            f"--challenger {challenger} is the run's model itself: name another saved model."
        )
    load_model(settings_from(ctx).models_dir, challenger)


def _resumed(
    kafka: BlockingKafka,
    run_id: str,
    speed: float | None,
    fast: bool,
    model_name: str | None,
    replay: bool,
) -> RunPlan:
    """The plan that continues ``run_id``, stopped part way: its source with ``--resume``, at
    its announced pace unless ``speed`` or ``fast`` say otherwise, and the engine on the model
    it started with (or ``model_name``), from its checkpoints. A UsageError, in one sentence,
    for a run that cannot be continued so."""
    from fraudlab.resume import resume_point, resumed_pace

    pace(speed, fast, required=False)
    point = kafka.call(resume_point(kafka.session, run_id, ()))
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
    source: Source = (
        ReplaySource(str(source_of))
        if replay
        else ScenarioSource(str(details.get("scenario")), int(details.get("seed") or 0))
    )
    started = latest_details(point.events, "engine", "started")
    model = model_name or started.get("model_name")
    challenger = started.get("challenger_name")
    return RunPlan(
        run_id,
        source,
        chosen,
        model=str(model or "default"),
        challenger=None if challenger is None else str(challenger),
        deliver=not replay,
        resume=True,
    )


def _speed_reached(settings: Settings, run_id: str) -> str:
    """The pace the run's events went out at, as its source reported it when it finished, read
    from the run's archive (or nothing)."""
    from archive.files import reading
    from archive.reader import run_summary

    try:
        with reading(settings.archive_dir, run_id) as con:
            producer = run_summary(con).parts.get("producer", {})
    except FraudlabError:
        return ""
    finished = producer.get("event") == "finished"
    speed = producer.get("details", {}).get("speed_reached") if finished else None
    return f" (events sent at {speed:,.1f}x)" if isinstance(speed, int | float) else ""


def _report_command(ctx: click.Context) -> click.Command:
    command = ctx.find_root().command
    assert isinstance(command, click.Group)
    found = command.get_command(ctx, "report")
    if found is None:
        raise FraudlabError("the report command is missing from this installation.")
    return found


def _csv_run(
    ctx: click.Context,
    data_dir: Path,
    seed: int | None,
    first_ts: int | None,
    speed: float | None,
    fast: bool,
    model_name: str,
    challenger: str | None,
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
    pace_ = None if fast else 1.0
    plan = RunPlan(
        run_id,
        CsvSource(data_dir, seed, first_ts),
        pace_,
        model=model_name,
        challenger=challenger,
        rules=None if rules is None else tuple(rules),
        quick_start=quick_start_for(pace_, CSV_PEAK_EVENTS_PER_S),
    )
    supervise(ctx, settings, plan)


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
@customers_option()
@pace_options(SPEED_HELP, FAST_HELP)
@click.option("--model", "model_name", help="Saved model [default: default].")
@_CHALLENGER
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
    customers: int | None,
    speed: float | None,
    fast: bool,
    model_name: str | None,
    challenger: str | None,
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
            customers=customers,
            run_id=run_id,
            rules=rule_files or None,
            challenger=challenger,
        )
        if given:
            raise UsageError(f"--resume continues a run as it started: drop {', '.join(given)}.")
        settings = settings_from(ctx)
        run_id = validate_run_id(resume_run)
        kafka = command_kafka(ctx, settings)
        supervise(ctx, settings, _resumed(kafka, run_id, speed, fast, model_name, False))
        return
    model_name = model_name or "default"
    _check_challenger(ctx, model_name, challenger)
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
        if minutes is not None or customers is not None:
            flag = "--minutes" if minutes is not None else "--customers"
            raise UsageError(f"{flag} is for scenarios: a CSV run streams its whole folder.")
        _csv_run(ctx, csv_dir, seed, first_ts, speed, fast, model_name, challenger, run_id, rules)
        return
    assert scenario is not None
    if first_ts is not None:
        raise UsageError("--first-ts is for --csv runs: a scenario run starts at its own start.")

    chosen = pace(speed, fast)
    settings = settings_from(ctx)
    loaded = load_scenario(scenario, settings.scenarios_dir)
    seed = loaded.seed if seed is None else seed
    plan = RunPlan(
        run_id or new_run_id(loaded.name, seed),
        ScenarioSource(scenario, seed, minutes, customers),
        chosen,
        model=model_name,
        challenger=challenger,
        rules=None if rules is None else tuple(rules),
        quick_start=quick_start_for(
            chosen, loaded.traffic.peak_events_per_s(), minutes or loaded.minutes
        ),
    )
    supervise(ctx, settings, plan)


@click.command("replay")
@click.argument("source_run_id", metavar="RUN", required=False)
@pace_options("Pace: the original event-time gaps divided by K (1 = as it happened).", FAST_HELP)
@click.option("--model", "model_name", help="Saved model [default: the one that scored RUN].")
@_CHALLENGER
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
    challenger: str | None,
    run_id: str | None,
    rule_files: tuple[Path, ...],
    resume_run: str | None,
) -> None:
    """Play a finished run again as a new run: its events, its pacing scaled, scored again.

    With another --model this is how a new model is tried on a past run's traffic; `fraudlab
    compare RUN NEW_RUN` then holds the two side by side. With --challenger M, M is scored
    beside the model in the same pass, and `fraudlab report NEW_RUN` sets the two side by side
    per pattern. A replay stopped part way continues
    with --resume REPLAY (no RUN).
    """
    from archive.files import reading
    from archive.reader import rule_changes, run_summary

    if resume_run is not None:
        if source_run_id is not None or run_id is not None or rule_files or challenger:
            raise UsageError(
                "--resume continues a replay as it started: drop RUN, --run-id, --rules and "
                "--challenger."
            )
        settings = settings_from(ctx)
        run_id = validate_run_id(resume_run)
        kafka = command_kafka(ctx, settings)
        supervise(ctx, settings, _resumed(kafka, run_id, speed, fast, model_name, True))
        return
    if source_run_id is None:
        raise UsageError(
            "say which archived run to replay (see `fraudlab runs`), or --resume REPLAY."
        )
    chosen = pace(speed, fast)
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
    _check_challenger(ctx, model, challenger)
    run_id = (
        validate_run_id(run_id)
        if run_id
        else new_run_id(f"replay-{original.scenario or 'run'}", original.seed or 0)
    )
    # a replay's alerts are a what-if: `fraudlab deliver REPLAY` sends them when they are wanted
    plan = RunPlan(
        run_id,
        ReplaySource(source_run_id),
        chosen,
        model=model,
        challenger=challenger,
        rules=tuple(rules),
        deliver=False,
    )
    supervise(ctx, settings, plan)


def register(group: click.Group) -> None:
    """Add ``run`` and ``replay`` to the CLI."""
    group.add_command(run_command)
    group.add_command(replay_command)
