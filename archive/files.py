"""Run files: where a run's archive lives, and opening it with one-sentence errors.

One DuckDB file per run, ``<archive_dir>/<run_id>.duckdb``. While a run is archived its archiver
holds the file (DuckDB allows one writing process); everyone else opens finished files
read-only, any number at a time, for the queries at hand only (the views too), so that an
archiver resuming a run finds its file free, or free within :data:`LOCK_WAIT_S`. DuckDB's lock,
I/O and format errors become one sentence that says what happened to which run and what to do;
a lock held by another process names that process (pid and command). A file written by an
older fraudlab (truth's is_fraud as label text, a field the records gained since) is read
through views that make it look new (:func:`read_as_current`).

>>> archive_path(Path("/data"), "r1")
PosixPath('/data/r1.duckdb')
"""

from __future__ import annotations

import contextlib
import re
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb

from archive.tables import record_tables, table_ddl
from fraudlab.errors import FraudlabError, UsageError
from fraudlab.field_values import fraud_label
from fraudlab.runs import RUN_ID_PATTERN, validate_run_id
from fraudlab.schemas import duckdb_column_types, flag_fields

__all__ = [
    "ArchiveCorrupt",
    "RunIsLive",
    "archive_error",
    "archive_path",
    "connect_for_writing",
    "lock_holder",
    "open_read_only",
    "read_as_current",
    "reading",
    "run_ids",
]

SUFFIX = ".duckdb"
_LOCK_PID = re.compile(r"\(PID (\d+)\)")
# how long opening a run's file for writing waits for readers to let go of it: readers hold it
# for the milliseconds of their queries
LOCK_WAIT_S = 5.0


class RunIsLive(FraudlabError):
    """The run's archiver holds its file: the run is still being archived."""


class ArchiveCorrupt(FraudlabError):
    """The run's file is not a readable fraudlab archive."""


def archive_path(archive_dir: Path, run_id: str) -> Path:
    """The archive file of a run."""
    return archive_dir / f"{validate_run_id(run_id)}{SUFFIX}"


def run_ids(archive_dir: Path) -> list[str]:
    """The ids of the runs that have a file in ``archive_dir``, sorted."""
    if not archive_dir.is_dir():
        return []
    return sorted(
        p.name.removesuffix(SUFFIX)
        for p in archive_dir.glob(f"*{SUFFIX}")
        if RUN_ID_PATTERN.fullmatch(p.name.removesuffix(SUFFIX))
    )


def _is_lock_conflict(exc: Exception) -> bool:
    lowered = str(exc).lower()
    return "conflicting lock" in lowered or "different configuration" in lowered


def lock_holder(pid: int) -> str:
    """``pid N: its command line`` (shortened), or ``pid N`` when it cannot be read."""
    import psutil

    try:
        command = " ".join(" ".join(arg.split()) for arg in psutil.Process(pid).cmdline())
    except psutil.Error:
        return f"pid {pid}"
    # a run's parts are `python -m lab ...`: shown as the command a user would type
    command = re.sub(r"^\S*python[\d.]*\s+-m\s+(lab|fraudlab)\b", "fraudlab", command)
    command = re.sub(r"^\S*python[\d.]*\s+-m\s+", "", command)
    command = re.sub(r"^\S*/fraudlab\b", "fraudlab", command)
    return f"pid {pid}: {command[:120]}" if command else f"pid {pid}"


def connect_for_writing(path: Path) -> duckdb.DuckDBPyConnection:
    """Open ``path`` read-write, waiting up to :data:`LOCK_WAIT_S` for readers to let go."""
    deadline = time.monotonic() + LOCK_WAIT_S
    while True:
        try:
            return duckdb.connect(str(path))
        except duckdb.Error as exc:
            if not _is_lock_conflict(exc) or time.monotonic() >= deadline:
                raise
        time.sleep(0.1)


def archive_error(exc: Exception, run_id: str, path: Path, *, writing: bool) -> FraudlabError:
    """One sentence for a DuckDB or OS error met opening or writing a run's file."""
    text = str(exc)
    lowered = text.lower()
    if _is_lock_conflict(exc):
        pid = _LOCK_PID.search(text)
        who = f" ({lock_holder(int(pid.group(1)))})" if pid else ""
        if writing:
            return RunIsLive(
                f"run {run_id}'s archive is held by another process{who}: stop it, or wait for "
                "it to end, and archive again."
            )
        return RunIsLive(
            f"run {run_id} is still being archived{who}: its archive opens once the run has "
            "ended; follow it live from Kafka meanwhile."
        )
    if "not a valid duckdb database" in lowered or "corrupt" in lowered or "checksum" in lowered:
        return ArchiveCorrupt(
            f"the archive of run {run_id} ({path}) is corrupt: it is not a valid DuckDB file; "
            "delete it and archive the run again from Kafka."
        )
    for needle, why in (
        ("no space left", "the disk is full"),
        ("read-only file system", "the folder is on a read-only file system"),
        ("permission denied", "permission denied (the folder is read-only)"),
    ):
        if needle in lowered:
            action = "write" if writing else "read"
            return FraudlabError(f"cannot {action} the archive of run {run_id} at {path}: {why}.")
    action = "writing" if writing else "reading"
    first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
    return FraudlabError(f"{action} the archive of run {run_id} at {path} failed: {first}")


