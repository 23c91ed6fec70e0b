"""The SHA-256 digest of an archive's contents: every table but ``run``, row by row.

Each table's rows are taken in one deterministic order (see :func:`archive.tables.digest_order`),
each row as DuckDB's text of it; the length and the text of every row go through one SHA-256 per
table, streamed in Arrow batches (never held whole), and the tables' hashes through a last one.
Two archives of the same Kafka log have the same digest however their archiving was interrupted
and resumed.
"""

from __future__ import annotations

import hashlib

import duckdb
import numpy as np
import pyarrow as pa

from archive.tables import UNDECODABLE, digest_order, record_tables

__all__ = ["content_digest", "digested_tables", "table_hash"]

_BATCH_ROWS = 1 << 16


def digested_tables() -> tuple[str, ...]:
    """The tables the digest covers, in the order it covers them."""
    return (*(spec.name for spec in record_tables()), UNDECODABLE, "offsets", "stream_counts")


def _feed(hasher: hashlib._Hash, texts: pa.Array) -> None:
    """Hash each text's length (8 bytes, little-endian) then all the texts' bytes."""
    if not (pa.types.is_string(texts.type) or pa.types.is_large_string(texts.type)):
        texts = texts.cast(pa.large_string())
    width = np.int64 if pa.types.is_large_string(texts.type) else np.int32
    bounds = np.frombuffer(texts.buffers()[1], dtype=width)[
        texts.offset : texts.offset + len(texts) + 1
    ]
    hasher.update(np.diff(bounds).astype("<i8").tobytes())
    data = texts.buffers()[2]
    if data is not None:
        hasher.update(memoryview(data)[int(bounds[0]) : int(bounds[-1])])


def table_hash(con: duckdb.DuckDBPyConnection, table: str) -> tuple[int, str]:
    """(rows, SHA-256 hex) of one table."""
    hasher = hashlib.sha256()
    rows = 0
    # the table the file holds, named in full: a reader's connection may see a view of the
    # same name over it (see archive.files.read_as_current)
    ((catalog,),) = con.execute("SELECT current_database()").fetchall()
    reader = con.sql(
        f'SELECT CAST(t AS VARCHAR) FROM "{catalog}".main.{table} AS t '
        f"ORDER BY {digest_order(table)}"
    ).to_arrow_reader(_BATCH_ROWS)
    for batch in reader:
        _feed(hasher, batch.column(0))
        rows += batch.num_rows
    return rows, hasher.hexdigest()


def content_digest(con: duckdb.DuckDBPyConnection) -> str:
    """The SHA-256 hex digest of an archive's contents: of each table it holds, in
    :func:`digested_tables` order (a file written before a table existed has the digest it was
    given then)."""
    outer = hashlib.sha256()
    ((catalog,),) = con.execute("SELECT current_database()").fetchall()
    held = {
        name
        for (name,) in con.execute(
            "SELECT table_name FROM duckdb_tables() WHERE database_name = $db "
            "AND schema_name = 'main'",
            {"db": catalog},
        ).fetchall()
    }
    for table in digested_tables():
        if table not in held:
            continue
        rows, digest = table_hash(con, table)
        outer.update(f"{table} {rows} {digest}\n".encode())
    return outer.hexdigest()
