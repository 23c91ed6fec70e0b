"""``fraudlab rules``: rule files checked before they reach a run (see :mod:`engine.rules`)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import click

from engine.rules import Rule, read_rule_file
from fraudlab.cli_options import json_option


@click.group("rules")
def rules_group() -> None:
    """Rules beside the model: conditions in CEL over the model's features (see rules/)."""


def _effective(rule: Rule) -> str:
    if not rule.effective:
        return "from the start"
    return datetime.fromtimestamp(rule.effective, UTC).isoformat().replace("+00:00", "Z")


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
        click.echo(f"{rule.id}  ({path.name}, {action}, {_effective(rule)})")
        click.echo(f"    {rule.description}")
        click.echo(f"    when {rule.condition}")
    click.echo(f"{len(rules)} rules in {len(files)} files: every one can be used.")


def register(group: click.Group) -> None:
    """Add the rules commands to the CLI."""
    group.add_command(rules_group)
