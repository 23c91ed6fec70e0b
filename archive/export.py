"""Exporting an archived run as Parquet files, one per table, that any DuckDB or Spark reads.

Each file is written under a temporary name and renamed when complete; a failed export (a full
disk, a read-only folder) removes what it wrote, so it never leaves a set of files that looks
whole.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path

import duckdb

from archive.files import reading
from archive.tables import UNDECODABLE, record_tables
from fraudlab.errors import FraudlabError

__all__ = ["export_run", "exported_tables"]


def exported_tables() -> tuple[str, ...]:
    """The tables an export writes: every record table, undecodable values and the bookkeeping."""
    return (*(s.name for s in record_tables()), UNDECODABLE, "offsets", "stream_counts", "run")


def _cannot_write(out_dir: Path, exc: Exception) -> FraudlabError:
    text = str(exc).lower()
    if "no space left" in text:
        why = "the disk is full"
    elif "read-only file system" in text or "permission denied" in text:
        why = "the folder is read-only"
    else:
        why = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return FraudlabError(f"cannot export to {out_dir}: {why}.")


def export_run(
    archive_dir: Path,
    run_id: str,
    out_dir: Path,
    progress: Callable[[str, int, int], None] | None = None,
) -> list[Path]:
    """Write ``<out_dir>/<table>.parquet`` for every table of a run; the files written.

    ``progress(table, done, total)`` is told before each table is written.
    """
    with reading(archive_dir, run_id) as con:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise _cannot_write(out_dir, exc) from None
        written: list[Path] = []
        partial: Path | None = None
        try:
            tables = exported_tables()
            for done, table in enumerate(tables):
                if progress is not None:
                    progress(table, done, len(tables))
                final = out_dir / f"{table}.parquet"
                partial = out_dir / f".{table}.parquet.partial"
                con.table(table).write_parquet(str(partial), compression="zstd")
                os.replace(partial, final)
                partial = None
                written.append(final)
        except (duckdb.Error, OSError) as exc:
            for path in [*written, *([partial] if partial is not None else [])]:
                with contextlib.suppress(OSError):
                    path.unlink()
            raise _cannot_write(out_dir, exc) from None
    return written
