"""The one factory of test archives: messages, as an archiver would consume them from Kafka,
written into a run's file through the archiver's own writer.

The test helpers that need a run file (a hand-made run, a run scored by a given model, the
views' synthetic runs, a replay's source) each say what the run holds; this module alone says
how it becomes a file.
"""

from __future__ import annotations

import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from archive.writer import ArchiveWriter, ConsumedBatch
from fraudlab.publisher import partition_for
from fraudlab.topics import topic_name

PARTITIONS = 2


@dataclass(frozen=True)
class FileMessage:
    """One message of a run: its stream, key, value and Kafka timestamp (ms)."""

    stream: str
    key: bytes
    value: bytes | None
    timestamp_ms: int


@dataclass(frozen=True)
class LoggedMessage:
    """A message as a consumer hands it over: offset, value, Kafka timestamp (ms)."""

    offset: int
    value: bytes | None
    timestamp: int


def kafka_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key`` (murmur2)."""
    return partition_for(key, partitions)


def crc_partition(key: bytes, partitions: int) -> int:
    """A partition by CRC-32 of the key: the layout some older test runs were built with (their
    digests and offsets depend on it)."""
    return zlib.crc32(key) % partitions


def consumed_batches(
    run_id: str,
    messages: Iterable[FileMessage],
    *,
    partitions: int = PARTITIONS,
    chunk: int | None = None,
    partition: Callable[[bytes, int], int] = kafka_partition,
) -> Iterator[ConsumedBatch]:
    """The messages as a consumer would see them: a partition per key, offsets in order, cut
    into batches of ``chunk`` messages (one batch when None)."""
    offsets: Counter[tuple[str, int]] = Counter()
    batch, count = ConsumedBatch(), 0
    for m in messages:
        topic = topic_name(run_id, m.stream)
        where = partition(m.key, partitions)
        logged = LoggedMessage(offsets[(topic, where)], m.value, m.timestamp_ms)
        offsets[(topic, where)] += 1
        batch.add(topic, m.stream, where, [logged])
        count += 1
        if chunk is not None and count >= chunk:
            yield batch
            batch, count = ConsumedBatch(), 0
    if count or chunk is None:
        yield batch


def write_run_file(
    archive_dir: Path,
    run_id: str,
    messages: Iterable[FileMessage],
    *,
    close: bool = True,
    partitions: int = PARTITIONS,
    chunk: int | None = None,
    partition: Callable[[bytes, int], int] = kafka_partition,
) -> Path:
    """Write run ``run_id``'s file holding ``messages``, closed as complete (or left open for
    more, ``close=False``); its path."""
    writer = ArchiveWriter.open(archive_dir, run_id)
    for batch in consumed_batches(
        run_id, messages, partitions=partitions, chunk=chunk, partition=partition
    ):
        writer.write(batch)
    if close:
        writer.close_run("complete", final=True)
    else:
        writer.close()
    return writer.path
