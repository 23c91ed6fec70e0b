"""``fraudlab rules check``: the example files pass, a bad file is one sentence and exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lab.cli import main

RULES_DIR = Path(__file__).resolve().parents[2] / "rules"


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
