"""The archiver against a real broker: every message of every topic once, in every mode."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from cli_process import fraudlab, one_sentence, start_fraudlab
from sample_run import Message, create_run_topics, make_sample_run, publish, without_end

from archive.archiver import ArchiveOptions, Mode, archive_run
from archive.files import RunIsLive, open_read_only
from archive.tables import UNDECODABLE, is_deduplicated, record_tables
from fraudlab.kafka_io import end_offsets
from fraudlab.publisher import Publisher
from fraudlab.records import RunEvent
from fraudlab.run_events import announce, run_event
from fraudlab.settings import Settings
from fraudlab.topics import run_topics, topic_name
from simulator.clock import DEFAULT_START
from simulator.producer import produce_run, run_details
from simulator.scenario import load_scenario
from simulator.simulation import Simulation

pytestmark = pytest.mark.kafka

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


async def produce(bootstrap: str, run_id: str, messages: list[Message]) -> None:
    await create_run_topics(bootstrap, run_id)
    await publish(bootstrap, run_id, messages)


async def messages_per_topic(bootstrap: str, run_id: str) -> Counter[str]:
    ends = await end_offsets(bootstrap, run_topics(run_id))
    total: Counter[str] = Counter()
    for (topic, _), end in ends.items():
        total[topic] += end
    return total


async def test_every_message_of_every_topic_is_archived_once(
    bootstrap: str, archive_settings: Settings, run_id: str
) -> None:
    run = make_sample_run(run_id)
    await produce(bootstrap, run_id, run.messages)
    result = await archive_run(archive_settings, run_id)
    assert (result.status, result.final) == ("complete", True)
    ends = await end_offsets(bootstrap, run_topics(run_id))
    in_topic = await messages_per_topic(bootstrap, run_id)
    con = duckdb.connect(str(result.path), read_only=True)
    for spec in record_tables():
        topic = topic_name(run_id, spec.stream)
        (rows,) = con.execute(f"SELECT count(*) FROM {spec.name}").fetchone()  # type: ignore[misc]
        (bad,) = con.execute(
            f"SELECT count(*) FROM {UNDECODABLE} WHERE source_topic = ?", [topic]
        ).fetchone()  # type: ignore[misc]
        (duplicates,) = con.execute(
            "SELECT coalesce(sum(duplicates), 0) FROM stream_counts WHERE topic = ?", [topic]
        ).fetchone()  # type: ignore[misc]
        # rows + results stored once + undecodable values = messages in the topic
        assert rows + duplicates + bad == in_topic[topic], spec.stream
        assert duplicates == run.duplicates[spec.stream], spec.stream
        assert bad == run.undecodable[spec.stream], spec.stream
        if not duplicates and not bad:
            assert rows == in_topic[topic]  # what `duckdb -readonly` and kcat both count
        positions = con.execute(
            f"SELECT kafka_partition, kafka_offset FROM {spec.name} UNION ALL "
            f"SELECT source_partition, source_offset FROM {UNDECODABLE} WHERE source_topic = ?",
            [topic],
        ).fetchall()
        assert len(set(positions)) == len(positions)
        if not is_deduplicated(spec.record):  # every offset of the log is a row or a reason
            expected = {(p, o) for (t, p), end in ends.items() if t == topic for o in range(end)}
            assert set(positions) == expected, spec.stream
        else:
            assert all(o < ends[(topic, p)] for p, o in positions)
            key = ", ".join(spec.record.KEY)
            assert con.execute(
                f"SELECT count(*) FROM (SELECT {key} FROM {spec.name} GROUP BY ALL "
                "HAVING count(*) > 1)"
            ).fetchone() == (0,)
    assert con.execute("SELECT sum(next_offset) FROM offsets").fetchone() == (sum(ends.values()),)
    con.close()
    # the finished file opens read-only with DuckDB's own client, no fraudlab involved
    plain = duckdb.connect(str(result.path), read_only=True)
    assert plain.execute("SELECT count(*) FROM transactions").fetchone() == (
        in_topic[topic_name(run_id, "transactions")] - 1,  # one value there is undecodable
    )
    plain.close()


async def test_runs_and_report_print_json_with_the_quality(
    bootstrap: str, archive_settings: Settings, run_id: str
) -> None:
    run = make_sample_run(run_id, transactions=80)
    await produce(bootstrap, run_id, run.messages)
    folder = str(archive_settings.archive_dir)
    archived = fraudlab(
        "archive", run_id, "--bootstrap-servers", bootstrap, "--archive-dir", folder
    )
    assert archived.returncode == 0, archived.stderr
    assert f"archived run {run_id}: complete (final)" in archived.stdout
    again = fraudlab("archive", run_id, "--bootstrap-servers", bootstrap, "--archive-dir", folder)
    assert again.returncode == 0 and "already archived (complete)" in again.stdout
    runs = fraudlab("runs", "--json", "--archive-dir", folder)
    assert runs.returncode == 0, runs.stderr
    (line,) = json.loads(runs.stdout)
    assert line["run_id"] == run_id and line["status"] == "complete"
    assert (line["scenario"], line["seed"], line["model"]) == ("baseline", 7, "gbt-1")
    assert line["events"] == 80 * 4 + 80 + 2  # two transactions are duplicated on purpose
    assert 0 <= line["precision"] <= 1
    report = fraudlab("report", run_id, "--json", "--archive-dir", folder)
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert {"precision", "recall", "per_pattern"} <= set(data)
    patterns = {p["pattern"]: p for p in data["per_pattern"]}
    assert {k for k, v in run.frauds.items() if v} <= set(patterns)
    assert all(p["frauds"] == run.frauds[name] for name, p in patterns.items() if name)
    text = fraudlab("report", run_id, "--archive-dir", folder)
    assert text.returncode == 0 and "PATTERN" in text.stdout and "precision" in text.stdout
    listing = fraudlab("runs", "--archive-dir", folder)
    assert listing.returncode == 0 and run_id in listing.stdout.splitlines()[1]


async def test_until_end_waits_for_the_parts_to_finish(
    bootstrap: str, archive_settings: Settings, run_id: str
) -> None:
    run = make_sample_run(run_id, transactions=60)
    before, ends = without_end(run)
    await produce(bootstrap, run_id, before)
    archiving = asyncio.create_task(
        archive_run(archive_settings, run_id, ArchiveOptions(mode=Mode.UNTIL_END))
    )
    await asyncio.sleep(2.0)
    assert not archiving.done()
    await publish(bootstrap, run_id, ends)
    result = await asyncio.wait_for(archiving, 60)
    assert (result.status, result.final) == ("complete", True)
    assert result.written.messages == len(run.messages)


async def test_a_late_and_dirty_run_is_archived_with_every_message_accounted_for(
    bootstrap: str, archive_settings: Settings, run_id: str
) -> None:
    scenario = load_scenario("late-and-dirty", SCENARIOS)
    minutes = 1.0
    details = run_details(scenario.text, scenario.name, 17, DEFAULT_START, minutes, None)
    simulation = Simulation(scenario, 17, DEFAULT_START, minutes)
    produced = await produce_run(
        simulation, DEFAULT_START, run_id, bootstrap, 2, None, details=details
    )
    # no engine ran: say its part is over, so that until-end has an end to wait for
    publisher = Publisher(bootstrap)
    await publisher.start()
    await announce(publisher, run_event(run_id, "engine", "finished", {}))
    await publisher.close()
    result = await asyncio.wait_for(
        archive_run(archive_settings, run_id, ArchiveOptions(mode=Mode.UNTIL_END)), 120
    )
    assert (result.status, result.final) == ("complete", True)
    con = duckdb.connect(str(result.path), read_only=True)
    counts = {
        stream: (messages, stored, duplicates, undecodable)
        for stream, messages, stored, duplicates, undecodable in con.execute(
            "SELECT stream, messages, stored, duplicates, undecodable FROM stream_counts"
        ).fetchall()
    }
    for stream, delivered in produced.delivered.items():
        messages, stored, duplicates, undecodable = counts[stream]
        assert messages == stored + duplicates + undecodable == delivered, stream
    ((faulted,),) = con.execute(
        "SELECT count(*) FROM faults WHERE fault = 'invalid_utf8'"
    ).fetchall()
    not_utf8 = con.execute(
        "SELECT raw FROM undecodable WHERE reason LIKE 'not valid UTF-8%'"
    ).fetchall()
    con.close()
    assert len(not_utf8) == faulted > 0
    assert all(b"\xff\xfe" in raw for (raw,) in not_utf8)


async def test_a_snapshot_of_a_run_in_progress_is_partial_and_resumes(
    bootstrap: str, archive_settings: Settings, run_id: str, tmp_path: Path
) -> None:
    run = make_sample_run(run_id, transactions=60)
    before, ends = without_end(run)
    await produce(bootstrap, run_id, before)
    first = await archive_run(archive_settings, run_id)
    assert (first.status, first.final, first.written.messages) == ("partial", False, len(before))
    await publish(bootstrap, run_id, ends)
    second = await archive_run(archive_settings, run_id)
    assert (second.status, second.final, second.written.messages) == ("complete", True, 2)
    reference = archive_settings.model_copy(update={"archive_dir": tmp_path / "reference"})
    assert (await archive_run(reference, run_id)).digest == second.digest


async def test_a_final_interrupted_archive_goes_on_when_its_run_is_resumed(
    bootstrap: str, archive_settings: Settings, run_id: str, tmp_path: Path
) -> None:
    run = make_sample_run(run_id, transactions=60)
    before, ends = without_end(run)
    half = len(before) // 2
    await produce(bootstrap, run_id, before[:half])
    # the run stops: both parts say so, and the archive closes for good as interrupted
    stopped = [run_event(run_id, part, "interrupted", {}) for part in ("producer", "engine")]
    await _announce_all(bootstrap, stopped)
    first = await archive_run(archive_settings, run_id, ArchiveOptions(mode=Mode.UNTIL_END))
    assert (first.status, first.final) == ("interrupted", True)
    again = await archive_run(archive_settings, run_id)
    assert again.already_final  # nothing new: left as it is
    # resumed: the parts start again, send the rest and finish
    restarted = [run_event(run_id, part, "started", {}) for part in ("producer", "engine")]
    await _announce_all(bootstrap, restarted)
    await publish(bootstrap, run_id, [*before[half:], *ends])
    resumed = await archive_run(archive_settings, run_id, ArchiveOptions(mode=Mode.UNTIL_END))
    assert (resumed.status, resumed.final, resumed.already_final) == ("complete", True, False)
    con = duckdb.connect(str(resumed.path), read_only=True)
    # every message of the run consumed once, across the two sessions
    counts = dict(con.execute("SELECT stream, messages FROM stream_counts").fetchall())
    con.close()
    for stream in ("browsing", "transactions", "customer"):
        assert counts[stream] == sum(m.stream == stream for m in run.messages), stream


async def _announce_all(bootstrap: str, events: list[RunEvent]) -> None:
    publisher = Publisher(bootstrap)
    await publisher.start()
    for event in events:
        await announce(publisher, event)
    await publisher.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["sigint", "sigterm"])
async def test_a_live_run_is_locked_to_readers_and_a_signal_closes_it_cleanly(
    bootstrap: str, archive_settings: Settings, run_id: str, sig: signal.Signals
) -> None:
    run = make_sample_run(run_id, transactions=60)
    before, ends = without_end(run)
    await produce(bootstrap, run_id, before)
    folder = archive_settings.archive_dir
    archiver = start_fraudlab(
        "archive",
        run_id,
        "--follow",
        "--bootstrap-servers",
        bootstrap,
        "--archive-dir",
        str(folder),
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert archiver.poll() is None, archiver.communicate()
            try:
                open_read_only(folder, run_id).close()
            except RunIsLive as exc:
                assert str(exc).startswith(f"run {run_id} is still being archived (pid ")
                break
            except Exception:
                pass  # the file does not exist yet
            assert time.monotonic() < deadline, "the archiver never took the file"
            time.sleep(0.2)
        report = fraudlab("report", run_id, "--archive-dir", str(folder))
        assert "is still being archived" in one_sentence(report)
        assert report.returncode == 1
        time.sleep(1.5)  # let it archive some or all of what is there
        archiver.send_signal(sig)
        out, err = archiver.communicate(timeout=60)
    finally:
        if archiver.poll() is None:
            archiver.kill()
            archiver.wait()
    assert archiver.returncode == 130, err
    assert f"archived run {run_id}: interrupted," in out
    con = open_read_only(folder, run_id)
    assert con.execute("SELECT status, final FROM run").fetchall() == [("interrupted", False)]
    ((kept,),) = con.execute("SELECT coalesce(sum(messages), 0) FROM stream_counts").fetchall()
    con.close()
    assert kept <= len(before)
    await publish(bootstrap, run_id, ends)
    resumed = await archive_run(archive_settings, run_id)
    assert (resumed.status, resumed.final) == ("complete", True)
    # what the interrupted session committed is not read again
    assert resumed.written.messages == len(run.messages) - kept


async def test_a_run_without_topics_is_one_sentence(
    archive_settings: Settings, bootstrap: str
) -> None:
    result = fraudlab(
        "archive",
        "no-such-run-x1",
        "--bootstrap-servers",
        bootstrap,
        "--archive-dir",
        str(archive_settings.archive_dir),
    )
    assert result.returncode == 2
    assert "run no-such-run-x1 has no topics at" in one_sentence(result)
    assert not (archive_settings.archive_dir / "no-such-run-x1.duckdb").exists()


async def test_a_read_only_folder_is_one_sentence(
    bootstrap: str, run_id: str, read_only_folder: Path
) -> None:
    await produce(bootstrap, run_id, make_sample_run(run_id, transactions=10).messages)
    result = fraudlab(
        "archive", run_id, "--bootstrap-servers", bootstrap, "--archive-dir", str(read_only_folder)
    )
    assert result.returncode == 1
    line = one_sentence(result)
    assert line.startswith(f"fraudlab: cannot write the archive of run {run_id} at ")
    assert "read-only" in line
    exported = fraudlab(
        "export-run", run_id, str(read_only_folder / "out"), "--archive-dir", str(read_only_folder)
    )
    assert exported.returncode == 2 and "no archived run" in one_sentence(exported)


async def test_a_full_disk_is_one_sentence_and_nothing_claims_to_be_complete(
    bootstrap: str, run_id: str, tiny_disk: Path
) -> None:
    run = make_sample_run(run_id, transactions=2500)
    await produce(bootstrap, run_id, run.messages)
    result = fraudlab(
        "archive", run_id, "--bootstrap-servers", bootstrap, "--archive-dir", str(tiny_disk)
    )
    line = one_sentence(result)
    assert result.returncode == 1
    assert f"of run {run_id}" in line and "disk is full" in line
    listing = fraudlab("runs", "--json", "--archive-dir", str(tiny_disk))
    statuses = {r["run_id"]: r["status"] for r in json.loads(listing.stdout)}
    assert statuses.get(run_id, "absent") != "complete"
