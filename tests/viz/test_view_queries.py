"""The views' own archive queries and the run catalogue, on runs whose figures are known.

The hand-made run (tests/archive/hand_made_run.py) has truth frauds t1 (100), t2 (105), t3 (130)
and t7 (150); flagged t1, t3, t4 and t9 (t9 without truth); 10 s reports ending at 110 (t1),
120 (t1, t4) and 140 (t1, t4, t3); top-products reports ending at 130 and 160.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from archive.files import reading
from archive.quality import detection_quality
from fraudlab.errors import UsageError
from viz.archive_queries import (
    RunSpan,
    alert_overlap,
    alert_timeline,
    alert_windows,
    alerts_of,
    quality_so_far,
    run_span,
    true_frauds_by_location,
)
from viz.run_catalog import checked_run_id, checked_run_ids, finished_runs, listed_runs

HAND = "hand-made"


def test_span_runs_from_the_first_event_to_the_last_report(view_archive: Path) -> None:
    with reading(view_archive, HAND) as con:
        assert run_span(con) == RunSpan(100, 160)
    with reading(view_archive, "empty") as con:
        assert run_span(con) is None


def test_alert_windows_sit_beside_the_truth_of_the_same_window(view_archive: Path) -> None:
    with reading(view_archive, HAND) as con:
        assert alert_windows(con) == {
            "window_end": [110, 120, 140],
            "alerts": [1, 2, 3],
            "frauds": [2, 2, 3],
        }
        assert alert_windows(con, since=110, until=120)["window_end"] == [120]


def test_true_frauds_by_location_on_a_half_degree_grid(view_archive: Path) -> None:
    with reading(view_archive, HAND) as con:
        everything = true_frauds_by_location(con)
        by_cell = dict(
            zip(
                zip(everything["lat"], everything["long"], strict=True),
                everything["frauds"],
                strict=True,
            )
        )
        assert by_cell == {(-6.0, 107.0): 2, (3.5, 98.5): 2}
        assert set(everything["pattern"]) == {"card_testing", "account_takeover"}
        so_far = true_frauds_by_location(con, until=140)
        assert sorted(so_far["frauds"]) == [1, 2]
        with pytest.raises(ValueError):
            true_frauds_by_location(con, grid_deg=0)


def test_quality_so_far_agrees_with_the_archive_s_own(view_archive: Path) -> None:
    with reading(view_archive, HAND) as con:
        q = quality_so_far(con)
        full = detection_quality(con)
        assert (q.flagged, q.frauds, q.true_positives) == (4, 4, 2)
        assert q.precision == pytest.approx(full.precision)
        assert q.recall == pytest.approx(full.recall)
        early = quality_so_far(con, until=120)
        assert (early.flagged, early.frauds, early.true_positives) == (2, 2, 1)
    with reading(view_archive, "run-a") as con:
        q, full = quality_so_far(con), detection_quality(con)
        assert (q.precision, q.recall) == pytest.approx((full.precision, full.recall))


def test_alert_timeline_counts_minutes_from_the_start(view_archive: Path) -> None:
    with reading(view_archive, HAND) as con:
        timeline = alert_timeline(con, start=80)
    assert timeline["minutes"] == pytest.approx([0.5, 40 / 60, 1.0])
    assert timeline["alerts"] == [1, 2, 3]


def _flagged(folder: Path, run_id: str) -> set[str]:
    with reading(folder, run_id) as con:
        rows = con.execute("SELECT transaction_id FROM scores WHERE prediction = 1").fetchall()
    return {r[0] for r in rows}


def test_alert_overlap_counts_each_combination_of_runs(view_archive: Path) -> None:
    a, b = _flagged(view_archive, "run-a"), _flagged(view_archive, "run-b")
    overlap = alert_overlap(view_archive, ["run-a", "run-b"])
    counted = dict(zip(overlap["combination"], overlap["transactions"], strict=True))
    expected = {"#1 + #2": len(a & b), "#1": len(a - b), "#2": len(b - a)}
    assert counted == {k: v for k, v in expected.items() if v}
    assert overlap["transactions"] == sorted(overlap["transactions"], reverse=True)
    assert alert_overlap(view_archive, []) == {"combination": [], "runs": [], "transactions": []}


def test_only_listed_runs_pass_the_check() -> None:
    known = ["run-a", "run-b"]
    assert checked_run_id(b"run-a", known) == "run-a"
    for bad in ("run-c", "../run-a", "run-a'; DROP TABLE run; --", "RUN-A", "", None):
        assert checked_run_id(bad, known) is None
    assert checked_run_id(b"\xff\xfe", known) is None
    assert checked_run_ids(["run-b", "x", "run-a", "run-b"], known) == ["run-b", "run-a"]


def test_finished_runs_leave_out_files_that_cannot_be_opened(fresh_run_folder: Path) -> None:
    (fresh_run_folder / "broken.duckdb").write_bytes(b"not a database at all" * 100)
    duckdb.connect(str(fresh_run_folder / "stranger.duckdb")).close()  # no run table
    ids = [c.run_id for c in finished_runs(fresh_run_folder)]
    assert ids == ["empty", "hand-made", "run-a", "run-b"]
    labels = {c.run_id: c.label for c in finished_runs(fresh_run_folder)}
    assert labels["run-a"] == "run-a (synthetic s7, gbt-1; complete)"
    statuses = {r.run_id: r.status for r in listed_runs(fresh_run_folder)}
    assert statuses["broken"] in ("corrupt", "unreadable")
    assert finished_runs(fresh_run_folder / "missing") == []


def test_a_run_outside_the_archive_is_a_usage_error(view_archive: Path) -> None:
    with pytest.raises(UsageError), reading(view_archive, "no-such-run"):
        pass


def test_a_selected_window_or_cell_lists_its_alerts_most_probable_first(view_archive: Path) -> None:
    with reading(view_archive, HAND) as con:
        window = alerts_of(con, window_end=140)
        assert [(r.transaction_id, r.probability, r.truth) for r in window] == [
            ("t1", 0.9, "fraud: card_testing"),
            ("t3", 0.7, "fraud: account_takeover"),
            ("t4", 0.6, "legitimate"),
        ]
        assert [r.transaction_id for r in alerts_of(con, window_end=110)] == ["t1"]
        assert [r.transaction_id for r in alerts_of(con, cell=(-6.0, 107.0))] == ["t1"]
        # t3 is first listed by the report ending at 140: not there yet at 120
        assert alerts_of(con, cell=(3.5, 98.5), until=120) == []
        assert [r.transaction_id for r in alerts_of(con, cell=(3.5, 98.5), until=140)] == ["t3"]
        assert alerts_of(con, window_end=111) == []
