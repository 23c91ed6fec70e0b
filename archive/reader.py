"""Reading archived runs: the list of runs, one run's summary, and checking its digest.

Every figure is counted by DuckDB in the run's file, opened read-only. A run whose file is held
by its archiver is listed as ``running``; a file whose archiver died before closing it (its row
still says ``running`` but nobody holds it) as ``crashed``: running ``fraudlab archive RUN_ID``
again resumes it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import orjson

from archive.digest import content_digest
from archive.files import ArchiveCorrupt, RunIsLive, reading, run_ids
from archive.quality import detection_quality
from archive.tables import RUN_COLUMNS, UNDECODABLE, record_tables
from fraudlab.errors import FraudlabError
from fraudlab.records import DeadLetter, Quarantined, RuleChangeRecord
from fraudlab.schemas import table_name

QUARANTINED_SHOWN = 5  # quarantined rows a run's summary names, the first by file and line

__all__ = [
    "RunListing",
    "RunSummary",
    "list_runs",
    "rule_changes",
    "run_summary",
    "verify_digest",
]


@dataclass(frozen=True)
class RunListing:
    """One line of ``fraudlab runs``."""

    run_id: str
    scenario: str | None = None
    seed: int | None = None
    model: str | None = None
    status: str = "unknown"
    events: int | None = None
    alerts: int | None = None
    precision: float | None = None
    recall: float | None = None


@dataclass(frozen=True)
class RunSummary:
    """What an archived run was and holds: metadata, status, counts, precision and recall."""

    run_id: str
    scenario: str | None
    scenario_text: str | None
    seed: int | None
    model_name: str | None
    model_digest: str | None
    engine_settings: Any
    code_version: str | None
    replay_of: str | None
    started_at: int | None
    ended_at: int | None
    status: str
    final: bool
    digest: str | None
    events: int
    transactions: int
    alerts: int
    fraud_alert_windows: int
    precision: float | None
    recall: float | None
    rows: dict[str, int] = field(default_factory=dict)
    messages: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    undecodable: dict[str, int] = field(default_factory=dict)
    parts: dict[str, Any] = field(default_factory=dict)
    # input rows a producer could not read, per input file (see the quarantine table)
    quarantined: dict[str, int] = field(default_factory=dict)
    # the first of them (by file and line), each as "file:line: field: reason"
    quarantined_first: list[str] = field(default_factory=list)
    # the engine's dead letters by kind: late, duplicate, conflict (a transaction claiming
    # another customer's transaction id or session), unreadable, rule change
    dead_letters: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The summary as plain JSON-ready values."""
        return dict(self.__dict__)


def effective_status(stored: str) -> str:
    """The status to show for a file that could be opened read-only (so nobody writes it)."""
    return "crashed" if stored == "running" else stored


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    ((value,),) = con.execute(sql).fetchall()
    return int(value) if value is not None else 0


