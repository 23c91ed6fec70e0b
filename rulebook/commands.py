"""``fraudlab rules``: rule files checked, and a run's rules changed while it plays (see
:mod:`rulebook.rules`, :mod:`rulebook.topics`). A command reads and writes the rules topics
through the process's one Kafka session (:func:`fraudlab.cli_context.command_kafka`)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import click

from fraudlab.blocking_kafka import BlockingKafka
from fraudlab.cli_context import command_kafka, settings_from
from fraudlab.cli_options import json_option
from fraudlab.errors import UsageError
from fraudlab.run_events import part_ending, read_run_events
from fraudlab.runs import validate_run_id
from rulebook.rules import Rule, RuleBook, RuleChange, event_time, read_rule_file
from rulebook.topics import (
    DEFAULT_BOOK,
    default_book,
    default_effective,
    latest_event_time,
    publish_changes,
    read_changes,
)


@click.group("rules")
def rules_group() -> None:
    """Rules beside the model: conditions in CEL over the model's features (see rules/)."""


def _when(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _from(effective: int) -> str:
    """An effective event time as the commands say it."""
    return "from the start" if not effective else f"from {_when(effective)}"


def _effective_option(fn: click.decorators.FC) -> click.decorators.FC:
    return click.option(
        "--effective",
        metavar="TIME",
        help="Event time the change takes effect (ISO 8601 with its offset, or Unix seconds) "
        "[default: a rule's own `effective`, else 30 s of event time past the run's latest "
        "event, or the run's start when it has none yet].",
    )(fn)


def _effective_time(given: str | None) -> int | None:
    if given is None:
        return None
    value: object = int(given) if given.lstrip("-").isdigit() else given
    return event_time(value, "option --effective")


def _chosen(rule: Rule, given: int | None, fallback: int | None) -> int:
    """A rule's effective time: --effective, else the rule's own, else the run's default."""
    return given if given is not None else (rule.effective or fallback or 0)


def _run_session(ctx: click.Context, run_id: str, changing: bool = False) -> BlockingKafka:
    """The process's Kafka session, once the broker answers; a UsageError when the broker holds
    no run ``run_id`` (no run event of it: a misspelt id would otherwise take rules no engine
    ever reads) and, with ``changing``, when the run's engine has ended (a change would reach
    no engine)."""
    validate_run_id(run_id)
    settings = settings_from(ctx)
    kafka = command_kafka(ctx, settings)
    kafka.require_answer()
    if run_id != DEFAULT_BOOK:
        events = kafka.call(read_run_events(kafka.session, run_id))
        if not events:
            raise UsageError(
                f"the broker at {settings.bootstrap_servers} holds no run {run_id}: check the "
                "run id (`fraudlab runs` lists the runs)."
            )
    if changing and run_id != DEFAULT_BOOK:
        ending = part_ending(events, "engine")
        if ending is not None:
            raise click.UsageError(
                f"the engine of run {run_id} has {ending}: try rules on it with "
                f"`fraudlab replay {run_id} --rules FILE`."
            )
    return kafka


def _not_passed(given: int, kafka: BlockingKafka, run_id: str) -> int:
    """``given``, unless the run already holds events after it (the engine may have scored
    them without the change): then a UsageError."""
    latest = kafka.call(latest_event_time(kafka.session, run_id))
    if latest is not None and given <= latest:
        raise click.UsageError(
            f"option --effective: event time {_when(given)} has passed on run {run_id} (its "
            f"latest event is at {_when(latest)}): choose a later time, or leave it out."
        )
    return given


@rules_group.command("check")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@json_option("Print the rules as JSON.")
def check_command(files: tuple[Path, ...], as_json: bool) -> None:
    """Check rule FILES (TOML or JSON) and list their rules; a rule that cannot be used is
    refused in one sentence naming its file, rule and field (exit 2).

    Example: fraudlab rules check rules/card-testing.toml
    """
    rules = [(path, rule) for path in files for rule in read_rule_file(path)]
    seen: dict[str, Path] = {}
    for path, rule in rules:
        if rule.id in seen:
            raise click.UsageError(
                f"{path}: rule {rule.id}: field 'id' is also a rule of {seen[rule.id]}."
            )
        seen[rule.id] = path
    if as_json:
        click.echo(json.dumps([{"file": str(p), **asdict(r)} for p, r in rules], indent=2))
        return
    for path, rule in rules:
        action = rule.action if rule.score is None else f"{rule.action} to {rule.score:g}"
        click.echo(f"{rule.id}  ({path.name}, {action}, {_from(rule.effective)})")
        click.echo(f"    {rule.description}")
        click.echo(f"    when {rule.condition}")
    rule_word = "rule" if len(rules) == 1 else "rules"
    file_word = "file" if len(files) == 1 else "files"
    click.echo(f"{len(rules)} {rule_word} in {len(files)} {file_word}: every one can be used.")


@rules_group.command("add")
@click.argument("run_id")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@_effective_option
@click.pass_context
def add_command(
    ctx: click.Context, run_id: str, files: tuple[Path, ...], effective: str | None
) -> None:
    """Add the rules of FILES to run RUN_ID (before it starts, or while it plays); a rule that
    is there already is replaced from the change's effective time on. RUN_ID `default` is the
    default rule book: each new run without --rules starts with its rules.

    Example: fraudlab rules add my-run rules/card-testing.toml
    """
    rules = [rule for path in files for rule in read_rule_file(path)]
    kafka = _run_session(ctx, run_id, changing=True)
    given = _effective_time(effective)
    if run_id == DEFAULT_BOOK:
        _add_to_default_book(kafka, rules, given)
        return
    if given is not None:
        _not_passed(given, kafka, run_id)
    # the run's latest event is read only when some rule has no effective time of its own
    fallback = given
    if fallback is None and any(not r.effective for r in rules):
        fallback = kafka.call(default_effective(kafka.session, run_id))
    changes = [
        RuleChange.add(
            Rule(
                **{
                    **asdict(r),
                    "effective": given if given is not None else (r.effective or fallback),
                }
            )
        )
        for r in rules
    ]
    kafka.call(publish_changes(kafka.session, run_id, changes))
    for change in changes:
        click.echo(
            f"rule {change.rule_id} added to run {run_id}, in force "
            f"{_from(change.effective)} (event time)"
        )


def _add_to_default_book(kafka: BlockingKafka, rules: list[Rule], given: int | None) -> None:
    """Rules into the default rule book: each in force from its own effective time in every
    new run (or ``given``), from the run's start when it has none."""
    changes = [
        RuleChange.add(
            Rule(**{**asdict(r), "effective": given if given is not None else r.effective})
        )
        for r in rules
    ]
    kafka.call(publish_changes(kafka.session, DEFAULT_BOOK, changes))
    for change in changes:
        click.echo(
            f"rule {change.rule_id} added to the default rule book: new runs start with it, "
            f"in force {_from(change.effective)} (event time)"
        )


@rules_group.command("disable")
@click.argument("run_id")
@click.argument("rule_ids", nargs=-1, required=True)
@_effective_option
@click.pass_context
def disable_command(
    ctx: click.Context, run_id: str, rule_ids: tuple[str, ...], effective: str | None
) -> None:
    """Disable rules RULE_IDS of run RUN_ID from an event time on (RUN_ID `default`: take them
    out of the default rule book).

    Example: fraudlab rules disable my-run scripted-checkout
    """
    kafka = _run_session(ctx, run_id, changing=True)
    changes, _ = kafka.call(read_changes(kafka.session, run_id))
    known = {c.rule_id for c in changes if c.kind == "add"}
    if run_id == DEFAULT_BOOK:  # the rules in the book now
        known = {r.id for r in kafka.call(default_book(kafka.session))}
    unknown = [r for r in rule_ids if r not in known]
    whose = "the default rule book" if run_id == DEFAULT_BOOK else f"run {run_id}"
    if unknown:
        listed = ", ".join(sorted(known)) or "none"
        raise click.UsageError(f"{whose} has no rule {unknown[0]!r} (its rules: {listed}).")
    given = _effective_time(effective)
    if run_id == DEFAULT_BOOK:
        # out of the book (its latest change, in log order): a new run starts without it
        taken_out = [RuleChange.disable(r, 0) for r in rule_ids]
        kafka.call(publish_changes(kafka.session, run_id, taken_out))
        for rule_id in rule_ids:
            click.echo(f"rule {rule_id} taken out of the default rule book")
        return
    at = _not_passed(given, kafka, run_id) if given is not None else None
    at = at if at is not None else kafka.call(default_effective(kafka.session, run_id))
    disabled = [RuleChange.disable(r, at) for r in rule_ids]
    kafka.call(publish_changes(kafka.session, run_id, disabled))
    for rule_id in rule_ids:
        click.echo(f"rule {rule_id} of run {run_id} disabled {_from(at)} (event time)")


@rules_group.command("list")
@click.argument("run_id")
@json_option("Print the changes and the rules in force as JSON.")
@click.pass_context
def list_command(ctx: click.Context, run_id: str, as_json: bool) -> None:
    """List the rule changes of run RUN_ID, in the order they came, and the rules in force
    after the last of them.

    Example: fraudlab rules list my-run
    """
    kafka = _run_session(ctx, run_id)
    changes, refused = kafka.call(read_changes(kafka.session, run_id))
    if run_id == DEFAULT_BOOK:
        _list_default_book(kafka, as_json)
        return
    last = max((c.effective for c in changes), default=0)
    in_force = RuleBook(changes).in_force(last)
    if as_json:
        body = {
            "changes": [
                {"kind": c.kind, "rule_id": c.rule_id, "effective": c.effective} for c in changes
            ],
            "in_force": [asdict(r) for r in in_force],
            "refused": refused,
        }
        click.echo(json.dumps(body, indent=2))
        return
    if not changes:
        whose = "the default rule book" if run_id == DEFAULT_BOOK else f"run {run_id}"
        click.echo(f"{whose} has no rules.")
    for c in changes:
        click.echo(f"{c.kind:<8} {c.rule_id:<28} {_from(c.effective)}")
    for sentence in refused:
        click.echo(f"refused  {sentence}")
    if changes:
        click.echo(f"in force after the last change: {', '.join(r.id for r in in_force) or 'none'}")


def _list_default_book(kafka: BlockingKafka, as_json: bool) -> None:
    """The rules in the default rule book (a log of edits: what its latest edits leave in)."""
    book = kafka.call(default_book(kafka.session))
    if as_json:
        click.echo(json.dumps({"in_force": [asdict(r) for r in book]}, indent=2))
        return
    if not book:
        click.echo("the default rule book has no rules: new runs start with none.")
    for rule in book:
        action = rule.action if rule.score is None else f"{rule.action} to {rule.score:g}"
        click.echo(f"{rule.id:<28} {action}, {_from(rule.effective)}  when {rule.condition}")


def register(group: click.Group) -> None:
    """Add the rules commands to the CLI."""
    group.add_command(rules_group)