def open_read_only(archive_dir: Path, run_id: str) -> duckdb.DuckDBPyConnection:
    """Open a run's file read-only; unknown, live and corrupt runs are one-sentence errors."""
    path = archive_path(archive_dir, run_id)
    if not path.exists():
        raise UsageError(
            f"no archived run {run_id!r} in {archive_dir}: `fraudlab runs` lists the archived runs."
        )
    try:
        con = duckdb.connect(str(path), read_only=True)
    except (duckdb.Error, OSError) as exc:
        raise archive_error(exc, run_id, path, writing=False) from None
    try:
        # fetchall: a half-read result would block relation calls on this connection
        (found,) = con.execute(
            "SELECT count(*) FROM information_schema.tables WHERE table_name = 'run'"
        ).fetchall()
    except duckdb.Error as exc:
        con.close()
        raise archive_error(exc, run_id, path, writing=False) from None
    if not found or not found[0]:
        con.close()
        raise ArchiveCorrupt(
            f"{path} is a DuckDB file but not a fraudlab archive (it has no run table)."
        )
    try:
        read_as_current(con)
    except duckdb.Error as exc:
        con.close()
        raise archive_error(exc, run_id, path, writing=False) from None
    return con


def read_as_current(con: duckdb.DuckDBPyConnection, *, row_ids: bool = False) -> None:
    """Let ``con`` read a file written by an older fraudlab as it reads a new one, through a
    temporary view of the same name over each record table that needs one:

    - a bool field stored as its label text (truth's is_fraud before it was a BOOLEAN column)
      is read by the codec's rule;
    - a field the record gained since (a score's ``explanation``) reads as NULL, as a new
      file holds it for a record without one;
    - a record table the file lacks (``inventory`` before the simulated shop kept stock) reads
      as an empty table.

    Nothing is written: the file keeps what it holds, and its digest still covers that. A
    temporary view belongs to its connection: a cursor (a connection of its own) needs this
    call too. A view has no ``rowid``; ``row_ids`` gives it the stored table's as a column of
    that name, for a reader that orders rows by it (and then sees it in ``*``)."""
    ((catalog,),) = con.execute("SELECT current_database()").fetchall()
    for spec in record_tables():
        types = dict(
            con.execute(
                "SELECT column_name, data_type FROM duckdb_columns() WHERE database_name = $db "
                "AND schema_name = 'main' AND table_name = $table",
                {"db": catalog, "table": spec.name},
            ).fetchall()
        )
        if not types:
            # the table as a new file has it, empty, in the connection's temporary catalog
            empty = table_ddl(spec.record).replace(
                "CREATE TABLE IF NOT EXISTS", "CREATE OR REPLACE TEMP TABLE"
            )
            con.execute(empty)
            continue
        stored = f'"{catalog}".main.{spec.name}'
        as_text = [name for name in flag_fields(spec.record) if types.get(name) == "VARCHAR"]
        wanted = duckdb_column_types(spec.record)
        missing = [name for name in wanted if name not in types]
        if not as_text and not missing:
            continue
        replaced = ", ".join(f"{_label_cases(con, stored, name)} AS {name}" for name in as_text)
        select = f"* REPLACE ({replaced})" if as_text else "*"
        added = "".join(f", NULL::{wanted[name]} AS {name}" for name in missing)
        row_id = ", rowid" if row_ids else ""
        con.execute(
            f"CREATE OR REPLACE TEMP VIEW {spec.name} AS "
            f"SELECT {select}{added}{row_id} FROM {stored}"
        )


def _label_cases(con: duckdb.DuckDBPyConnection, table: str, column: str) -> str:
    """A SQL CASE that reads each distinct text of ``column`` by the codec's rule (NULL where a
    text is no label)."""
    texts = [t for (t,) in con.execute(f"SELECT DISTINCT {column} FROM {table}").fetchall()]
    cases = []
    for text in texts:
        flag = fraud_label(text) if text is not None else None
        if flag is not None:
            quoted = "'" + text.replace("'", "''") + "'"
            cases.append(f"WHEN {quoted} THEN {str(flag).upper()}")
    if not cases:
        return "NULL::BOOLEAN"
    return f"CASE {column} {' '.join(cases)} ELSE NULL END"


@contextlib.contextmanager
def reading(archive_dir: Path, run_id: str) -> Iterator[duckdb.DuckDBPyConnection]:
    """``with reading(dir, run_id) as con:`` a read-only connection, closed afterwards."""
    con = open_read_only(archive_dir, run_id)
    try:
        yield con
    finally:
        con.close()
