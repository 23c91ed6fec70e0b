"""Comparing runs: the pure comparison, archives with verdicts worked out on paper, the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from verdict_runs import write_verdict_run

from archive.files import reading
from archive.writer import ArchiveWriter
from lab.cli import app
from replay.compare import (
    RunFigures,
    alert_overlap,
    aligned_timelines,
    compare_runs,
    pattern_deltas,
    run_figures,
)


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("compare")
    write_verdict_run(folder, "run-a", "model-a")
    write_verdict_run(folder, "run-b", "model-b")
    return folder


def _figures(folder: Path, run_id: str) -> RunFigures:
    with reading(folder, run_id) as con:
        return run_figures(con)


def _fraudlab(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "lab.cli", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _one_sentence(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode != 0, result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("fraudlab: "), result.stderr
    return lines[0]


# ---- the pure comparison ------------------------------------------------------------------


def test_overlap_of_disjoint_equal_and_empty_sets() -> None:
    assert alert_overlap({"t1"}, {"t2"}).jaccard == 0.0
    assert alert_overlap({"t1", "t2"}, {"t2", "t1"}).jaccard == 1.0
    assert alert_overlap(set(), set()) == alert_overlap(frozenset(), frozenset())
    assert (alert_overlap({"t1"}, set()).only_a, alert_overlap(set(), {"t1"}).only_b) == (1, 1)


def test_pattern_deltas_keep_patterns_with_a_recall_in_either_run() -> None:
    rows = pattern_deltas({"a": 0.25, "b": None, "": None}, {"a": 0.75, "b": 0.5, "c": None})
    assert [(r.pattern, r.recall_a, r.recall_b, r.delta) for r in rows] == [
        ("a", 0.25, 0.75, 0.5),
        ("b", None, 0.5, None),
    ]


def test_timelines_line_up_and_fill_the_gaps() -> None:
    seconds, flagged = aligned_timelines([{-10: 1, 20: 2}, {0: 3}])
    assert seconds == [-10, 0, 10, 20]
    assert flagged == [[1, 0, 0, 2], [0, 3, 0, 0]]


# ---- archives ------------------------------------------------------------------------------


def test_a_run_figures_as_worked_out_on_paper(runs_dir: Path) -> None:
    a, b = _figures(runs_dir, "run-a"), _figures(runs_dir, "run-b")
    assert (a.events, a.transactions, a.alerts, a.flagged) == (6, 6, 3, 3)
    assert (b.alerts, b.flagged) == (4, 4)
    assert (a.precision, a.recall) == (pytest.approx(2 / 3), 0.5)
    assert (b.precision, b.recall) == (0.75, 0.75)
    assert (a.first_event_ts, b.first_event_ts) == (100, 1100)
    ato_b = next(p for p in b.per_pattern if p.pattern == "account_takeover")
    assert (ato_b.recall, ato_b.seconds_to_flag) == (0.5, 20)


def test_two_runs_compared_as_worked_out_on_paper(runs_dir: Path) -> None:
    comparison = compare_runs([_figures(runs_dir, "run-a"), _figures(runs_dir, "run-b")])
    (pair,) = comparison.pairs
    o = pair.overlap
    assert (pair.a, pair.b, o.both, o.only_a, o.only_b) == ("run-a", "run-b", 1, 2, 3)
    assert o.jaccard == pytest.approx(1 / 6)
    deltas = {d.pattern: (d.recall_a, d.recall_b, d.delta) for d in pair.patterns}
    assert deltas == {"account_takeover": (0.5, 0.5, 0.0), "card_testing": (0.5, 1.0, 0.5)}
    # run B started 1000 s later; on the aligned axis its buckets line up with run A's
    assert comparison.seconds == (0, 10, 20, 30, 40, 50)
    assert comparison.flagged == ((1, 1, 0, 1, 0, 0), (2, 0, 1, 0, 0, 1))


def test_per_rule_hits_and_precision_as_worked_out_on_paper(runs_dir: Path) -> None:
    a, b = _figures(runs_dir, "run-a"), _figures(runs_dir, "run-b")
    figures = {
        run.run_id: {r.source: (r.hits, r.flagged, r.frauds, r.only, r.precision) for r in rules}
        for run, rules in ((a, a.per_rule), (b, b.per_rule))
    }
    assert figures["run-a"] == {"model": (3, 3, 2, 3, pytest.approx(2 / 3))}
    assert figures["run-b"] == {
        "model": (1, 1, 1, 1, 1.0),
        "ato": (2, 1, 1, 1, 0.5),
        "burst": (2, 2, 1, 2, 0.5),
    }
    (pair,) = compare_runs([a, b]).pairs
    assert [(r.source, r.hits_a, r.hits_b, r.precision_b) for r in pair.rules] == [
        ("model", 3, 1, 1.0),
        ("ato", 0, 2, 0.5),
        ("burst", 0, 2, 0.5),
    ]


def test_a_run_compared_with_itself_agrees_with_itself(runs_dir: Path) -> None:
    a = _figures(runs_dir, "run-a")
    (pair,) = compare_runs([a, a]).pairs
    assert (pair.overlap.both, pair.overlap.only_a, pair.overlap.only_b) == (3, 0, 0)
    assert pair.overlap.jaccard == 1.0
    assert pair.patterns and all(d.delta == 0.0 for d in pair.patterns)


def test_three_runs_give_every_pair(runs_dir: Path) -> None:
    figures = [_figures(runs_dir, r) for r in ("run-a", "run-b", "run-a")]
    pairs = compare_runs(figures).pairs
    assert [(p.a, p.b) for p in pairs] == [
        ("run-a", "run-b"),
        ("run-a", "run-a"),
        ("run-b", "run-a"),
    ]


# ---- the command ---------------------------------------------------------------------------


def test_compare_json_is_one_object_with_stable_keys(runs_dir: Path) -> None:
    result = CliRunner().invoke(
        app, ["compare", "run-a", "run-b", "--json", "--archive-dir", str(runs_dir)]
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert list(data) == ["bucket_s", "runs", "pairs", "timeline"]
    assert [r["run_id"] for r in data["runs"]] == ["run-a", "run-b"]
    assert {"events", "transactions", "alerts", "precision", "recall", "per_pattern"} <= set(
        data["runs"][0]
    )
    (pair,) = data["pairs"]
    assert (pair["both"], pair["only_a"], pair["only_b"]) == (1, 2, 3)
    assert pair["patterns"][1] == {
        "pattern": "card_testing",
        "recall_a": 0.5,
        "recall_b": 1.0,
        "delta": 0.5,
    }
    assert data["timeline"]["flagged"][1] == [2, 0, 1, 0, 0, 1]


def test_compare_prints_runs_and_the_pattern_table(runs_dir: Path) -> None:
    result = CliRunner().invoke(app, ["compare", "run-a", "run-b", "--archive-dir", str(runs_dir)])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "PRECISION" in out and "RECALL A" in out and "DELTA" in out
    assert "Jaccard 0.167" in out and "only A 2, only B 3" in out
    card = next(line for line in out.splitlines() if "card_testing" in line)
    assert card.split()[1:4] == ["0.500", "1.000", "+0.500"]


def test_compare_draws_a_png(runs_dir: Path, tmp_path: Path) -> None:
    png = tmp_path / "compare.png"
    result = CliRunner().invoke(
        app,
        ["compare", "run-a", "run-b", "--plot", str(png), "--archive-dir", str(runs_dir)],
    )
    assert result.exit_code == 0, result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert f"plot written to {png}" in result.output


def test_fewer_than_two_runs_is_one_sentence(runs_dir: Path) -> None:
    result = _fraudlab("compare", "run-a", "--archive-dir", str(runs_dir))
    assert result.returncode == 2
    assert "compare needs at least two run ids" in _one_sentence(result)


def test_an_unknown_run_is_one_sentence(runs_dir: Path) -> None:
    result = _fraudlab("compare", "run-a", "nope", "--archive-dir", str(runs_dir))
    assert result.returncode == 2
    assert "no archived run 'nope'" in _one_sentence(result)


def test_a_live_run_is_one_sentence(tmp_path: Path) -> None:
    write_verdict_run(tmp_path, "run-a", "model-a")
    writer = ArchiveWriter.open(tmp_path, "still-live")
    try:
        result = _fraudlab("compare", "run-a", "still-live", "--archive-dir", str(tmp_path))
    finally:
        writer.close()
    assert result.returncode == 1
    assert "run still-live is still being archived" in _one_sentence(result)


def test_a_plot_into_a_missing_folder_is_one_sentence(runs_dir: Path, tmp_path: Path) -> None:
    png = tmp_path / "missing" / "compare.png"
    result = _fraudlab(
        "compare", "run-a", "run-b", "--plot", str(png), "--archive-dir", str(runs_dir)
    )
    assert result.returncode == 2
    assert "does not exist" in _one_sentence(result)
