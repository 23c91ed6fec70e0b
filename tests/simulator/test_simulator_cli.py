"""`fraudlab scenarios`, `fraudlab simulate`: what they print and where."""

from __future__ import annotations

import re
from pathlib import Path

import orjson
from click.testing import CliRunner
from simulated_runs import NAMED_SCENARIOS

from lab.cli import app


def _invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_scenarios_lists_the_nine_name_first() -> None:
    code, out, _ = _invoke("scenarios")
    assert code == 0
    lines = out.strip().splitlines()
    assert sorted(line.split()[0] for line in lines) == sorted(NAMED_SCENARIOS)
    assert all(len(line.split(maxsplit=1)[1]) > 20 for line in lines)


def test_scenarios_name_prints_the_resolved_scenario() -> None:
    code, out, _ = _invoke("scenarios", "bot-swarm")
    assert code == 0
    assert out.startswith('name = "bot-swarm"\n')
    assert "[patterns.bot_checkout.intensity]" in out and "[faults]" in out


def test_simulate_digest_is_the_last_line_of_stdout() -> None:
    code, out, err = _invoke("simulate", "baseline", "--seed", "7", "--minutes", "1", "--digest")
    assert code == 0
    assert re.fullmatch(r"[0-9a-f]{64}", out.strip().splitlines()[-1])
    assert "transactions" in err
    _, again, _ = _invoke("simulate", "baseline", "--seed", "7", "--minutes", "1", "--digest")
    _, other, _ = _invoke("simulate", "baseline", "--seed", "8", "--minutes", "1", "--digest")
    assert again == out != other


def test_simulate_out_writes_json_lines(tmp_path: Path) -> None:
    out_file = tmp_path / "run.jsonl"
    code, out, _ = _invoke(
        "simulate",
        "late-and-dirty",
        "--minutes",
        "1",
        "--out",
        str(out_file),
        "--start",
        "2026-02-01T12:00:00Z",
    )
    assert code == 0 and out == ""
    lines = [orjson.loads(line) for line in out_file.read_bytes().splitlines()]
    streams = {line["stream"] for line in lines}
    assert {"customer", "product", "browsing", "transactions", "truth", "faults"} <= streams
    first_event = next(line for line in lines if line["stream"] == "browsing")
    assert orjson.loads(first_event["value"])["event_time"].startswith("2026-02-01T12:0")
    assert any("value_base64" in line for line in lines)  # the invalid UTF-8 faults


def test_simulate_needs_digest_or_out() -> None:
    result = CliRunner().invoke(app, ["simulate", "baseline"])
    assert result.exit_code != 0
    assert "--digest" in str(result.exception)


def test_a_bad_start_is_a_usage_error() -> None:
    result = CliRunner().invoke(app, ["simulate", "baseline", "--digest", "--start", "soon"])
    assert "--start" in str(result.exception)
