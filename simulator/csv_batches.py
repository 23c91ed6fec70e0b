"""The assignment's CSV streaming rule, as pure logic over row iterators.

Every interval (5 s) one batch of a random 200-500 browsing rows (bounds configurable) is read
sequentially from browsing_behaviour.csv; its rows get integer ``ts`` values spread evenly over
the interval; the transactions whose ``created_at`` falls within the batch's event-time span go
alongside (time-sorted files are read with a cursor, so no file is held in memory; a transaction
older than the span goes with the next batch rather than being lost). Every field keeps its
original string; where a browsing row lacks customer_id it is looked up in customer_session.csv.

Batch n is stamped ``first_ts + n * interval`` (reproducible, and the moment it is due when paced
from the wall clock), or, given ``now``, the moment it is planned, just before it is sent
(``--fast``, where batches go back to back and planned stamps would run ahead of the clock).
Times are read by :func:`fraudlab.field_values.event_time`; naive times are local to ``zone``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from fraudlab.field_values import DEFAULT_TIME_ZONE, event_time

Row = dict[str, str | int]


@dataclass(frozen=True)
class BatchRule:
    """How rows are cut into timed batches."""

    min_rows: int = 200
    max_rows: int = 500
    interval_s: int = 5

    def __post_init__(self) -> None:
        if not 1 <= self.min_rows <= self.max_rows:
            raise ValueError("batch bounds must satisfy 1 <= min_rows <= max_rows")
        if self.interval_s < 1:
            raise ValueError("the batch interval must be at least 1 s")


@dataclass
class CsvBatch:
    """One timed batch: its number, its first ts, and the rows that travel in it."""

    number: int
    ts: int
    browsing: list[Row] = field(default_factory=list)
    transactions: list[Row] = field(default_factory=list)


def parse_time(text: str) -> float:
    """Unix seconds of a time, naive times read as UTC: what models.history expects.

    Kept for models.history until it reads times with the dataset's zone through
    :func:`fraudlab.field_values.event_time`, as this module does.

    >>> parse_time("2026-01-05T00:00:10Z"), parse_time("2026-01-05 00:00:10.500000")
    (1767571210.0, 1767571210.5)
    """
    return event_time(text, "UTC")


def spread_ts(first_ts: int, count: int, interval_s: int) -> list[int]:
    """Integer timestamps for ``count`` rows, evenly over ``interval_s`` seconds from first_ts.

    >>> spread_ts(100, 4, 5)
    [100, 101, 102, 103]
    >>> spread_ts(100, 2, 5)
    [100, 102]
    """
    return [first_ts + (i * interval_s) // count for i in range(count)]


class _TransactionCursor:
    """Reads a time-sorted transactions iterator up to a given event time."""

    def __init__(self, rows: Iterator[dict[str, str]], zone: str) -> None:
        self._rows = rows
        self._zone = zone
        self._pending: dict[str, str] | None = None

    def until(self, end_time: float) -> list[dict[str, str]]:
        taken: list[dict[str, str]] = []
        while True:
            if self._pending is None:
                self._pending = next(self._rows, None)
                if self._pending is None:
                    return taken
            if event_time(self._pending["created_at"], self._zone) > end_time:
                return taken
            taken.append(self._pending)
            self._pending = None

    def rest(self) -> list[dict[str, str]]:
        taken = [] if self._pending is None else [self._pending]
        self._pending = None
        taken.extend(self._rows)
        return taken


def plan_batches(
    browsing: Iterator[dict[str, str]],
    transactions: Iterator[dict[str, str]],
    session_customers: dict[str, str],
    rule: BatchRule,
    first_ts: int,
    rng: random.Random,
    *,
    zone: str = DEFAULT_TIME_ZONE,
    now: Callable[[], int] | None = None,
) -> Iterator[CsvBatch]:
    """The batches of a dataset, in order; the last one also carries any later transactions.

    Rows must be readable (see :mod:`simulator.csv_rows`): their times are not checked again.
    """
    cursor = _TransactionCursor(transactions, zone)
    number = 0
    last_ts = first_ts

    def stamp(number: int) -> int:
        nonlocal last_ts
        if now is None:
            return first_ts + number * rule.interval_s
        last_ts = max(last_ts, now())  # never backwards, even if the clock is set back
        return last_ts

    while True:
        size = rng.randint(rule.min_rows, rule.max_rows)
        rows = [row for _, row in zip(range(size), browsing, strict=False)]
        if not rows:
            break
        batch = CsvBatch(number, stamp(number))
        stamps = spread_ts(batch.ts, len(rows), rule.interval_s)
        for row, ts in zip(rows, stamps, strict=True):
            out: Row = dict(row)
            if not out.get("customer_id"):
                out["customer_id"] = session_customers.get(row.get("session_id", ""), "")
            out["ts"] = ts
            batch.browsing.append(out)
        span_start = event_time(rows[0]["event_time"], zone)
        span_end = max(event_time(r["event_time"], zone) for r in rows)
        span = max(span_end - span_start, 1e-9)
        for tx in cursor.until(span_end):
            when = event_time(tx["created_at"], zone)
            offset = min(max(when - span_start, 0.0) / span, 1.0) * (rule.interval_s - 1)
            batch.transactions.append({**tx, "ts": batch.ts + int(offset)})
        number += 1
        yield batch
    leftovers = cursor.rest()
    if leftovers:
        # transactions after the last browsing row: one final batch, never dropped
        ts = stamp(number)
        yield CsvBatch(number, ts, [], [{**tx, "ts": ts} for tx in leftovers])
