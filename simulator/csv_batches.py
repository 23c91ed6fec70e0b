"""The assignment's CSV streaming rule, as pure logic over row iterators.

Every interval (5 s) one batch of a random 200-500 browsing rows (bounds configurable) is read
sequentially from browsing_behaviour.csv; its rows get integer ``ts`` values spread evenly over
the interval; the transactions whose ``created_at`` falls within the batch's event-time span go
alongside (time-sorted files are read with a cursor, so no file is held in memory; a transaction
older than the span goes with the next batch rather than being lost). Every field keeps its
original string; where a browsing row lacks customer_id it is looked up in customer_session.csv.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

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
    """Unix seconds of an ISO-8601 time as the datasets write it (naive times are UTC).

    >>> parse_time("2026-01-05T00:00:10Z"), parse_time("2026-01-05 00:00:10.500000")
    (1767571210.0, 1767571210.5)
    """
    parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.timestamp()


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

    def __init__(self, rows: Iterator[dict[str, str]]) -> None:
        self._rows = rows
        self._pending: dict[str, str] | None = None

    def until(self, end_time: float) -> list[dict[str, str]]:
        taken: list[dict[str, str]] = []
        while True:
            if self._pending is None:
                self._pending = next(self._rows, None)
                if self._pending is None:
                    return taken
            if parse_time(self._pending["created_at"]) > end_time:
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
) -> Iterator[CsvBatch]:
    """The batches of a dataset, in order; the last one also carries any later transactions."""
    cursor = _TransactionCursor(transactions)
    number = 0
    while True:
        size = rng.randint(rule.min_rows, rule.max_rows)
        rows = [row for _, row in zip(range(size), browsing, strict=False)]
        if not rows:
            break
        batch = CsvBatch(number, first_ts + number * rule.interval_s)
        stamps = spread_ts(batch.ts, len(rows), rule.interval_s)
        for row, ts in zip(rows, stamps, strict=True):
            out: Row = dict(row)
            if not out.get("customer_id"):
                out["customer_id"] = session_customers.get(row.get("session_id", ""), "")
            out["ts"] = ts
            batch.browsing.append(out)
        span_start = parse_time(rows[0]["event_time"])
        span_end = max(parse_time(r["event_time"]) for r in rows)
        span = max(span_end - span_start, 1e-9)
        for tx in cursor.until(span_end):
            when = parse_time(tx["created_at"])
            offset = min(max(when - span_start, 0.0) / span, 1.0) * (rule.interval_s - 1)
            batch.transactions.append({**tx, "ts": batch.ts + int(offset)})
        number += 1
        yield batch
    leftovers = cursor.rest()
    if leftovers:
        # transactions after the last browsing row: one final batch, never dropped
        ts = first_ts + number * rule.interval_s
        yield CsvBatch(number, ts, [], [{**tx, "ts": ts} for tx in leftovers])
