"""Killing the archiver at random moments while the run is produced loses and repeats nothing."""

from __future__ import annotations

import asyncio
import random
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import duckdb
import pytest
from cli_process import fraudlab, start_fraudlab
from sample_run import Message, create_run_topics, make_sample_run, publish, without_end

from archive.archiver import archive_run
from archive.digest import digested_tables
from archive.tables import digest_order
from fraudlab.kafka_io import make_producer, quiet_kafka_logs, start_or_report
from fraudlab.settings import Settings
from fraudlab.topics import topic_name

pytestmark = [pytest.mark.kafka, pytest.mark.slow]

KILLS = 10
PRODUCE_S = 24.0


async def publish_slowly(
    bootstrap: str, run_id: str, messages: list[Message], kills: Callable[[], int]
) -> None:
    """Publish over about PRODUCE_S seconds, in small acknowledged chunks, like a paced run.

    On a machine too busy for KILLS archiver restarts in that time, the run is produced more
    slowly: its messages are spread over the kills, so every kill falls while it is produced."""
    chunks = [messages[i : i + 50] for i in range(0, len(messages), 50)]
    producer = make_producer(bootstrap)
    await start_or_report(producer, bootstrap)
    try:
        with quiet_kafka_logs():
            for i, chunk in enumerate(chunks):
                while kills() < i * KILLS // len(chunks):
                    await asyncio.sleep(0.05)
                sent = [
                    await producer.send(topic_name(run_id, m.stream), m.value, key=m.key)
                    for m in chunk
                ]
                await asyncio.gather(*sent)
                await asyncio.sleep(PRODUCE_S / len(chunks))
            while kills() < KILLS:
                await asyncio.sleep(0.05)
    finally:
        await producer.stop()


def _stamp(path: Path) -> tuple[tuple[int, int], ...]:
    stamps = []
    for p in (path, path.with_name(path.name + ".wal")):
        try:
            st = p.stat()
        except FileNotFoundError:
            stamps.append((0, 0))
        else:
            stamps.append((st.st_size, st.st_mtime_ns))
    return tuple(stamps)


async def file_changes(path: Path, process: subprocess.Popen[str], timeout: float = 10) -> None:
    """Wait until the run's file or its write-ahead log changes (or the process ends)."""
    before = _stamp(path)
    deadline = time.monotonic() + timeout
    while _stamp(path) == before and process.poll() is None and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


def archived_messages(path: Path) -> int:
    """Messages the file holds (0 before the archiver first committed)."""
    if not path.exists():
        return 0
    con = duckdb.connect(str(path), read_only=True)
    try:
        return int(
            con.execute("SELECT coalesce(sum(messages), 0) FROM stream_counts").fetchall()[0][0]
        )
    except duckdb.CatalogException:
        return 0
    finally:
        con.close()


def contents(path: Path) -> dict[str, list[tuple[object, ...]]]:
    con = duckdb.connect(str(path), read_only=True)
    try:
        return {
            t: con.execute(f"SELECT * FROM {t} ORDER BY {digest_order(t)}").fetchall()
            for t in digested_tables()
        }
    finally:
        con.close()


async def test_sigkill_at_random_moments_gives_the_archive_of_an_uninterrupted_run(
    bootstrap: str, settings: Settings, run_id: str, tmp_path: Path
) -> None:
    run = make_sample_run(run_id, seed=11, transactions=800)
    before, ends = without_end(run)
    await create_run_topics(bootstrap, run_id)
    folder = tmp_path / "killed"
    path = folder / f"{run_id}.duckdb"
    args = ["archive", run_id, "--until-end", "--bootstrap-servers", bootstrap]
    rng = random.Random(20261129)
    kills_while_producing, progress = 0, [0]
    producing = asyncio.create_task(
        publish_slowly(bootstrap, run_id, before, lambda: kills_while_producing)
    )
    # kills only count while the run is produced: once it is, more rounds cannot add any
    while not producing.done():
        archiver = start_fraudlab(*args, "--archive-dir", str(folder))
        # kill it at a random moment once it is at work on the file, so that kills fall between
        # and inside its transactions rather than while it is still starting up
        await file_changes(path, archiver)
        await asyncio.sleep(rng.uniform(0.0, 1.2))
        if archiver.poll() is None:
            kills_while_producing += not producing.done()
            archiver.send_signal(signal.SIGKILL)
        archiver.communicate(timeout=30)
        progress.append(archived_messages(path))
        assert progress[-1] >= progress[-2], "a restart lost committed messages"
    await producing
    assert kills_while_producing >= KILLS
    # most restarts got work done before they were killed
    assert len(set(progress)) >= KILLS // 2, progress
    await publish(bootstrap, run_id, ends)
    final = fraudlab(*args, "--archive-dir", str(folder), timeout=120)
    assert final.returncode == 0, final.stderr
    assert "complete (final)" in final.stdout

    reference = settings.model_copy(update={"archive_dir": tmp_path / "reference"})
    uninterrupted = await archive_run(reference, run_id)
    assert uninterrupted.status == "complete"
    killed, clean = contents(path), contents(uninterrupted.path)
    for table in digested_tables():
        assert killed[table] == clean[table], table
    assert sum(len(rows) for rows in clean.values()) > len(run.messages) // 2
    digest = duckdb.connect(str(path), read_only=True).execute("SELECT digest FROM run").fetchall()
    assert digest == [(uninterrupted.digest,)]
