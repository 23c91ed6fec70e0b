"""Republishing archived runs against a real broker: the same logs, announced as replays, paced."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
from kafka_logs import Logged, partition_logs
from written_archives import (
    partitioned,
    producer_events,
    sent_records,
    simulated_run,
    write_archive,
)

from archive.archiver import ArchiveOptions, Mode, archive_run
from archive.files import reading
from archive.reader import run_summary
from archive.tables import record_tables
from fraudlab.errors import UsageError
from fraudlab.kafka_io import create_topics
from fraudlab.publisher import Publisher
from fraudlab.records import RunEvent
from fraudlab.settings import Settings
from fraudlab.topics import topic_name
from replay.archived_messages import REPLAYED_STREAMS
from replay.republish import RunIdTaken, republish_run
from simulator.clock import DEFAULT_START
from simulator.producer import produce_run, run_details
from simulator.scenario import load_scenario
from simulator.simulation import Simulation

pytestmark = pytest.mark.kafka

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
MINUTES = 1.5
SOURCE = f"replay-source-{uuid.uuid4().hex[:6]}"
PRODUCER_ONLY = ArchiveOptions(mode=Mode.UNTIL_END, wait_for=("producer",))


async def _produce_and_archive(settings: Settings, run_id: str) -> None:
    scenario = load_scenario("baseline", SCENARIOS)
    details = run_details(scenario.text, scenario.name, 7, DEFAULT_START, MINUTES, None)
    simulation = Simulation(scenario, 7, DEFAULT_START, MINUTES)
    await produce_run(
        simulation, DEFAULT_START, run_id, settings.bootstrap_servers, 2, None, details=details
    )
    await archive_run(settings, run_id, PRODUCER_ONLY)


@pytest.fixture(scope="module")
def source(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """A produced and archived 90 s baseline run; settings whose archive folder holds it."""
    own = settings.model_copy(update={"archive_dir": tmp_path_factory.mktemp("replay-archive")})
    asyncio.run(_produce_and_archive(own, SOURCE))
    yield own


async def _logs(bootstrap: str, run_id: str) -> dict[tuple[str, int], list[Logged]]:
    out = {}
    for stream in REPLAYED_STREAMS:
        for partition, log in (await partition_logs(bootstrap, topic_name(run_id, stream))).items():
            out[(stream, partition)] = log
    return out


async def _run_events(
    bootstrap: str, run_id: str, progress: bool = False
) -> list[dict[str, object]]:
    """The replay's run-events in log order; its progress events only when ``progress``."""
    logs = await partition_logs(bootstrap, topic_name(run_id, RunEvent.STREAM))
    events = [orjson.loads(m.value) for log in logs.values() for m in log]
    return [e for e in events if progress or e["event"] != "progress"]


async def test_a_fast_replay_holds_every_partition_as_the_original_did(
    source: Settings, run_id: str
) -> None:
    report = await republish_run(source, SOURCE, run_id, None, details={})
    bootstrap = source.bootstrap_servers
    original, again = await _logs(bootstrap, SOURCE), await _logs(bootstrap, run_id)
    assert set(again) == set(original)
    for where, log in original.items():
        assert [(m.key, m.value) for m in again[where]] == [(m.key, m.value) for m in log], where
        if where[0] != "customer":  # sign-ups are known to the second only
            assert [m.timestamp_ms for m in again[where]] == [m.timestamp_ms for m in log]
    counts = {s: 0 for s in REPLAYED_STREAMS}
    for (stream, _), log in original.items():
        counts[stream] += len(log)
    assert report.delivered == {s: n for s, n in sorted(counts.items()) if n}
    assert (report.raw, report.replay_of) == (0, SOURCE)


