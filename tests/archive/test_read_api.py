"""The read API's SQL on a hand-made run whose figures are worked out in hand_made_run.py."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from hand_made_run import RUN_ID, write_hand_made_run

import archive.files
from archive.aggregates import (
    fraud_alert_counts,
    frauds_by_location,
    potential_frauds,
    top_product_sales,
)
from archive.digest import content_digest
from archive.export import export_run, exported_tables
from archive.files import ArchiveCorrupt, RunIsLive, open_read_only, reading
from archive.quality import detection_quality
from archive.reader import list_runs, run_summary, verify_digest
from archive.writer import ArchiveWriter
from fraudlab.errors import UsageError


def as_written_before_flags_were_booleans(path: Path) -> None:
    """Turn an archive into one written before truth's is_fraud was a BOOLEAN column: the label
    text as it came ("1"/"0"; a "true" too, as another producer may write it), its digest
    that of what it then holds."""
    mode = path.stat().st_mode
    os.chmod(path, 0o644)
    with duckdb.connect(str(path)) as rw:
        rw.execute(
            "ALTER TABLE truth ALTER is_fraud TYPE VARCHAR USING "
            "(CASE WHEN transaction_id = 't3' THEN 'true' WHEN is_fraud THEN '1' ELSE '0' END)"
        )
        rw.execute("UPDATE run SET digest = ?", [content_digest(rw)])
    os.chmod(path, mode)


def as_written_before_explanations(path: Path) -> None:
    """Turn an archive into one written before scores and alerted transactions had an
    explanation: the columns gone, its digest that of what it then holds."""
    mode = path.stat().st_mode
    os.chmod(path, 0o644)
    with duckdb.connect(str(path)) as rw:
        rw.execute("ALTER TABLE scores DROP COLUMN explanation")
        rw.execute("UPDATE run SET digest = ?", [content_digest(rw)])
    os.chmod(path, mode)


def as_written_before_stock(path: Path) -> None:
    """Turn an archive into one written before the simulated shop kept stock and the engine
    forecast demand: no inventory or inventory_forecast table, its digest that of the rest."""
    mode = path.stat().st_mode
    os.chmod(path, 0o644)
    with duckdb.connect(str(path)) as rw:
        rw.execute("DROP TABLE inventory")
        rw.execute("DROP TABLE inventory_forecast")
        rw.execute("UPDATE run SET digest = ?", [content_digest(rw)])
    os.chmod(path, mode)


@pytest.fixture(scope="module", params=["now", "label text", "before explanations", "before stock"])
def archive_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hand-made run's archive, as written now, as written when truth's is_fraud was
    stored as its label text, and as written before scores had explanations: every reader
    gives the same answers from all three."""
    folder = tmp_path_factory.mktemp("read-api")
    path = write_hand_made_run(folder)
    if request.param == "label text":
        as_written_before_flags_were_booleans(path)
    if request.param == "before explanations":
        as_written_before_explanations(path)
    if request.param == "before stock":
        as_written_before_stock(path)
    return folder


