"""An archived run's input read back in the order its producer sent it (no broker needed)."""

from __future__ import annotations

from pathlib import Path

import pytest
from written_archives import (
    Sent,
    partitioned,
    producer_events,
    sent_records,
    simulated_run,
    write_archive,
)

from archive.files import reading
from replay.archived_messages import STATIC_STREAMS, ArchivedMessage, archived_messages

SOURCE = "dirty-source"


@pytest.fixture(scope="module")
def dirty_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[Sent]]:
    """Three minutes of late-and-dirty, archived: late, reordered, duplicated and broken input."""
    folder = tmp_path_factory.mktemp("dirty")
    messages, details = simulated_run("late-and-dirty", 17, 3)
    events = sent_records(producer_events(SOURCE, details))
    write_archive(folder, SOURCE, [events[0], *messages, events[1]])
    return folder, messages


@pytest.fixture(scope="module")
def replayed(dirty_run: tuple[Path, list[Sent]]) -> list[ArchivedMessage]:
    with reading(dirty_run[0], SOURCE) as con:
        return list(archived_messages(con, SOURCE))


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode()
    except UnicodeDecodeError:
        return False
    return True


def _by_partition(messages: list[ArchivedMessage]) -> dict[tuple[str, int], list[ArchivedMessage]]:
    out: dict[tuple[str, int], list[ArchivedMessage]] = {}
    for m in messages:
        out.setdefault((m.stream, m.partition), []).append(m)
    return out


def test_every_partition_holds_the_original_values_in_the_original_order(
    dirty_run: tuple[Path, list[Sent]], replayed: list[ArchivedMessage]
) -> None:
    original = partitioned(dirty_run[1])
    again = _by_partition(replayed)
    assert set(again) == set(original)
    assert sum(len(sent) for sent in original.values()) > 1000  # a run, not an empty one
    for where, sent in original.items():
        assert [m.value for m in again[where]] == [m.value for m in sent], where
        assert [m.offset for m in again[where]] == list(range(len(sent)))
        for m, first in zip(again[where], sent, strict=True):
            # a broken value whose key it no longer shows goes back without one
            assert m.key == first.key or (m.raw and m.key is None and first.key not in m.value)


def test_broken_values_go_back_raw_and_oversized_ones_are_rebuilt(
    dirty_run: tuple[Path, list[Sent]], replayed: list[ArchivedMessage]
) -> None:
    with reading(dirty_run[0], SOURCE) as con:
        ((undecodable,),) = con.execute("SELECT count(*) FROM undecodable").fetchall()
        ((oversized,),) = con.execute(
            "SELECT count(*) FROM faults WHERE fault = 'oversized'"
        ).fetchall()
        ((not_utf8,),) = con.execute(
            "SELECT count(*) FROM faults WHERE fault = 'invalid_utf8'"
        ).fetchall()
    raw = [m for m in replayed if m.raw]
    assert len(raw) == undecodable > 0
    assert sum(not _is_utf8(m.value) for m in raw) == not_utf8 > 0
    assert sum(m.key is not None for m in raw) > len(raw) / 2
    rebuilt = [m for m in replayed if not m.raw and len(m.value) > 300_000]
    assert len(rebuilt) == oversized > 0


def test_sending_times_are_rebuilt_within_the_second_and_never_later(
    dirty_run: tuple[Path, list[Sent]], replayed: list[ArchivedMessage]
) -> None:
    original = partitioned(dirty_run[1])
    again = _by_partition(replayed)
    early = 0
    for where, sent in original.items():
        for m, first in zip(again[where], sent, strict=True):
            assert 0 <= first.timestamp_ms - m.at_ms < 1000, (where, m.offset)
            early += first.timestamp_ms != m.at_ms
    # only held-back deliveries (their delay is stored in whole seconds) and what shares a
    # partition behind them are early
    assert early < 0.1 * len(replayed)
    times = [m.at_ms for m in replayed]
    assert times == sorted(times)


def test_static_data_comes_before_the_first_event(replayed: list[ArchivedMessage]) -> None:
    first_event = next(i for i, m in enumerate(replayed) if m.stream not in STATIC_STREAMS)
    assert {m.stream for m in replayed[:first_event]} >= {"customer", "category", "product"}
    opening = {m.stream for m in replayed[:first_event]}
    assert opening <= set(STATIC_STREAMS)


def test_a_clean_run_gets_its_sending_times_to_the_millisecond(tmp_path: Path) -> None:
    messages, details = simulated_run("baseline", 7, 1)
    events = sent_records(producer_events("clean", details))
    write_archive(tmp_path, "clean", [events[0], *messages, events[1]])
    with reading(tmp_path, "clean") as con:
        again = list(archived_messages(con, "clean"))
    exact = {"browsing", "transactions", "truth", "customer_session", "category", "product"}
    # a minute's stock changes are its openings and the sales sent with their transactions
    # (restock arrivals and a checkout left empty are known to the second only)
    exact.add("inventory")
    original = partitioned(messages)
    checked = set()
    for where, m_again in _by_partition(again).items():
        if where[0] in exact:
            assert [m.at_ms for m in m_again] == [m.timestamp_ms for m in original[where]]
            checked.add(where[0])
    assert checked == exact
