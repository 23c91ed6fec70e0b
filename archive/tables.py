"""The tables of a run's archive file, derived from the record contract.

Every stream of :data:`fraudlab.records.STREAMS` has a table named by
:func:`fraudlab.schemas.table_name`, with the record's columns plus the Kafka partition and offset
the row came from. Input streams keep every message as its own row (a duplicate injected by the
simulator on purpose is a separate record); result streams, written by the engine's at-least-once
sink, keep one row per record KEY (the first in log order) and count the repeats they dropped.

Beside them the archive keeps its own bookkeeping:

- ``undecodable``: records that could not be decoded, in the dead-letter layout (raw bytes,
  reason, source topic, partition, offset and element, Kafka timestamp in seconds);
- ``offsets``: the next offset to read of every topic partition, written in the same transaction
  as the rows it covers;
- ``stream_counts``: per stream, messages consumed = rows stored + duplicates dropped + undecodable
  (when no message holds a JSON array of records: such a message gives a row per element);
- ``run``: one row of run metadata (see :mod:`fraudlab.run_events`).

>>> from fraudlab.records import Score, Truth
>>> table_ddl(Truth).startswith("CREATE TABLE IF NOT EXISTS truth (")
True
>>> "PRIMARY KEY (transaction_id)" in table_ddl(Score)
True
"""

from __future__ import annotations

from dataclasses import dataclass

from fraudlab.records import (
    RESULT_RECORDS,
    STREAM_RECORDS,
    DeadLetter,
    Record,
)
from fraudlab.schemas import duckdb_columns, table_name

__all__ = [
    "BOOKKEEPING_DDL",
    "KAFKA_COLUMNS",
    "RUN_COLUMNS",
    "UNDECODABLE",
    "TableSpec",
    "all_ddl",
    "digest_order",
    "is_deduplicated",
    "record_tables",
    "table_ddl",
]

# Where each row came from: with these, exactly-once is checkable row by row.
KAFKA_COLUMNS = ("kafka_partition", "kafka_offset")
_KAFKA_DDL = "kafka_partition INTEGER NOT NULL, kafka_offset BIGINT NOT NULL"

UNDECODABLE = "undecodable"

# The run table: one row, folded from the run-events stream and the archiver's observations.
RUN_COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "VARCHAR NOT NULL"),
    ("scenario", "VARCHAR"),
    ("scenario_text", "VARCHAR"),
    ("seed", "BIGINT"),
    ("model_name", "VARCHAR"),
    ("model_digest", "VARCHAR"),
    ("engine_settings", "VARCHAR"),  # JSON object
    ("code_version", "VARCHAR"),
    ("replay_of", "VARCHAR"),
    ("started_at", "BIGINT"),  # Unix seconds, from the parts' run-events
    ("ended_at", "BIGINT"),
    ("status", "VARCHAR NOT NULL"),
    ("final", "BOOLEAN NOT NULL"),  # the run is over and every message of it is archived
    ("parts", "VARCHAR"),  # JSON: each part's last event, its time and merged details
    ("counts", "VARCHAR"),  # JSON: rows per table, written when the archive is closed
    ("digest", "VARCHAR"),  # SHA-256 of the contents, written when the archive is closed
)

BOOKKEEPING_DDL: tuple[str, ...] = (
    f"CREATE TABLE IF NOT EXISTS {UNDECODABLE} ({duckdb_columns(DeadLetter)})",
    "CREATE TABLE IF NOT EXISTS offsets (topic VARCHAR NOT NULL, partition INTEGER NOT NULL, "
    "next_offset BIGINT NOT NULL, PRIMARY KEY (topic, partition))",
    "CREATE TABLE IF NOT EXISTS stream_counts (stream VARCHAR PRIMARY KEY, topic VARCHAR NOT NULL, "
    "messages BIGINT NOT NULL, stored BIGINT NOT NULL, duplicates BIGINT NOT NULL, "
    "undecodable BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS run ("
    + ", ".join(f"{name} {sql_type}" for name, sql_type in RUN_COLUMNS)
    + ")",
)


def is_deduplicated(cls: type[Record]) -> bool:
    """Whether a stream's table keeps one row per KEY (results of the at-least-once engine)."""
    return cls in RESULT_RECORDS


def table_ddl(cls: type[Record]) -> str:
    """CREATE TABLE of a stream's archive table: the record's columns, partition and offset."""
    key = f", PRIMARY KEY ({', '.join(cls.KEY)})" if is_deduplicated(cls) else ""
    return (
        f"CREATE TABLE IF NOT EXISTS {table_name(cls)} ({duckdb_columns(cls)}, {_KAFKA_DDL}{key})"
    )


def all_ddl() -> tuple[str, ...]:
    """Every statement that creates the tables of an archive file, in order."""
    return tuple(table_ddl(cls) for cls in STREAM_RECORDS) + BOOKKEEPING_DDL


@dataclass(frozen=True)
class TableSpec:
    """A record table of the archive: its stream, name and record class."""

    stream: str
    name: str
    record: type[Record]


def record_tables() -> tuple[TableSpec, ...]:
    """The record tables, one per stream, in contract order."""
    return tuple(TableSpec(cls.STREAM, table_name(cls), cls) for cls in STREAM_RECORDS)


def digest_order(table: str) -> str:
    """An ORDER BY that puts a table's rows in one deterministic order (for the digest)."""
    if table == UNDECODABLE:
        return "source_topic, source_partition, source_offset, source_element"
    if table == "offsets":
        return "topic, partition"
    if table == "stream_counts":
        return "stream"
    spec = next(s for s in record_tables() if s.name == table)
    if is_deduplicated(spec.record):
        return ", ".join(spec.record.KEY)
    return ", ".join(KAFKA_COLUMNS)