def rule_changes(con: duckdb.DuckDBPyConnection) -> list[RuleChangeRecord]:
    """The run's rule changes in the order its rules topic held them ([] for a run archived
    before runs had rules)."""
    table = table_name(RuleChangeRecord)
    known = {row[0] for row in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if table not in known:
        return []
    rows = con.execute(
        f"SELECT kind, rule_id, effective, rule, ts FROM {table} "
        "ORDER BY kafka_partition, kafka_offset"
    ).fetchall()
    return [RuleChangeRecord(*row) for row in rows]


def run_summary(con: duckdb.DuckDBPyConnection) -> RunSummary:
    """The summary of the run whose file ``con`` has open."""
    names = [name for name, _ in RUN_COLUMNS]
    found = con.execute(f"SELECT {', '.join(names)} FROM run").fetchall()
    if not found:
        raise ArchiveCorrupt("the archive has an empty run table: it was never written to.")
    run = dict(zip(names, found[0], strict=True))
    # an archive written before a stream existed lacks its table: it holds none of its rows
    present = {name for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    rows = {
        s.name: _count(con, f"SELECT count(*) FROM {s.name}") if s.name in present else 0
        for s in record_tables()
    }
    per_stream = con.execute(
        "SELECT stream, messages, duplicates, undecodable FROM stream_counts ORDER BY stream"
    ).fetchall()
    quality = detection_quality(con)
    quarantined = (
        con.execute(
            f"SELECT file, count(*) FROM {table_name(Quarantined)} GROUP BY file ORDER BY file"
        ).fetchall()
        if table_name(Quarantined) in present
        else []
    )
    first = (
        con.execute(
            f"SELECT file, line, field, reason FROM {table_name(Quarantined)} "
            f"ORDER BY file, line LIMIT {QUARANTINED_SHOWN}"
        ).fetchall()
        if table_name(Quarantined) in present
        else []
    )
    letters = table_name(DeadLetter)
    dead_letters = (
        con.execute(
            f"""SELECT CASE
                  WHEN source_topic LIKE '%.rules' THEN 'rule change'
                  WHEN split_part(reason, ':', 1) IN ('late', 'duplicate', 'conflict')
                    THEN split_part(reason, ':', 1)
                  ELSE 'unreadable' END AS kind, count(*)
                FROM {letters} GROUP BY kind ORDER BY kind"""
        ).fetchall()
        if letters in present
        else []
    )
    return RunSummary(
        run_id=run["run_id"],
        scenario=run["scenario"],
        scenario_text=run["scenario_text"],
        seed=run["seed"],
        model_name=run["model_name"],
        model_digest=run["model_digest"],
        engine_settings=orjson.loads(run["engine_settings"]) if run["engine_settings"] else None,
        code_version=run["code_version"],
        replay_of=run["replay_of"],
        started_at=run["started_at"],
        ended_at=run["ended_at"],
        status=effective_status(run["status"]),
        final=bool(run["final"]),
        digest=run["digest"],
        events=rows["browsing"] + rows["transactions"],
        transactions=rows["transactions"],
        alerts=_count(con, "SELECT count(*) FROM scores WHERE prediction = 1"),
        fraud_alert_windows=rows["fraud_alerts"],
        precision=quality.precision,
        recall=quality.recall,
        rows={**rows, UNDECODABLE: _count(con, f"SELECT count(*) FROM {UNDECODABLE}")},
        messages={s: m for s, m, _, _ in per_stream},
        duplicates={s: d for s, _, d, _ in per_stream if d},
        undecodable={s: u for s, _, _, u in per_stream if u},
        parts=orjson.loads(run["parts"]) if run["parts"] else {},
        quarantined={file: n for file, n in quarantined},
        dead_letters={kind: n for kind, n in dead_letters},
        quarantined_first=[
            f"{file}:{line}: {name}: {reason}" if name else f"{file}:{line}: {reason}"
            for file, line, name, reason in first
        ],
    )


def _listing(archive_dir: Path, run_id: str) -> RunListing:
    try:
        with reading(archive_dir, run_id) as con:
            s = run_summary(con)
    except RunIsLive:
        return RunListing(run_id, status="running")
    except ArchiveCorrupt:
        return RunListing(run_id, status="corrupt")
    except (FraudlabError, duckdb.Error):
        return RunListing(run_id, status="unreadable")
    return RunListing(
        run_id,
        s.scenario,
        s.seed,
        s.model_name,
        s.status,
        s.events,
        s.alerts,
        s.precision,
        s.recall,
    )


def list_runs(archive_dir: Path) -> list[RunListing]:
    """Every run with a file in ``archive_dir``, by run id; unreadable files say why as status."""
    return [_listing(archive_dir, run_id) for run_id in run_ids(archive_dir)]


def verify_digest(con: duckdb.DuckDBPyConnection) -> bool | None:
    """Whether the contents still match the stored digest (None when no digest was written)."""
    rows = con.execute("SELECT digest FROM run").fetchall()
    if not rows or rows[0][0] is None:
        return None
    return bool(content_digest(con) == rows[0][0])
