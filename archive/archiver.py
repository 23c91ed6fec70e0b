"""The archiver: one Kafka consumer for all of a run's topics, writing the run's DuckDB file.

Partitions are assigned by hand and positioned at the offsets stored in the archive (the
beginning for partitions it has not seen), so no consumer group or offset commit is involved:
the file itself says where to resume. Messages are gathered into batches and each batch is
written in one transaction with the offsets it reaches (see :mod:`archive.writer`); while one
batch is written (in a worker thread) the next is already being fetched.

Three modes, all resumable after a crash or an interrupt by running the archiver again:

- ``snapshot`` (the default): archive what the run's topics hold now (up to the end offsets seen
  at the start) and stop. The archive is closed as ``complete`` (or ``interrupted``/``failed``,
  as the run's parts ended) when the run's run-events show it is over, else as ``partial``.
- ``until-end``: keep reading until the run is over (every part in ``wait_for`` has written its
  end to the run-events stream), then read up to the end offsets of that moment, then close.
- ``follow``: keep tailing, picking up topics as they appear, until interrupted. If the run is
  over and fully read by then, the archive is closed as its outcome, else as ``interrupted``.

SIGINT or SIGTERM writes the current batch and closes the archive cleanly (``interrupted`` unless
the run is over and fully read).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from archive.files import archive_path
from archive.writer import ArchiveWriter, ConsumedBatch, WriteReport, peek_state, reopen
from fraudlab.errors import UsageError
from fraudlab.kafka_io import make_consumer, start_or_report
from fraudlab.kafka_session import KafkaSession
from fraudlab.run_events import DEFAULT_WAIT_FOR
from fraudlab.settings import Settings
from fraudlab.stop_request import StopSignals
from fraudlab.topics import parse_topic, run_topics

__all__ = [
    "FETCH_OPTIONS",
    "ArchiveOptions",
    "ArchiveProgress",
    "ArchiveResult",
    "Mode",
    "archive_run",
]

# Large fetches: the archiver reads whole logs, and per-request overhead is what limits it.
FETCH_OPTIONS: dict[str, Any] = {
    "max_partition_fetch_bytes": 8 << 20,
    "fetch_max_bytes": 64 << 20,
    "fetch_max_wait_ms": 100,
}


class Mode(enum.Enum):
    """When the archiver stops."""

    SNAPSHOT = "snapshot"
    UNTIL_END = "until-end"
    FOLLOW = "follow"


@dataclass(frozen=True)
class ArchiveOptions:
    """How to archive: the mode, which parts end a run, and how big a batch gets."""

    mode: Mode = Mode.SNAPSHOT
    wait_for: tuple[str, ...] = DEFAULT_WAIT_FOR
    batch_messages: int = 50_000
    flush_interval_s: float = 0.5
    topic_refresh_s: float = 2.0


@dataclass(frozen=True)
class ArchiveProgress:
    """Where an archiver stands: messages archived in this session, and the end if known."""

    run_id: str
    messages: int
    target: int | None
    status: str


@dataclass(frozen=True)
class ArchiveResult:
    """How an archiver session ended."""

    run_id: str
    path: Path
    status: str
    final: bool
    digest: str | None
    written: WriteReport
    already_final: bool = False


class _Session:
    """One archiver session: a consumer, a writer, and the positions between them; the
    process's Kafka session (``kafka``) says which partitions the run's topics have and where
    they end."""

    def __init__(
        self,
        kafka: KafkaSession,
        settings: Settings,
        run_id: str,
        options: ArchiveOptions,
        stop: asyncio.Event,
        progress: Callable[[ArchiveProgress], None] | None,
    ) -> None:
        self.kafka = kafka
        self.settings = settings
        self.run_id = run_id
        self.options = options
        self.stop = stop
        self.progress = progress
        self.consumer: AIOKafkaConsumer | None = None
        self.writer: ArchiveWriter | None = None
        self.assigned: list[TopicPartition] = []
        self.positions: dict[tuple[str, int], int] = {}
        self.targets: dict[tuple[str, int], int] | None = None
        self.buffer = ConsumedBatch()
        self.buffer_since = 0.0
        self.pending: asyncio.Task[WriteReport] | None = None
        self.written = WriteReport()
        self.archived_before = 0

    @property
    def bootstrap(self) -> str:
        return self.settings.bootstrap_servers

    async def run_topics_now(self) -> dict[str, list[int]]:
        return await self.kafka.partitions(run_topics(self.run_id))

    async def assign(self, topics: dict[str, list[int]]) -> None:
        """Assign every partition of ``topics`` and seek each to where the archive stands."""
        assert self.consumer is not None and self.pending is None and not self.buffer.messages
        wanted = [TopicPartition(t, p) for t, parts in sorted(topics.items()) for p in parts]
        if wanted == self.assigned:
            return
        self.consumer.assign(wanted)
        fresh = []
        for tp in wanted:
            at = self.positions.get((tp.topic, tp.partition))
            if at is None:
                fresh.append(tp)
            else:
                self.consumer.seek(tp, at)
        if fresh:
            await self.consumer.seek_to_beginning(*fresh)
        self.assigned = wanted

    async def end_offsets(self) -> dict[tuple[str, int], int]:
        assert self.consumer is not None
        if not self.assigned:
            return {}
        ends = await self.consumer.end_offsets(self.assigned)
        return {(tp.topic, tp.partition): off for tp, off in ends.items()}

    async def reached(self, targets: dict[tuple[str, int], int]) -> bool:
        """Whether every partition has been consumed up to its target offset."""
        assert self.consumer is not None
        for (topic, partition), end in targets.items():
            if self.positions.get((topic, partition), 0) >= end:
                continue
            # past transaction markers the consumer's position runs ahead of the last record
            if await self.consumer.position(TopicPartition(topic, partition)) < end:
                return False
        return True

    def report(self, status: str) -> None:
        if self.progress is not None:
            target = sum(self.targets.values()) if self.targets is not None else None
            archived = self.archived_before + self.written.messages
            self.progress(ArchiveProgress(self.run_id, archived, target, status))

    async def collect(self) -> None:
        """Wait for the write in flight, if any."""
        if self.pending is not None:
            self.written += await self.pending
            self.pending = None
            self.report("running")

    async def flush(self, *, wait: bool) -> None:
        """Hand the buffer to the writer; with ``wait``, also wait until everything is stored."""
        assert self.writer is not None
        if self.buffer.messages:
            await self.collect()
            batch, self.buffer = self.buffer, ConsumedBatch()
            self.pending = asyncio.create_task(asyncio.to_thread(self.writer.write, batch))
        if wait:
            await self.collect()

    async def poll(self) -> None:
        """Fetch what is there (briefly waiting) into the buffer; write it when it is due."""
        assert self.consumer is not None
        if not self.assigned:
            await asyncio.sleep(0.2)
            return
        fetched = await self.consumer.getmany(timeout_ms=100, max_records=20_000)
        for tp, records in fetched.items():
            parsed = parse_topic(tp.topic)
            assert parsed is not None
            if not self.buffer.messages:
                self.buffer_since = time.monotonic()
            self.buffer.add(tp.topic, parsed[1], tp.partition, records)
            self.positions[(tp.topic, tp.partition)] = records[-1].offset + 1
        if not self.buffer.messages:
            return
        # write when the batch is full, when it has waited long enough, or when the archiver
        # has caught up with the log (nothing new came); the wall clock only paces writes here,
        # it never enters what is archived
        due = time.monotonic() - self.buffer_since >= self.options.flush_interval_s
        if not fetched or due or self.buffer.messages >= self.options.batch_messages:
            await self.flush(wait=False)

    async def settle(self) -> None:
        """Write everything consumed, then pick up topics or partitions that appeared since."""
        await self.flush(wait=True)
        await self.assign(await self.run_topics_now())

    async def _goes_on(self, archived: dict[tuple[str, int], int]) -> bool:
        """True when the run's topics hold more than its final archive (which drained them
        before it closed): the run went on, resumed."""
        ends = await self.kafka.end_offsets(run_topics(self.run_id))
        return any(end > archived.get(where, 0) for where, end in ends.items())

    async def run(self) -> ArchiveResult:
        opts = self.options
        path = archive_path(self.settings.archive_dir, self.run_id)
        state = await asyncio.to_thread(peek_state, path, self.run_id)
        if state is not None and state.final:
            if state.status == "complete" or not await self._goes_on(state.offsets):
                return ArchiveResult(
                    self.run_id, path, state.status, True, state.digest, WriteReport(), True
                )
            # a run that ended interrupted (or failed) and was resumed: its archive goes on
            await asyncio.to_thread(reopen, path)
        self.consumer = make_consumer(self.bootstrap, **FETCH_OPTIONS)
        try:
            await start_or_report(self.consumer, self.bootstrap)
        except BaseException:
            await self.consumer.stop()
            raise
        try:
            topics = await self.run_topics_now()
            if not topics and opts.mode is not Mode.FOLLOW:
                raise UsageError(
                    f"run {self.run_id} has no topics at {self.bootstrap}: check the run id, "
                    "or use --follow to wait for the run to start."
                )
            self.writer = await asyncio.to_thread(
                ArchiveWriter.open, self.settings.archive_dir, self.run_id
            )
            self.positions = self.writer.stored_offsets()
            self.archived_before = self.writer.stored_messages()
            await self.assign(topics)
            if opts.mode is Mode.SNAPSHOT:
                self.targets = await self.end_offsets()
            return await self._loop()
        finally:
            if self.pending is not None:
                with contextlib.suppress(Exception):
                    await self.pending
            if self.writer is not None:
                # leaving on an error: keep what is committed, resumable, if the file still takes it
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self.writer.close_run, "interrupted", final=False)
                self.writer.close()
            await self.consumer.stop()

    async def _loop(self) -> ArchiveResult:
        opts = self.options
        refreshed = time.monotonic()
        self.report("running")
        while not self.stop.is_set():
            if self.targets is not None and await self.reached(self.targets):
                await self.flush(wait=True)
                assert self.writer is not None
                if opts.mode is Mode.UNTIL_END and not self.writer.run_info.over(opts.wait_for):
                    # the end it waited for was not one: a part started again since (a resumed
                    # run whose archive held the earlier endings)
                    self.targets = None
                    continue
                break
            await self.poll()
            if self.pending is not None and self.pending.done():
                await self.collect()
            if opts.mode is Mode.SNAPSHOT:
                continue
            assert self.writer is not None
            over = self.writer.run_info.over(opts.wait_for)
            if over and self.targets is None and opts.mode is Mode.UNTIL_END:
                await self.settle()
                self.targets = await self.end_offsets()
            elif time.monotonic() - refreshed >= opts.topic_refresh_s:
                await self.settle()
                refreshed = time.monotonic()
        return await self._close(interrupted=self.stop.is_set())

    async def _close(self, *, interrupted: bool) -> ArchiveResult:
        """Write what is left and close the archive with the status the session earned."""
        assert self.writer is not None
        if self.options.mode is Mode.FOLLOW:
            await self.settle()
        else:
            await self.flush(wait=True)
        info = self.writer.run_info
        targets = self.targets if self.targets is not None else await self.end_offsets()
        drained = await self.reached(targets)
        if info.over(self.options.wait_for) and drained:
            status, final = info.outcome(), True
        elif interrupted or self.options.mode is not Mode.SNAPSHOT:
            status, final = "interrupted", False
        else:
            status, final = "partial", False
        writer, self.writer = self.writer, None
        digest = await asyncio.to_thread(writer.close_run, status, final=final)
        self.report(status)
        return ArchiveResult(self.run_id, writer.path, status, final, digest, self.written)


async def archive_run(
    settings: Settings,
    run_id: str,
    options: ArchiveOptions = ArchiveOptions(),
    *,
    stop: asyncio.Event | None = None,
    progress: Callable[[ArchiveProgress], None] | None = None,
    handle_signals: bool = False,
) -> ArchiveResult:
    """Archive a run's topics into its DuckDB file, as ``options.mode`` says.

    Setting ``stop`` (or, with ``handle_signals``, SIGINT or SIGTERM) ends the session cleanly.
    A final archive is left as it is: the result then has ``already_final`` set.
    """
    stop = stop or asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    if handle_signals:
        signals = StopSignals()

        def on_signal() -> None:
            heard = signals.hear()
            if heard == "ask":
                stop.set()
            elif heard == "insist":
                # a second Ctrl-C gets the default behaviour: stop now, the file stays
                # consistent (a parent-death signal repeated at once is the same stop)
                for sig in handled:
                    loop.remove_signal_handler(sig)
                os.kill(os.getpid(), signal.SIGINT)

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal)
            handled.append(sig)
    try:
        async with KafkaSession(settings.bootstrap_servers) as kafka:
            return await _Session(kafka, settings, run_id, options, stop, progress).run()
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
