"""Runs that cannot be replayed say why in one sentence, before any broker is asked."""

from __future__ import annotations

from pathlib import Path

import pytest
from written_archives import Sent, producer_events, sent_records, simulated_run, write_archive

from archive.files import RunIsLive
from archive.writer import ArchiveWriter
from fraudlab.errors import FraudlabError, UsageError
from fraudlab.records import Score
from fraudlab.settings import Settings
from replay.republish import RunIdTaken, republish_run
from replay.source import ArchiveNotFinished, NoInputStreams, PartitionsDiffer


@pytest.fixture(scope="module")
def baseline_minute() -> tuple[list[Sent], dict[str, object]]:
    return simulated_run("baseline", 7, 0.5)


async def _refused(settings: Settings, run_id: str, kind: type[FraudlabError]) -> str:
    with pytest.raises(kind) as caught:
        await republish_run(settings, run_id, f"{run_id}-again", None, details={})
    message = str(caught.value)
    assert "\n" not in message and message.endswith(".")
    return message


async def test_an_unknown_run(offline_settings: Settings) -> None:
    message = await _refused(offline_settings, "no-such-run", UsageError)
    assert message.startswith("no archived run 'no-such-run' in ")


async def test_a_run_still_being_archived(offline_settings: Settings, archive_dir: Path) -> None:
    writer = ArchiveWriter.open(archive_dir, "live-run")
    try:
        message = await _refused(offline_settings, "live-run", RunIsLive)
    finally:
        writer.close()
    assert message.startswith("run live-run is still being archived")


async def test_a_run_whose_producer_never_finished(
    offline_settings: Settings,
    archive_dir: Path,
    baseline_minute: tuple[list[Sent], dict[str, object]],
) -> None:
    messages, details = baseline_minute
    started, _ = sent_records(producer_events("cut-short", details))
    write_archive(archive_dir, "cut-short", [started, *messages[:500]], close=False)
    message = await _refused(offline_settings, "cut-short", ArchiveNotFinished)
    assert "fraudlab archive cut-short --until-end" in message


async def test_a_run_without_input(offline_settings: Settings, archive_dir: Path) -> None:
    results = [
        *producer_events("results-only", {}),
        Score("t1", "s1", "c1", 100, 0.9, 1, "m", "d", 1.0, 0.0, 0.0, "[]"),
    ]
    write_archive(archive_dir, "results-only", sent_records(results))
    message = await _refused(offline_settings, "results-only", NoInputStreams)
    assert message.startswith("the archive of run results-only holds no browsing events")


async def test_a_run_published_to_another_partition_count(
    offline_settings: Settings,
    archive_dir: Path,
    baseline_minute: tuple[list[Sent], dict[str, object]],
) -> None:
    messages, details = baseline_minute
    events = sent_records(producer_events("three-ways", details))
    write_archive(archive_dir, "three-ways", [events[0], *messages, events[1]], partitions=3)
    message = await _refused(offline_settings, "three-ways", PartitionsDiffer)
    assert "topic_partitions = 2" in message


async def test_a_replay_needs_a_run_id_of_its_own(
    offline_settings: Settings,
    archive_dir: Path,
    baseline_minute: tuple[list[Sent], dict[str, object]],
) -> None:
    messages, details = baseline_minute
    events = sent_records(producer_events("original", details))
    write_archive(archive_dir, "original", [events[0], *messages, events[1]])
    with pytest.raises(RunIdTaken, match="a replay of run original needs a run id of its own"):
        await republish_run(offline_settings, "original", "original", None, details={})
