"""``fraudlab rules check``: the example files pass, a bad file is one sentence and exit 2."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from fraudlab.blocking_kafka import BlockingKafka
from lab.cli import main
from rulebook.rules import Rule, read_rule_file
from rulebook.topics import default_book

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"


def _default_book(bootstrap: str) -> list[Rule]:
    with BlockingKafka(bootstrap) as kafka:
        return kafka.call(default_book(kafka.session))


def _cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as done:
        main(list(args))
    out, err = capsys.readouterr()
    return int(done.value.code or 0), out, err


def test_the_example_rule_files_check_and_list_their_rules(
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = sorted(str(p) for p in RULES_DIR.glob("*.toml"))
    code, out, err = _cli(capsys, "rules", "check", *files)
    assert code == 0, err
    assert f"rules in {len(files)} files: every one can be used." in out
    code, out, _ = _cli(capsys, "rules", "check", "--json", *files)
    listed = json.loads(out)
    assert code == 0 and {r["id"] for r in listed} >= {"failed-payments-burst"}


def test_a_bad_rule_file_is_one_sentence_and_exit_2(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rules]]\nid = "a"\ndescription = "d"\ncondition = "amount > 3.0"\n')
    code, out, err = _cli(capsys, "rules", "check", str(bad))
    assert code == 2 and out == ""
    assert err.startswith(f"fraudlab: {bad}: rule 1 (a): field 'condition' uses 'amount'")
    assert err.count("\n") == 1 and "Traceback" not in err
    code, _, err = _cli(capsys, "rules", "check", str(tmp_path / "missing.toml"))
    assert code == 2 and err == f"fraudlab: {tmp_path / 'missing.toml'}: no such rule file.\n"
    twice = tmp_path / "twice.toml"
    twice.write_text((RULES_DIR / "high-value.toml").read_text())
    code, _, err = _cli(capsys, "rules", "check", str(RULES_DIR / "high-value.toml"), str(twice))
    assert code == 2 and "field 'id' is also a rule of" in err


@pytest.mark.kafka
def test_the_default_rule_book_is_edited_by_the_same_commands(
    capsys: pytest.CaptureFixture[str], settings: Any, tmp_path: Path
) -> None:
    """`rules add|disable|list default` edit the book new runs start with: the latest change of
    each rule, in log order, says whether it is in; no run may take the name."""
    from fraudlab.kafka_io import delete_topics
    from fraudlab.settings import settings_toml
    from rulebook.topics import DEFAULT_BOOK, rules_topic

    file = tmp_path / "fraudlab.toml"
    file.write_text(settings_toml(settings))
    book = ("--settings", str(file), "rules")
    high_value = str(RULES_DIR / "high-value.toml")
    ids = sorted(r.id for r in read_rule_file(RULES_DIR / "high-value.toml"))
    try:
        code, out, err = _cli(capsys, *book, "add", DEFAULT_BOOK, high_value)
        assert code == 0, err
        assert f"rule {ids[0]} added to the default rule book: new runs start with it" in out
        code, out, _ = _cli(capsys, *book, "list", DEFAULT_BOOK, "--json")
        assert sorted(r["id"] for r in json.loads(out)["in_force"]) == ids
        code, out, _ = _cli(capsys, *book, "disable", DEFAULT_BOOK, ids[0])
        assert code == 0 and out == f"rule {ids[0]} taken out of the default rule book\n"
        assert [r.id for r in _default_book(settings.bootstrap_servers)] == ids[1:]
        code, _, err = _cli(capsys, *book, "disable", DEFAULT_BOOK, "nothing-such")
        assert code == 2 and "the default rule book has no rule 'nothing-such'" in err
        code, _, err = _cli(capsys, *book, "disable", DEFAULT_BOOK, ids[0])  # out already
        assert code == 2 and f"has no rule {ids[0]!r}" in err
        code, out, _ = _cli(capsys, *book, "list", DEFAULT_BOOK)
        assert ids[0] not in out and all(i in out for i in ids[1:])
        # added again after it was taken out: in again, whatever its effective time
        _cli(capsys, *book, "add", DEFAULT_BOOK, high_value)
        assert [r.id for r in _default_book(settings.bootstrap_servers)] == ids
        code, _, err = _cli(
            capsys, "--settings", str(file), "run", "baseline", "--run-id", "default"
        )
        assert code == 2 and "the name is the default rule book's" in err
    finally:
        asyncio.run(delete_topics(settings.bootstrap_servers, [rules_topic(DEFAULT_BOOK)]))


@pytest.mark.kafka
def test_a_run_the_broker_does_not_hold_takes_no_rule(
    capsys: pytest.CaptureFixture[str], settings: Any, tmp_path: Path
) -> None:
    """A misspelt run id took rules no engine would ever read, and said it had added them."""
    from fraudlab.kafka_io import list_topics
    from fraudlab.settings import settings_toml

    file = tmp_path / "fraudlab.toml"
    file.write_text(settings_toml(settings))
    rules = ("--settings", str(file), "rules")
    before = set(asyncio.run(list_topics(settings.bootstrap_servers)))
    for args in (
        ("add", "no-such-run", str(RULES_DIR / "high-value.toml")),
        ("disable", "no-such-run", "scripted-checkout"),
        ("list", "no-such-run"),
    ):
        code, out, err = _cli(capsys, *rules, *args)
        assert (code, out) == (2, ""), err
        assert err == (
            f"fraudlab: the broker at {settings.bootstrap_servers} holds no run no-such-run: "
            "check the run id (`fraudlab runs` lists the runs).\n"
        )
    assert not {
        t
        for t in set(asyncio.run(list_topics(settings.bootstrap_servers))) - before
        if "no-such-run" in t
    }