async def test_a_replay_stopped_part_way_resumes_to_the_logs_of_a_whole_one(
    source: Settings, run_id: str
) -> None:
    bootstrap = source.bootstrap_servers
    reached: list[float] = []
    # paced, and stopped as a Ctrl-C stops it, 20 simulated seconds in
    replaying = asyncio.ensure_future(
        republish_run(
            source, SOURCE, run_id, 8.0, details={}, progress=lambda s, _: reached.append(s)
        )
    )
    while not reached or reached[-1] < 20:
        assert not replaying.done(), replaying
        await asyncio.sleep(0.1)
    replaying.cancel()
    with pytest.raises(asyncio.CancelledError):
        await replaying
    held = sum(len(log) for log in (await _logs(bootstrap, run_id)).values())
    original = await _logs(bootstrap, SOURCE)
    assert 0 < held < sum(len(log) for log in original.values())
    report = await republish_run(source, SOURCE, run_id, None, details={}, resume=True)
    again = await _logs(bootstrap, run_id)
    assert set(again) == set(original)
    for where, log in original.items():
        assert [(m.key, m.value) for m in again[where]] == [(m.key, m.value) for m in log], where
    assert sum(report.delivered.values()) == sum(len(log) for log in original.values())
    # paced, the replay told where it stood as a producer does (the status line of a run moves)
    progress = [e for e in await _run_events(bootstrap, run_id, True) if e["event"] == "progress"]
    assert progress and all("simulated_s" in str(e["details"]) for e in progress)
    events = [(e["part"], e["event"]) for e in await _run_events(bootstrap, run_id)]
    assert events == [
        ("producer", "started"),
        ("producer", "interrupted"),
        ("producer", "started"),
        ("producer", "finished"),
    ]
    # finished now: nothing more to resume
    with pytest.raises(UsageError, match="produced to its end: there is nothing to resume"):
        await republish_run(source, SOURCE, run_id, None, details={}, resume=True)


async def test_the_replay_announces_itself_and_archives_like_its_original(
    source: Settings, run_id: str
) -> None:
    await republish_run(source, SOURCE, run_id, None, details={"model_name": "tiny"})
    events = await _run_events(source.bootstrap_servers, run_id)
    assert [(e["part"], e["event"]) for e in events] == [
        ("producer", "started"),
        ("producer", "finished"),
    ]
    started = orjson.loads(str(events[0]["details"]))
    assert started["replay_of"] == SOURCE
    assert (started["scenario"], started["seed"], started["model_name"]) == ("baseline", 7, "tiny")
    assert started["scenario_text"] == load_scenario("baseline", SCENARIOS).text
    finished = orjson.loads(str(events[1]["details"]))
    assert finished["delivered"]["browsing"] > 0 and finished["speed_reached"] > 0
    await archive_run(source, run_id, PRODUCER_ONLY)
    with (
        reading(source.archive_dir, run_id) as replay,
        reading(source.archive_dir, SOURCE) as first,
    ):
        summary = run_summary(replay)
        assert (summary.replay_of, summary.scenario, summary.seed) == (SOURCE, "baseline", 7)
        # every input row, at the same partition and offset, in both archives
        for spec in record_tables():
            if spec.stream not in REPLAYED_STREAMS:
                continue
            sql = f"SELECT * FROM {spec.name} ORDER BY kafka_partition, kafka_offset"
            assert replay.execute(sql).fetchall() == first.execute(sql).fetchall(), spec.name


async def test_a_paced_replay_takes_about_the_run_over_the_speed(
    source: Settings, run_id: str
) -> None:
    speed = 30.0  # 90 simulated seconds in about 3 wall seconds
    progress: list[float] = []
    report = await republish_run(
        source, SOURCE, run_id, speed, details={}, progress=lambda s, _: progress.append(s)
    )
    assert report.simulated_s == pytest.approx(MINUTES * 60)
    assert 2.5 < report.wall_s < 10, report
    assert report.speed == pytest.approx(speed, rel=0.2)
    assert progress == sorted(progress) and progress[-1] == pytest.approx(MINUTES * 60)
    assert len(progress) >= MINUTES * 60


