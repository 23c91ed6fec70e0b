"""The rules a run starts with: the rules of its ``--rules`` files, else those of the default rule
book (``fraudlab rules add default FILE``, see :mod:`rulebook.topics`), published to the run's
rules topic before any of its parts starts; and the run id the book keeps for itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from fraudlab.blocking_kafka import BlockingKafka
from fraudlab.errors import UsageError
from fraudlab.progress import stderr
from rulebook.rules import RuleChange

__all__ = ["file_rules", "free_run_id", "publish_starting_rules", "rules_option"]


def rules_option(help: str) -> Any:
    """``--rules FILE``, repeatable, into the parameter ``rule_files``."""
    return click.option(
        "--rules",
        "rule_files",
        multiple=True,
        type=click.Path(dir_okay=False, path_type=Path),
        metavar="FILE",
        help=help,
    )


def file_rules(files: tuple[Path, ...]) -> list[RuleChange]:
    """The rules of ``files`` as changes (each from its own effective time, or the start);
    RuleError naming the file, rule and field when one cannot be used."""
    from rulebook.rules import read_rule_file

    rules = [rule for path in files for rule in read_rule_file(path)]
    ids = [r.id for r in rules]
    repeated = next((i for i in ids if ids.count(i) > 1), None)
    if repeated is not None:
        raise UsageError(f"--rules: rule {repeated!r} is in more than one file.")
    return [RuleChange.add(r) for r in rules]


def free_run_id(run_id: str | None) -> None:
    """A UsageError for a run id taken by the default rule book."""
    from rulebook.topics import DEFAULT_BOOK

    if run_id == DEFAULT_BOOK:
        raise UsageError(
            f"--run-id {DEFAULT_BOOK}: the name is the default rule book's; choose another."
        )


def publish_starting_rules(
    kafka: BlockingKafka, run_id: str, rules: list[RuleChange] | None, default_rules: bool
) -> None:
    """Publish ``rules`` to the run's rules topic through ``kafka``; with ``default_rules`` and
    no ``rules``, those of the default rule book."""
    from rulebook.topics import default_book, publish_changes

    if rules is None and default_rules:
        book = kafka.call(default_book(kafka.session))
        rules = [RuleChange.add(r) for r in book]
        if book:
            stderr.print(f"run {run_id}: starts with the default rule book ({len(book)} rules)")
    if rules:
        kafka.call(publish_changes(kafka.session, run_id, rules))
        stderr.print(f"run {run_id}: {len(rules)} rule changes, in force by event time")
