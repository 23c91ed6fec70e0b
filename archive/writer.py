"""The one writer of a run's archive file: batches of Kafka messages in, exactly once.

Each :meth:`ArchiveWriter.write` is one DuckDB transaction holding the decoded rows of every topic
in the batch (inserted as Arrow tables, never row by row), the undecodable values, the per-stream
counts and the next offset of every partition the batch came from. Either all of it is in the
file or none of it is, so an archiver that dies at any moment resumes from the stored offsets and
the file ends up with every message exactly once.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import orjson
import pyarrow as pa

from archive.decoding import decode_values, split_arrays
from archive.digest import content_digest
from archive.files import ArchiveCorrupt, archive_error, archive_path, connect_for_writing
from archive.tables import UNDECODABLE, all_ddl, is_deduplicated, record_tables
from fraudlab.errors import FraudlabError
from fraudlab.records import DeadLetter, RunEvent, record_for_stream
from fraudlab.run_events import Event, RunInfo, fold_run_events
from fraudlab.schemas import arrow_schema, table_name

__all__ = [
    "ArchiveWriter",
    "ConsumedBatch",
    "StoredState",
    "TopicMessages",
    "WriteReport",
    "decode_topic",
    "peek_state",
]

# undecodable values are kept in the dead-letter record's layout
_UNDECODABLE_SCHEMA = arrow_schema(DeadLetter)


@dataclass
class TopicMessages:
    """Messages of one topic, column by column, in the order they were consumed."""

    topic: str
    stream: str
    partitions: list[int] = field(default_factory=list)
    offsets: list[int] = field(default_factory=list)
    values: list[bytes | None] = field(default_factory=list)
    timestamps_ms: list[int] = field(default_factory=list)


@dataclass
class ConsumedBatch:
    """What the archiver consumed since its last write, and where each partition now stands."""

    topics: dict[str, TopicMessages] = field(default_factory=dict)
    next_offsets: dict[tuple[str, int], int] = field(default_factory=dict)
    messages: int = 0

    def add(self, topic: str, stream: str, partition: int, records: Iterable[Any]) -> None:
        """Append consumed records (anything with offset, value and timestamp) of one partition."""
        into = self.topics.get(topic)
        if into is None:
            into = self.topics[topic] = TopicMessages(topic, stream)
        records = list(records)
        if not records:
            return
        # comprehensions, not appends: this runs once per consumed message
        into.offsets.extend([r.offset for r in records])
        into.values.extend([r.value for r in records])
        into.timestamps_ms.extend([r.timestamp for r in records])
        into.partitions.extend([partition] * len(records))
        self.next_offsets[(topic, partition)] = records[-1].offset + 1
        self.messages += len(records)


@dataclass(frozen=True)
class WriteReport:
    """What one write stored: messages in = stored + duplicates + undecodable (a message
    holding a JSON array of records counts once, and its elements each as a record)."""

    messages: int = 0
    stored: int = 0
    duplicates: int = 0
    undecodable: int = 0
    run_events: bool = False

    def __add__(self, other: WriteReport) -> WriteReport:
        return WriteReport(
            self.messages + other.messages,
            self.stored + other.stored,
            self.duplicates + other.duplicates,
            self.undecodable + other.undecodable,
            self.run_events or other.run_events,
        )


@dataclass(frozen=True)
class StoredState:
    """The run row's status, whether the archive is final, its digest, and the offset it
    stands at in each (topic, partition)."""

    status: str
    final: bool
    digest: str | None
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)


def decode_topic(m: TopicMessages) -> tuple[TopicMessages, pa.Table, pa.Table]:
    """A topic's messages as (messages, rows with partition and offset, undecodable rows).

    A message holding a JSON array of records gives a row (or an undecodable row, with its
    element) per element; an empty array is one undecodable row.
    """
    values, where, elements, empty = split_arrays(m.values)
    table, good, bad = decode_values(record_for_stream(m.stream), values)
    take = pa.array([where[i] for i in good], pa.int64())
    rows = table.append_column(
        pa.field("kafka_partition", pa.int32()), pa.array(m.partitions, pa.int32()).take(take)
    ).append_column("kafka_offset", pa.array(m.offsets, pa.int64()).take(take))
    rejected_at = [(where[i], elements[i], why, values[i]) for i, why in bad]
    rejected_at += [(i, element, why, m.values[i]) for i, element, why in empty]
    rejected_at.sort(key=lambda r: (r[0], r[1]))
    rejected = pa.table(
        [
            pa.array([raw or b"" for *_, raw in rejected_at], pa.binary()),
            pa.array([why for _, _, why, _ in rejected_at], pa.string()),
            pa.array([m.topic] * len(rejected_at), pa.string()),
            pa.array([m.partitions[i] for i, *_ in rejected_at], pa.int64()),
            pa.array([m.offsets[i] for i, *_ in rejected_at], pa.int64()),
            pa.array([element for _, element, *_ in rejected_at], pa.int64()),
            # the Kafka timestamp, in the dead-letter record's seconds
            pa.array([m.timestamps_ms[i] // 1000 for i, *_ in rejected_at], pa.int64()),
        ],
        schema=_UNDECODABLE_SCHEMA,
    )
    return m, rows, rejected


def peek_state(path: Path, run_id: str) -> StoredState | None:
    """The stored state of an existing archive file (opened read-only), or None if there is none."""
    if not path.exists():
        return None
    try:
        con = duckdb.connect(str(path), read_only=True)
    except (duckdb.Error, OSError) as exc:
        raise archive_error(exc, run_id, path, writing=True) from None
    try:
        rows = con.execute("SELECT status, final, digest FROM run").fetchall()
        stored = con.execute("SELECT topic, partition, next_offset FROM offsets").fetchall()
    except duckdb.CatalogException:
        rows, stored = [], []
    finally:
        con.close()
    offsets = {(topic, partition): offset for topic, partition, offset in stored}
    if not rows:
        return None
    status, final, digest = rows[0]
    return StoredState(status, final, digest, offsets)


class ArchiveWriter:
    """Holds a run's archive file open for writing; the only writer of that file."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, run_id: str) -> None:
        self._con = con
        self.path = path
        self.run_id = run_id
        self.run_info = RunInfo(run_id)

    @classmethod
    def open(cls, archive_dir: Path, run_id: str) -> ArchiveWriter:
        """Create or reopen a run's file, with every table, and mark the run as running."""
        path = archive_path(archive_dir, run_id)
        try:
            archive_dir.mkdir(parents=True, exist_ok=True)
            con = connect_for_writing(path)
        except (duckdb.Error, OSError) as exc:
            raise archive_error(exc, run_id, path, writing=True) from None
        writer = cls(con, path, run_id)
        try:
            writer._prepare()
        except (duckdb.Error, OSError) as exc:
            con.close()
            raise archive_error(exc, run_id, path, writing=True) from None
        except FraudlabError:
            con.close()
            raise
        return writer

    def _prepare(self) -> None:
        con = self._con
        con.begin()
        for ddl in all_ddl():
            con.execute(ddl)
        rows = con.execute("SELECT run_id FROM run").fetchall()
        if not rows:
            con.execute(
                "INSERT INTO run (run_id, status, final) VALUES (?, 'running', false)",
                [self.run_id],
            )
        elif rows[0][0] != self.run_id:
            con.rollback()
            raise ArchiveCorrupt(f"{self.path} holds run {rows[0][0]}, not run {self.run_id}.")
        else:
            # resuming: what was closed before is open again until this session closes it
            con.execute(
                "UPDATE run SET status = 'running', final = false, digest = NULL, counts = NULL"
            )
        con.commit()
        self.run_info = self._fold_run_events()

    def state(self) -> StoredState:
        """The run row's status, finality and digest."""
        (row,) = self._con.execute("SELECT status, final, digest FROM run").fetchall()
        return StoredState(*row)

    def stored_offsets(self) -> dict[tuple[str, int], int]:
        """The next offset to read of every partition archived so far."""
        rows = self._con.execute("SELECT topic, partition, next_offset FROM offsets").fetchall()
        return {(t, p): o for t, p, o in rows}

    def stored_messages(self) -> int:
        """Messages archived so far over every stream."""
        ((messages,),) = self._con.execute(
            "SELECT coalesce(sum(messages), 0) FROM stream_counts"
        ).fetchall()
        return int(messages)

    def write(self, batch: ConsumedBatch) -> WriteReport:
        """Store a batch and its offsets in one transaction; raises one sentence on failure."""
        if not batch.next_offsets:
            return WriteReport()
        # decoding needs no transaction: keep the transaction to the inserts
        decoded = [decode_topic(m) for m in batch.topics.values()]
        con = self._con
        try:
            con.begin()
            report = WriteReport()
            counts: list[tuple[str, str, int, int, int, int]] = []
            for m, rows, rejected in decoded:
                stored = self._insert(m, rows)
                bad = rejected.num_rows
                duplicates = rows.num_rows - stored
                counts.append((m.stream, m.topic, len(m.offsets), stored, duplicates, bad))
                is_run_event = m.stream == RunEvent.STREAM
                report += WriteReport(len(m.offsets), stored, duplicates, bad, is_run_event)
            rejected_all = [r for _, _, r in decoded if r.num_rows]
            if rejected_all:
                self._append(UNDECODABLE, pa.concat_tables(rejected_all))
            self._add_counts(counts)
            self._set_offsets(batch.next_offsets)
            info = self._fold_run_events() if report.run_events else None
            if info is not None:
                self._update_run_row(info)
            con.commit()
            # only what is committed may speak for the run
            if info is not None:
                self.run_info = info
        except (duckdb.Error, OSError) as exc:
            self._rollback()
            raise archive_error(exc, self.run_id, self.path, writing=True) from None
        return report

    def _rollback(self) -> None:
        # the transaction may be gone already; the failure that led here is what matters
        with contextlib.suppress(duckdb.Error):
            self._con.rollback()

    @contextlib.contextmanager
    def _registered(self, name: str, rows: pa.Table) -> Iterator[None]:
        """``rows`` readable as the view ``name`` inside the block."""
        self._con.register(name, rows)
        try:
            yield
        except BaseException:
            # a failed statement aborts the transaction, which then refuses the unregister as
            # well; the rollback that follows drops the view, and the statement's own error is
            # the one worth raising
            with contextlib.suppress(duckdb.Error):
                self._con.unregister(name)
            raise
        self._con.unregister(name)

    def _append(self, table: str, rows: pa.Table) -> int:
        """INSERT an Arrow table into ``table``; the rows inserted."""
        with self._registered("batch_rows", rows):
            ((inserted,),) = self._con.execute(
                f"INSERT INTO {table} SELECT * FROM batch_rows"
            ).fetchall()
        return int(inserted)

    def _insert(self, m: TopicMessages, rows: pa.Table) -> int:
        """Insert a topic's decoded rows; the rows stored (results: new keys only)."""
        if not rows.num_rows:
            return 0
        cls = record_for_stream(m.stream)
        if not is_deduplicated(cls):
            return self._append(table_name(cls), rows)
        # first in log order wins: a key's repeats are on one partition, at later offsets
        with self._registered("batch_rows", rows):
            ((inserted,),) = self._con.execute(
                f"INSERT OR IGNORE INTO {table_name(cls)} SELECT * FROM batch_rows QUALIFY "
                f"row_number() OVER (PARTITION BY {', '.join(cls.KEY)} "
                "ORDER BY kafka_partition, kafka_offset) = 1"
            ).fetchall()
        return int(inserted)

    def _add_counts(self, counts: list[tuple[str, str, int, int, int, int]]) -> None:
        columns = ("stream", "topic", "messages", "stored", "duplicates", "undecodable")
        table = pa.table({c: [row[i] for row in counts] for i, c in enumerate(columns)})
        with self._registered("batch_counts", table):
            self._con.execute(
                "INSERT INTO stream_counts SELECT * FROM batch_counts ON CONFLICT (stream) "
                "DO UPDATE SET messages = stream_counts.messages + excluded.messages, "
                "stored = stream_counts.stored + excluded.stored, "
                "duplicates = stream_counts.duplicates + excluded.duplicates, "
                "undecodable = stream_counts.undecodable + excluded.undecodable"
            )

    def _set_offsets(self, next_offsets: dict[tuple[str, int], int]) -> None:
        table = pa.table(
            {
                "topic": [t for t, _ in next_offsets],
                "partition": pa.array([p for _, p in next_offsets], pa.int32()),
                "next_offset": list(next_offsets.values()),
            }
        )
        with self._registered("batch_offsets", table):
            self._con.execute(
                "INSERT INTO offsets SELECT * FROM batch_offsets ON CONFLICT (topic, partition) "
                "DO UPDATE SET next_offset = excluded.next_offset"
            )

    def _fold_run_events(self) -> RunInfo:
        # run-events are a handful of rows per run: reading them whole is cheap
        rows = self._con.execute(
            f"SELECT part, event, details, ts, kafka_partition, kafka_offset "
            f"FROM {table_name(RunEvent)}"
        ).fetchall()
        return fold_run_events(
            self.run_id,
            (Event(part, event, details, ts, (p, o)) for part, event, details, ts, p, o in rows),
        )

    def _update_run_row(self, info: RunInfo) -> None:
        self._con.execute(
            "UPDATE run SET scenario = ?, scenario_text = ?, seed = ?, model_name = ?, "
            "model_digest = ?, engine_settings = ?, code_version = ?, replay_of = ?, "
            "started_at = ?, ended_at = ?, parts = ?",
            [
                info.scenario,
                info.scenario_text,
                info.seed,
                info.model_name,
                info.model_digest,
                info.engine_settings,
                info.code_version,
                info.replay_of,
                info.started_at,
                info.ended_at(),
                info.parts_json(),
            ],
        )

    def close_run(self, status: str, *, final: bool) -> str:
        """Write the status, counts and digest, checkpoint and close; the digest.

        ``final`` says the run is over and fully archived: the file is then made read-only.
        """
        con = self._con
        try:
            con.begin()
            counts = {
                spec.name: con.execute(f"SELECT count(*) FROM {spec.name}").fetchall()[0][0]
                for spec in record_tables()
            }
            digest = content_digest(con)
            self._update_run_row(self.run_info)
            con.execute(
                "UPDATE run SET status = ?, final = ?, counts = ?, digest = ?",
                [status, final, orjson.dumps(counts).decode(), digest],
            )
            con.commit()
            con.execute("CHECKPOINT")
        except (duckdb.Error, OSError) as exc:
            self._rollback()
            self.close()
            raise archive_error(exc, self.run_id, self.path, writing=True) from None
        self.close()
        if final:
            mode = self.path.stat().st_mode
            os.chmod(self.path, mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        return digest

    def close(self) -> None:
        """Close the file without writing anything more (after a failure, or when done)."""
        # closing after a failed write: the committed state is what the file keeps
        with contextlib.suppress(duckdb.Error):
            self._con.close()


def reopen(path: Path) -> None:
    """Make a final archive writable again, for a run that goes on after it ended interrupted
    or failed (``fraudlab run --resume``); the next session's writer marks it running."""
    mode = path.stat().st_mode
    os.chmod(path, mode | stat.S_IWUSR)
