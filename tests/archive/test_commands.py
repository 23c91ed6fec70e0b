"""The archive's commands without a broker: output, and one sentence for each user mistake."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_process import fraudlab, one_sentence
from hand_made_run import RUN_ID, write_hand_made_run

from fraudlab.net import free_port


@pytest.fixture(scope="module")
def archive_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("commands")
    write_hand_made_run(folder)
    (folder / "broken.duckdb").write_bytes(b"definitely not DuckDB" * 300)
    return folder


def test_runs_lists_one_line_per_run(archive_dir: Path) -> None:
    result = fraudlab("runs", "--archive-dir", str(archive_dir))
    assert result.returncode == 0, result.stderr
    header, *lines = result.stdout.splitlines()
    assert header.split() == [
        "RUN",
        "SCENARIO",
        "SEED",
        "MODEL",
        "STATUS",
        "EVENTS",
        "ALERTS",
        "PRECISION",
        "RECALL",
    ]
    assert [line.split() for line in lines] == [
        ["broken", "-", "-", "-", "corrupt", "-", "-", "-", "-"],
        [RUN_ID, "hand", "3", "m1", "complete", "8", "4", "0.667", "0.500"],
    ]


def test_report_shows_the_summary_and_a_row_per_pattern(archive_dir: Path) -> None:
    result = fraudlab("report", RUN_ID, "--archive-dir", str(archive_dir))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "status       complete (final)" in out
    assert "recall       0.500  (2 of 4 frauds flagged)" in out
    assert "quarantined  none (input rows that could not be read)" in out
    lines = out.splitlines()
    table = lines[next(i for i, line in enumerate(lines) if line.startswith("PATTERN")) :]
    rows = {line.split()[0]: line.split() for line in table}
    assert rows["account_takeover"] == [
        "account_takeover",
        "2",
        "2",
        "1",
        "1.000",
        "0.500",
        "0",
        "10",
    ]
    assert rows["(none)"][:4] == ["(none)", "3", "0", "1"]
    data = json.loads(
        fraudlab("report", RUN_ID, "--json", "--archive-dir", str(archive_dir)).stdout
    )
    assert data["precision"] == pytest.approx(2 / 3) and data["recall"] == 0.5
    assert [p["pattern"] for p in data["per_pattern"]] == [
        "",
        "account_takeover",
        "card_testing",
        "flash_sale",
    ]
    assert data["quality"]["scores_without_truth"] == 1
    assert data["challenger"] is None  # scored by one model alone


def test_report_sets_a_challenger_beside_the_champion(tmp_path: Path) -> None:
    write_hand_made_run(tmp_path, challenger=True)
    result = fraudlab("report", RUN_ID, "--archive-dir", str(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    title = next(i for i, line in enumerate(lines) if line.startswith("champion m1"))
    assert lines[title].startswith("champion m1 -> challenger m2 (d2)")
    header, *rows = lines[title + 1 :]
    assert header.split()[:2] == ["PATTERN", "FRAUDS"]
    cells = {row.split()[0]: row.split("  ") for row in rows}
    testing = [c.strip() for c in cells["card_testing"] if c.strip()]
    assert testing == [
        "card_testing",
        "2",
        "1.000 -> 1.000",
        "0.500 -> 1.000",
        "0.667 -> 1.000",
        "0 -> 0",
        "1 (1)",
        "0 (0)",
    ]
    assert [c.strip() for c in cells["ALL"] if c.strip()][-2:] == ["2 (1)", "2 (1)"]
    explained = fraudlab("explain", RUN_ID, "t9", "--archive-dir", str(tmp_path))
    assert explained.returncode == 0, explained.stderr
    assert "challenger m2: probability 0.900, would have flagged it as champion" in (
        explained.stdout
    )
    data = json.loads(fraudlab("report", RUN_ID, "--json", "--archive-dir", str(tmp_path)).stdout)
    assert data["challenger"]["challenger_name"] == "m2"
    overall = data["challenger"]["patterns"][-1]
    assert overall["pattern"] == "ALL" and overall["challenger"]["recall"] == 0.5


def test_no_runs_is_said_plainly(tmp_path: Path) -> None:
    result = fraudlab("runs", "--archive-dir", str(tmp_path))
    assert result.returncode == 0 and result.stdout.startswith("no archived runs in ")
    assert fraudlab("runs", "--json", "--archive-dir", str(tmp_path)).stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("args", "code", "needle"),
    [
        (("report", "no-such-run"), 2, "no archived run 'no-such-run' in "),
        (("export-run", "no-such-run", "out"), 2, "no archived run 'no-such-run' in "),
        (("report", "broken"), 1, "the archive of run broken "),
        (("archive", "broken"), 1, "the archive of run broken "),
        (("report", "Bad Id!"), 2, "is not a valid run id"),
        (("archive", "r1", "--follow", "--until-end"), 2, "exclude each other"),
    ],
)
def test_user_mistakes_are_one_sentence(
    archive_dir: Path, args: tuple[str, ...], code: int, needle: str
) -> None:
    result = fraudlab(*args, "--archive-dir", str(archive_dir))
    assert result.returncode == code
    assert needle in one_sentence(result)


def test_a_corrupt_file_says_so(archive_dir: Path) -> None:
    result = fraudlab("report", "broken", "--archive-dir", str(archive_dir))
    assert one_sentence(result).endswith(
        "is corrupt: it is not a valid DuckDB file; delete it and archive the run again from Kafka."
    )


def test_a_broker_that_is_down_is_one_sentence(tmp_path: Path) -> None:
    result = fraudlab(
        "archive",
        "r1",
        "--bootstrap-servers",
        f"127.0.0.1:{free_port()}",
        "--archive-dir",
        str(tmp_path),
    )
    assert result.returncode == 1
    assert "no Kafka broker answers at 127.0.0.1:" in one_sentence(result)


def test_export_writes_a_parquet_file_per_table(archive_dir: Path, tmp_path: Path) -> None:
    result = fraudlab(
        "export-run", RUN_ID, str(tmp_path / "out"), "--archive-dir", str(archive_dir)
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"exported run {RUN_ID}: 24 Parquet files in ")
    assert (tmp_path / "out" / "transactions.parquet").stat().st_size > 0


def test_export_into_a_read_only_folder_leaves_nothing(
    archive_dir: Path, read_only_folder: Path
) -> None:
    result = fraudlab(
        "export-run", RUN_ID, str(read_only_folder / "out"), "--archive-dir", str(archive_dir)
    )
    assert result.returncode == 1
    assert one_sentence(result).startswith(f"fraudlab: cannot export to {read_only_folder}/out: ")
    assert not (read_only_folder / "out").exists()