async def test_a_cancelled_replay_says_it_was_interrupted(source: Settings, run_id: str) -> None:
    browsing = topic_name(run_id, "browsing")
    underway = asyncio.Event()

    def progress(_sim_s: float, sent: Counter[str]) -> None:
        if sent[browsing] > 0:
            underway.set()

    task = asyncio.create_task(
        republish_run(source, SOURCE, run_id, 1.0, details={}, progress=progress)
    )
    await asyncio.wait_for(underway.wait(), 60)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    events = await _run_events(source.bootstrap_servers, run_id)
    assert [e["event"] for e in events] == ["started", "interrupted"]
    ended = orjson.loads(str(events[-1]["details"]))
    assert ended["delivered"]["browsing"] > 0


async def test_a_dirty_run_gives_the_engine_the_same_broken_values(
    settings: Settings, tmp_path: Path, run_id: str
) -> None:
    source_id = f"dirty-{run_id}"
    messages, details = simulated_run("late-and-dirty", 17, 2)
    assert any(b"\xff\xfe" in m.value for m in messages), "no value that is not UTF-8"
    events = sent_records(producer_events(source_id, details))
    own = settings.model_copy(update={"archive_dir": tmp_path})
    write_archive(tmp_path, source_id, [events[0], *messages, events[1]])
    report = await republish_run(own, source_id, run_id, None, details={})
    with reading(tmp_path, source_id) as con:
        ((undecodable,),) = con.execute("SELECT count(*) FROM undecodable").fetchall()
    assert report.raw == undecodable > 0
    again = await _logs(settings.bootstrap_servers, run_id)
    for where, sent in partitioned(messages).items():
        assert [m.value for m in again[where]] == [m.value for m in sent], where
        keys = [(m.key, s.key) for m, s in zip(again[where], sent, strict=True)]
        assert all(k == s or k is None for k, s in keys)


async def test_a_run_id_with_messages_is_not_replayed_into(source: Settings, run_id: str) -> None:
    topic = topic_name(run_id, "browsing")
    await create_topics(source.bootstrap_servers, [topic], 2)
    publisher = Publisher(source.bootstrap_servers)
    await publisher.start()
    await publisher.send(topic, b"k", b"{}", None)
    await publisher.close()
    with pytest.raises(RunIdTaken, match=f"run {run_id} already has messages"):
        await republish_run(source, SOURCE, run_id, None, details={})


def _fraudlab_env(settings: Settings) -> dict[str, str]:
    return {
        **os.environ,
        "FRAUDLAB_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
        "FRAUDLAB_ARCHIVE_DIR": str(settings.archive_dir),
    }


def _republish_argv(run_id: str, *pace: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "lab.cli",
        "republish",
        SOURCE,
        "--run-id",
        run_id,
        *pace,
    ]


async def test_the_republish_command_prints_what_it_delivered(
    source: Settings, run_id: str
) -> None:
    done = subprocess.run(
        _republish_argv(run_id, "--fast", "--minutes", "0.5"),
        env=_fraudlab_env(source),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert f"run {run_id} (replay of {SOURCE}):" in done.stdout
    browsing = next(line for line in done.stdout.splitlines() if "browsing" in line)
    assert int(browsing.split()[1].replace(",", "")) > 0


async def test_a_ctrl_c_ends_the_republish_command_as_interrupted(
    source: Settings, run_id: str
) -> None:
    child = subprocess.Popen(
        _republish_argv(run_id, "--speed", "1"),
        env=_fraudlab_env(source),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not await _run_events_or_none(source.bootstrap_servers, run_id):
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the replay never announced itself"
            await asyncio.sleep(0.5)
        await asyncio.sleep(1.0)
        child.send_signal(signal.SIGINT)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 130, err
    assert err.strip().splitlines()[-1] == "fraudlab: interrupted."
    events = await _run_events(source.bootstrap_servers, run_id)
    assert [e["event"] for e in events] == ["started", "interrupted"]


async def _run_events_or_none(bootstrap: str, run_id: str) -> list[dict[str, object]]:
    from fraudlab.kafka_io import list_topics

    if topic_name(run_id, RunEvent.STREAM) not in await list_topics(bootstrap):
        return []
    return await _run_events(bootstrap, run_id)