@pytest.fixture
def con(archive_dir: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    with reading(archive_dir, RUN_ID) as connection:
        yield connection


def test_precision_and_recall_overall(con: duckdb.DuckDBPyConnection) -> None:
    q = detection_quality(con)
    assert (q.transactions, q.frauds, q.scored, q.flagged, q.true_positives) == (8, 4, 7, 3, 2)
    assert q.scores_without_truth == 1
    assert q.precision == pytest.approx(2 / 3)
    assert q.recall == pytest.approx(0.5)  # t7 was never scored: a miss


def test_quality_per_pattern_with_time_to_detect(con: duckdb.DuckDBPyConnection) -> None:
    rows = {p.pattern: p for p in detection_quality(con).per_pattern}
    assert list(rows) == ["", "account_takeover", "card_testing", "flash_sale"]
    legit, ato, card, flash = (
        rows[""],
        rows["account_takeover"],
        rows["card_testing"],
        rows["flash_sale"],
    )
    assert (legit.transactions, legit.frauds, legit.flagged, legit.precision, legit.recall) == (
        3,
        0,
        1,
        0.0,
        None,
    )
    assert (ato.frauds, ato.scored, ato.flagged, ato.precision, ato.recall) == (2, 1, 1, 1.0, 0.5)
    assert (ato.first_fraud_ts, ato.seconds_to_flag, ato.seconds_to_alert) == (130, 0, 10)
    assert (card.precision, card.recall, card.first_alert_ts, card.seconds_to_alert) == (
        1.0,
        0.5,
        110,
        10,
    )
    assert (flash.flagged, flash.precision, flash.recall, flash.seconds_to_alert) == (
        0,
        None,
        None,
        None,
    )


def test_quality_so_far_during_a_replay(con: duckdb.DuckDBPyConnection) -> None:
    q = detection_quality(con, until=120)
    assert (q.transactions, q.frauds, q.flagged, q.true_positives) == (4, 2, 2, 1)
    assert (q.precision, q.recall) == (0.5, 0.5)


def test_potential_frauds_per_10_s_beside_the_truth(con: duckdb.DuckDBPyConnection) -> None:
    assert potential_frauds(con) == {
        "bucket_start": [100, 110, 130, 150, 170],
        "flagged": [1, 1, 1, 0, 1],
        "frauds": [2, 0, 1, 1, 0],
    }
    assert potential_frauds(con, bucket_s=60, until=130) == {
        "bucket_start": [60, 120],
        "flagged": [2, 1],
        "frauds": [2, 1],
    }


def test_the_10_s_report_as_emitted(con: duckdb.DuckDBPyConnection) -> None:
    assert fraud_alert_counts(con, since=115) == {
        "window_start": [0, 20],
        "window_end": [120, 140],
        "count": [2, 3],
    }


def test_cumulative_sales_of_the_top_products(con: duckdb.DuckDBPyConnection) -> None:
    assert top_product_sales(con, top_n=2) == {
        "window_end": [130, 130, 160],
        "product_id": ["p1", "p2", "p1"],
        "product_name": ["Product p1", "Product p2", "Product p1"],
        "cumulative_sales": [500.0, 900.0, 900.0],
        "cumulative_quantity": [5, 3, 9],
    }
    assert top_product_sales(con, top_n=5, until=130)["product_id"] == ["p1", "p2"]


def test_frauds_by_location(con: duckdb.DuckDBPyConnection) -> None:
    cells = frauds_by_location(con, grid_deg=1.0)
    assert cells["lat"] == [-6.0, 4.0] and cells["long"] == [107.0, 99.0]
    assert cells["alerts"] == [2, 1] and cells["confirmed"] == [1, 1]
    assert cells["pattern"] == ["card_testing", "account_takeover"]
    assert cells["mean_probability"] == pytest.approx([0.75, 0.7])
    assert frauds_by_location(con, grid_deg=1.0, until=120)["alerts"] == [2]


def test_parameters_are_checked(con: duckdb.DuckDBPyConnection) -> None:
    with pytest.raises(ValueError, match="bucket_s must be positive"):
        potential_frauds(con, bucket_s=0)


def test_summary_of_a_finished_run(con: duckdb.DuckDBPyConnection) -> None:
    s = run_summary(con)
    assert (s.run_id, s.scenario, s.seed, s.model_name, s.status, s.final) == (
        RUN_ID,
        "hand",
        3,
        "m1",
        "complete",
        True,
    )
    assert (s.events, s.transactions, s.alerts, s.fraud_alert_windows) == (8, 8, 4, 3)
    assert (s.started_at, s.ended_at) == (1000, 1101)
    assert s.precision == pytest.approx(2 / 3) and s.recall == 0.5
    assert s.digest is not None and verify_digest(con) is True


def test_truth_reads_as_booleans_and_replays_as_it_was_sent(
    con: duckdb.DuckDBPyConnection,
) -> None:
    from hand_made_run import records

    from fraudlab import codec
    from fraudlab.records import Truth
    from replay.archived_messages import archived_messages

    assert con.execute("SELECT typeof(is_fraud) FROM truth LIMIT 1").fetchone() == ("BOOLEAN",)
    frauds = con.execute("SELECT transaction_id FROM truth WHERE is_fraud ORDER BY 1").fetchall()
    assert [t for (t,) in frauds] == ["t1", "t2", "t3", "t7"]
    sent = sorted(codec.encode(r) for r in records() if isinstance(r, Truth))
    replayed = sorted(m.value for m in archived_messages(con, RUN_ID) if m.stream == "truth")
    assert replayed == sent


def test_a_changed_file_no_longer_matches_its_digest(tmp_path: Path) -> None:
    path = write_hand_made_run(tmp_path)
    os.chmod(path, 0o644)
    with duckdb.connect(str(path)) as rw:
        rw.execute("DELETE FROM truth WHERE transaction_id = 't2'")
    with reading(tmp_path, RUN_ID) as con:
        assert verify_digest(con) is False


def test_list_runs_says_what_each_file_is(tmp_path: Path) -> None:
    write_hand_made_run(tmp_path)
    crashed = tmp_path / "crashed"
    write_hand_made_run(crashed, close=False)
    os.rename(crashed / f"{RUN_ID}.duckdb", tmp_path / "crashed-run.duckdb")
    (tmp_path / "garbage.duckdb").write_bytes(b"this is no database" * 100)
    duckdb.connect(str(tmp_path / "foreign.duckdb")).close()
    (tmp_path / "Not A Run.duckdb").write_bytes(b"")
    listing = {r.run_id: r for r in list_runs(tmp_path)}
    assert sorted(listing) == ["crashed-run", "foreign", "garbage", RUN_ID]
    assert listing[RUN_ID].status == "complete"
    assert (listing[RUN_ID].events, listing[RUN_ID].alerts) == (8, 4)
    assert listing["crashed-run"].status == "crashed"
    assert listing["garbage"].status == "corrupt"
    assert listing["foreign"].status == "corrupt"
    assert list_runs(tmp_path / "nowhere") == []


def test_unknown_and_corrupt_runs_are_one_sentence(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^no archived run 'nope' in .*`fraudlab runs` lists"):
        open_read_only(tmp_path, "nope")
    (tmp_path / "bad.duckdb").write_bytes(b"\x00" * 5000)
    with pytest.raises(ArchiveCorrupt, match=r"^the archive of run bad .* is corrupt"):
        open_read_only(tmp_path, "bad")


def test_a_finished_file_opens_in_several_readers_at_once(archive_dir: Path) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
            "print(c.execute('select count(*) from truth').fetchone()[0], flush=True); "
            "sys.stdin.read()",
            str(archive_dir / f"{RUN_ID}.duckdb"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "8"
        with reading(archive_dir, RUN_ID) as first, reading(archive_dir, RUN_ID) as second:
            assert first.execute("SELECT count(*) FROM truth").fetchone() == (8,)
            assert second.execute("SELECT count(*) FROM scores").fetchone() == (8,)
    finally:
        holder.communicate("", timeout=30)
    assert holder.returncode == 0


def test_export_writes_parquet_that_duckdb_reads(archive_dir: Path, tmp_path: Path) -> None:
    written = export_run(archive_dir, RUN_ID, tmp_path / "out")
    assert [p.name for p in written] == [f"{t}.parquet" for t in exported_tables()]
    alerts = tmp_path / "out" / "fraud_alerts.parquet"
    counted = duckdb.sql(f"SELECT count(*), sum(len(transactions)) FROM '{alerts}'")
    assert counted is not None
    assert counted.fetchall() == [(3, 6)]
    truth = tmp_path / "out" / "truth.parquet"
    frauds = duckdb.sql(
        f"SELECT typeof(is_fraud), count(*) FILTER (is_fraud) FROM '{truth}' GROUP BY 1"
    )
    assert frauds is not None and frauds.fetchall() == [("BOOLEAN", 4)]
    assert not list((tmp_path / "out").glob(".*partial"))


def test_a_file_held_by_its_archiver_is_listed_as_running_and_refused_to_readers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys; from pathlib import Path; from archive.writer import ArchiveWriter; "
            "w = ArchiveWriter.open(Path(sys.argv[1]), 'live-run'); print('open', flush=True); "
            "sys.stdin.read(); w.close()",
            str(tmp_path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "open"
        assert [(r.run_id, r.status) for r in list_runs(tmp_path)] == [("live-run", "running")]
        with pytest.raises(
            RunIsLive,
            # the holder named: its pid and command
            match=rf"^run live-run is still being archived \(pid "
            rf"{holder.pid}: \S*python\S* -c import sys; .*\): its archive opens once",
        ):
            open_read_only(tmp_path, "live-run")
        # a second writer waits a little for readers to let go, then names the holder
        monkeypatch.setattr(archive.files, "LOCK_WAIT_S", 0.5)
        with pytest.raises(
            RunIsLive,
            match=rf"^run live-run's archive is held by another process \(pid {holder.pid}: "
            r"\S*python\S* -c import sys; .*\): stop it",
        ):
            ArchiveWriter.open(tmp_path, "live-run")
    finally:
        holder.communicate("", timeout=30)
    assert [(r.run_id, r.status) for r in list_runs(tmp_path)] == [("live-run", "crashed")]


def test_an_explained_score_reads_in_words(
    archive_dir: Path, request: pytest.FixtureRequest
) -> None:
    from archive.explanations import explained_score

    with reading(archive_dir, RUN_ID) as con:
        score = explained_score(con, RUN_ID, "t9")
        plain = explained_score(con, RUN_ID, "t1")
        with pytest.raises(UsageError, match="run hand-made has no score for transaction 'nope'"):
            explained_score(con, RUN_ID, "nope")
    assert plain.explanation is None
    if request.node.callspec.params["archive_dir"] == "before explanations":
        assert score.explanation is None  # the column is not there: read as NULL
        return
    assert score.explanation is not None
    assert score.explanation.margin == pytest.approx(2.944)
    assert score.lines()[1:5] == [
        "why the model scored it so (contributions in log-odds):",
        "  amount 100: +3.50",
        "  ships 812 km from home: +1.30",
        "  the other features together: +0.14",
    ]
    assert score.lines()[-1].startswith("  sum +2.94 log-odds -> probability 0.950")


def test_explain_says_why_a_score_has_no_explanation(archive_dir: Path) -> None:
    env = {**os.environ, "FRAUDLAB_ARCHIVE_DIR": str(archive_dir)}
    result = subprocess.run(
        [sys.executable, "-m", "lab.cli", "explain", RUN_ID, "t1"],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip().startswith("fraudlab: transaction t1's score carries no")
    assert "Traceback" not in result.stderr
