"""The assignment's batching rule on small in-memory datasets."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from simulator.csv_batches import BatchRule, plan_batches


def browsing_rows(n: int, start_s: int = 0) -> Iterator[dict[str, str]]:
    for i in range(n):
        minute, second = divmod(start_s + i, 60)
        yield {
            "session_id": f"s{i % 7}",
            "event_type": "VP",
            "event_time": f"2026-01-05T10:{minute:02d}:{second:02d}Z",
            "traffic_source": "MOBILE",
            "device_type": "Android",
        }


def transaction_rows(times_s: list[int]) -> Iterator[dict[str, str]]:
    for i, t in enumerate(times_s):
        minute, second = divmod(t, 60)
        yield {
            "created_at": f"2026-01-05T10:{minute:02d}:{second:02d}Z",
            "transaction_id": f"t{i}",
            "customer_id": "c1",
            "total_amount": "10.5",
        }


def test_batches_are_between_the_bounds_and_spaced_by_the_interval() -> None:
    rule = BatchRule(min_rows=5, max_rows=9, interval_s=5)
    batches = list(plan_batches(browsing_rows(100), iter([]), {}, rule, 1000, random.Random(1)))
    assert sum(len(b.browsing) for b in batches) == 100
    assert all(5 <= len(b.browsing) <= 9 for b in batches[:-1])
    assert [b.ts for b in batches] == [1000 + 5 * i for i in range(len(batches))]
    assert len({len(b.browsing) for b in batches}) > 1, "sizes should vary"


def test_ts_is_an_integer_spread_evenly_over_the_interval() -> None:
    rule = BatchRule(min_rows=10, max_rows=10, interval_s=5)
    (batch, *_) = plan_batches(browsing_rows(10), iter([]), {}, rule, 1000, random.Random(1))
    stamps = [r["ts"] for r in batch.browsing]
    assert all(isinstance(t, int) for t in stamps)
    assert stamps == [1000, 1000, 1001, 1001, 1002, 1002, 1003, 1003, 1004, 1004]


def test_fields_keep_their_strings_and_customer_id_comes_from_sessions() -> None:
    rule = BatchRule(min_rows=3, max_rows=3)
    (batch, *_) = plan_batches(
        browsing_rows(3), iter([]), {"s0": "c9", "s1": "c8"}, rule, 0, random.Random(1)
    )
    assert [r["customer_id"] for r in batch.browsing] == ["c9", "c8", ""]
    assert all(isinstance(v, str) for r in batch.browsing for k, v in r.items() if k != "ts")


def test_transactions_go_with_the_batch_whose_event_time_span_holds_them() -> None:
    rule = BatchRule(min_rows=10, max_rows=10, interval_s=5)
    # browsing rows at 0..29 s: batches span 0-9, 10-19, 20-29
    txs = transaction_rows([3, 9, 12, 25, 40])
    batches = list(plan_batches(browsing_rows(30), txs, {}, rule, 1000, random.Random(1)))
    ids = [[t["transaction_id"] for t in b.transactions] for b in batches]
    assert ids == [["t0", "t1"], ["t2"], ["t3"], ["t4"]]  # the late one is never dropped
    for b in batches:
        assert all(b.ts <= t["ts"] < b.ts + 5 for t in b.transactions)


def test_rows_are_read_lazily() -> None:
    consumed = 0

    def counting() -> Iterator[dict[str, str]]:
        nonlocal consumed
        for row in browsing_rows(10_000):
            consumed += 1
            yield row

    rule = BatchRule(min_rows=200, max_rows=500)
    first = next(plan_batches(counting(), iter([]), {}, rule, 0, random.Random(3)))
    assert consumed == len(first.browsing) <= 500


@pytest.mark.parametrize(("lo", "hi", "interval"), [(0, 5, 5), (6, 5, 5), (1, 2, 0)])
def test_bad_rules_are_refused(lo: int, hi: int, interval: int) -> None:
    with pytest.raises(ValueError):
        BatchRule(lo, hi, interval)


def test_given_a_clock_each_batch_is_stamped_when_it_is_planned_never_backwards() -> None:
    rule = BatchRule(min_rows=10, max_rows=10, interval_s=5)
    readings = iter([5000, 4990, 5001, 5001])
    batches = plan_batches(
        browsing_rows(40), iter([]), {}, rule, 1000, random.Random(1), now=lambda: next(readings)
    )
    assert [b.ts for b in batches] == [5000, 5000, 5001, 5001]


def test_naive_times_are_local_to_the_dataset_s_zone() -> None:
    rule = BatchRule(min_rows=10, max_rows=10, interval_s=5)

    def batches(zone: str) -> list[list[str]]:
        # browsing at 10:00:00-10:00:19 UTC; the transaction is written naive
        tx = {"created_at": "2026-01-05 17:00:05", "transaction_id": "t0", "customer_id": "c"}
        planned = plan_batches(
            browsing_rows(20), iter([tx]), {}, rule, 0, random.Random(1), zone=zone
        )
        return [[str(t["transaction_id"]) for t in b.transactions] for b in planned]

    # 17:00:05 in Jakarta is 10:00:05 UTC: the first batch's span
    assert batches("Asia/Jakarta") == [["t0"], []]
    # read as UTC it is after every browsing row: a last batch of its own, never dropped
    assert batches("UTC") == [[], [], ["t0"]]
