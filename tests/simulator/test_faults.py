"""Data faults: every one recorded as a Fault, and each doing what its name says."""

from __future__ import annotations

import random
from collections import Counter
from itertools import pairwise

import orjson
import pytest
from simulated_runs import records, small_scenario

from fraudlab.codec import decode, encode
from fraudlab.malformed import MALFORMED_KINDS, OVERSIZED_BYTES, malformed_value
from fraudlab.records import Browsing, Transaction
from simulator.simulation import Simulation

FAULTS = {"late": 0.05, "out_of_order": 0.05, "duplicates": 0.05, "malformed": 0.05}


@pytest.fixture(scope="module")
def dirty() -> tuple[Simulation, list]:
    sim = Simulation(small_scenario(faults=FAULTS), seed=2, minutes=6)
    return sim, list(sim.messages())


def _record_id(stream: str, value: bytes) -> str:
    obj = orjson.loads(value)
    return obj["event_id"] if stream == "browsing" else obj["transaction_id"]


def test_every_fault_kind_happens_and_is_recorded(dirty: tuple[Simulation, list]) -> None:
    _, messages = dirty
    faults = records(messages, "faults")
    kinds = Counter(f["fault"] for f in faults)
    assert {"late", "out_of_order", "duplicate", *MALFORMED_KINDS} <= set(kinds)
    events = sum(1 for m in messages if m.stream in ("browsing", "transactions"))
    assert 0.15 < len(faults) / events < 0.25
    assert {f["stream"] for f in faults} == {"browsing", "transactions"}


def test_late_events_arrive_late_some_beyond_two_minutes(dirty: tuple[Simulation, list]) -> None:
    sim, messages = dirty
    late = {f["record_id"]: f for f in records(messages, "faults") if f["fault"] == "late"}
    start = sim.clock.ts(0)
    delays = []
    for m in messages:
        if m.stream in ("browsing", "transactions"):
            try:
                rid = _record_id(m.stream, m.value)
            except orjson.JSONDecodeError:
                continue
            if rid in late:
                event_s = orjson.loads(m.value)["ts"] - start
                delays.append(m.deliver_at - event_s)
                assert abs(m.deliver_at - event_s - late[rid]["delay_s"]) < 2
    assert len(delays) == len(late) > 20
    assert any(d > 120 for d in delays) and any(d < 60 for d in delays)


def test_out_of_order_deliveries_are_overtaken(dirty: tuple[Simulation, list]) -> None:
    _, messages = dirty
    browsing = [m for m in messages if m.stream == "browsing"]
    ts = []
    for m in browsing:
        try:
            ts.append(orjson.loads(m.value)["ts"])
        except (orjson.JSONDecodeError, KeyError):
            continue
    assert any(b < a for a, b in pairwise(ts))
    delivery = [m.deliver_at for m in messages]
    assert delivery == sorted(delivery)


def test_duplicates_are_delivered_twice(dirty: tuple[Simulation, list]) -> None:
    _, messages = dirty
    duplicated = {f["record_id"] for f in records(messages, "faults") if f["fault"] == "duplicate"}
    seen: Counter[str] = Counter()
    for m in messages:
        if m.stream in ("browsing", "transactions"):
            try:
                seen[_record_id(m.stream, m.value)] += 1
            except (orjson.JSONDecodeError, KeyError, TypeError):
                continue
    assert duplicated and all(seen[r] == 2 for r in duplicated)
    assert {r for r, n in seen.items() if n > 1} == duplicated


def test_malformed_values_fail_to_decode(dirty: tuple[Simulation, list]) -> None:
    _, messages = dirty
    bad = 0
    for m in messages:
        cls: type[Browsing] | type[Transaction] | None = {
            "browsing": Browsing,
            "transactions": Transaction,
        }.get(m.stream)
        if cls is None:
            continue
        try:
            record: Browsing | Transaction = decode(cls, m.value)
            ok = encode(record) == m.value and isinstance(record.ts, int)
        except (ValueError, KeyError, TypeError):
            ok = False
        bad += not ok
    malformed = [f for f in records(messages, "faults") if f["fault"] in MALFORMED_KINDS]
    assert bad == len(malformed) > 10


@pytest.mark.parametrize("kind", MALFORMED_KINDS)
def test_each_malformed_kind_breaks_a_record(kind: str) -> None:
    value = encode(
        Browsing(
            "S1",
            "VI",
            "2026-01-05T00:00:00.000Z",
            "WEB",
            "iOS",
            "7",
            "10001",
            "1",
            "S1-1",
            1767571200,
        )
    )
    broken = malformed_value(kind, value, random.Random(1))
    assert broken != value
    if kind == "invalid_utf8":
        with pytest.raises(UnicodeDecodeError):
            broken.decode("utf-8")
    elif kind == "broken_json":
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(broken)
    elif kind == "oversized":
        assert len(broken) > OVERSIZED_BYTES
    elif kind == "missing_ts":
        assert "ts" not in orjson.loads(broken)
    else:
        assert isinstance(orjson.loads(broken)["ts"], str)


def test_no_faults_without_the_scenario_asking() -> None:
    messages = list(Simulation(small_scenario(), seed=2, minutes=2).messages())
    assert not [m for m in messages if m.stream == "faults"]
