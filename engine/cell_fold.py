"""The location fold: the second stateful step of scoring, keyed by the location cell.

The customer fold (:mod:`engine.bucket_fold`) turns a customer's events into the customer's part
of each transaction's feature row. What other accounts shipped to the same place is keyed
differently, by the location cell of the shipping address (:mod:`features.location`), so it is
kept by a second stateful operator in the same query: Spark groups the customer fold's output by
cell bucket and calls :func:`fold_cell_bucket` once per bucket and micro-batch. It adds each
transaction's cell figures, scores it with the rules in force and writes its Score; every other
row of the customer fold (dead letters, frontier reports) passes through unchanged.

**How the two meet, and why it holds under any cut.** A transaction's cell figures must count
every transaction to its cell before its second, whichever customer bucket folded them. The
customer fold passes a transaction on once the frontier passed it, but holds a transaction that
arrived in the same micro-batch one more (for its identity claims), so transactions of one second
can reach this fold in different micro-batches. So each customer bucket also says, every
micro-batch it runs, the event time before which it has passed on every transaction it will fold
(its frontier, or its first held record if earlier: ``passed``). This fold holds the rows it
receives until the least ``passed`` of all customer buckets is beyond their second, then folds
them second by second (:func:`features.location.fold_cells`). By then every transaction before
them has come, from every bucket, whatever the micro-batches were: the figures, and so the
scores, are the same for a paced run, a fast run and the batch path. A row that arrives after
that point (a record the customer fold took after its frontier passed it, which it counts as
``after_frontier``) is folded in when it comes.

Rule changes reach every customer bucket; bucket ``b`` passes the ones it accepted to cell
bucket ``b``, so each cell bucket keeps the same rule book. Pure: fed with lists in unit tests.

>>> row = {"transaction_id": "t1", "session_id": "s1", "customer_id": "c1", "ts": 100,
...        "cell": "888c106a49fffff", "distance_km": 900.0, "new_device": 0.0,
...        "total_amount": 50.0, "shipment_lat": -6.2, "shipment_long": 106.8,
...        "product_metadata": "[]", "payment_method": "OVO"}
>>> state = CellBucketState()
>>> sent = to_cells([row], [], 100, bucket=0, cells=1, buckets=1)
>>> [key for _, key, _ in sent]
['transaction:0', 'passed:0']
>>> fold_cell_bucket(state, sent, 1, lambda rows: [0.9] * len(rows), STAMP, TOPICS)  # held
[]
>>> ((topic, key, value),) = fold_cell_bucket(state, to_cells([], [], 101, 0, 1, 1), 1,
...                                           lambda rows: [0.9] * len(rows), STAMP, TOPICS)
>>> topic, key, sorted(state.cells)
('fraudlab.r.scores', 't1', ['888c106a49fffff'])
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from engine.verdicts import (
    Challenger,
    Explainer,
    ModelStamp,
    Scorer,
    SinkRow,
    verdict_rows,
)
from features.location import DAY_S, CellState, cell_bucket, fold_cells
from rulebook.rules import rule_book_of

# the topic of a row that goes from the customer fold to the location fold, never to Kafka
CELLS = ""
# The location fold's buckets. Few: each is one call of the processor per micro-batch, with its
# state read and written through Spark's state API, and a bucket of cells holds far less than one
# of customers (the benchmark's fixed cost per micro-batch grew with 32 of them). Fixed for a run
# once its checkpoints exist.
CELL_BUCKETS = 4
TRANSACTION, PASSED, RULE = "transaction", "passed", "rule"


def to_cells(
    features: list[dict[str, Any]],
    rules: list[str],
    passed: int | None,
    bucket: int,
    cells: int,
    buckets: int,
) -> list[SinkRow]:
    """What customer bucket ``bucket`` (of ``buckets``) sends the location fold after a
    micro-batch: each feature row to its cell's bucket (of ``cells``); the rule changes it
    accepted to the cell buckets it answers for (``c % buckets == bucket``: every customer
    bucket reads every change, and each cell bucket gets it once); and to every cell bucket the
    event time before which it has passed on every transaction (``passed``; nothing while it has
    no frontier). Rows ``(CELLS, "kind:cell bucket", value)``: :func:`target` reads the cell
    bucket of each from its key."""
    out: list[SinkRow] = [
        (CELLS, f"{TRANSACTION}:{cell_bucket(row['cell'], cells)}", orjson.dumps(row).decode())
        for row in features
    ]
    mine = [c for c in range(cells) if c % buckets == bucket]
    out.extend((CELLS, f"{RULE}:{c}", rule) for rule in rules for c in mine)
    if passed is not None:
        said = orjson.dumps([bucket, passed]).decode()
        out.extend((CELLS, f"{PASSED}:{to}", said) for to in range(cells))
    return out


def target(row: SinkRow, own: int, cells: int) -> int:
    """The cell bucket a row of the customer fold goes to: the one its key names (a transaction's
    cell's, or where :func:`to_cells` sent a rule change or a ``passed``); any other row (bound
    for Kafka) to ``own`` (the customer bucket's number, so the pass-through rows stay spread)."""
    topic, key, _ = row
    return own % cells if topic != CELLS else int(key.rpartition(":")[2])


@dataclass
class CellBucketState:
    """What one cell bucket keeps between micro-batches: ``cells``, cell id -> the JSON of its
    :class:`~features.location.CellState` and ``last``, cell id -> its latest shipment's time
    (to expire cells without reading them); ``held``: transaction rows waiting for every customer
    bucket to pass their second; ``passed``: customer bucket -> the time it last said it passed;
    ``rules``: the run's rule changes, in the order they came."""

    cells: dict[str, str] = field(default_factory=dict)
    last: dict[str, int] = field(default_factory=dict)
    held: list[dict[str, Any]] = field(default_factory=list)
    passed: dict[str, int] = field(default_factory=dict)
    rules: list[str] = field(default_factory=list)

    def to_columns(self) -> tuple[str, str, str]:
        """The state as Spark keeps it: three JSON strings."""
        return (
            orjson.dumps({"cells": self.cells, "last": self.last}).decode(),
            orjson.dumps(self.held).decode(),
            orjson.dumps({"passed": self.passed, "rules": self.rules}).decode(),
        )

    @classmethod
    def from_columns(cls, columns: tuple[str, str, str] | None) -> CellBucketState:
        if columns is None:
            return cls()
        cells, held, position = (orjson.loads(c) for c in columns)
        return cls(cells["cells"], cells["last"], held, position["passed"], position["rules"])

    def release_point(self, buckets: int) -> int | None:
        """The event time before which every customer bucket has passed on its transactions;
        None until each of the ``buckets`` has said."""
        if len(self.passed) < buckets:
            return None
        return min(self.passed.values())


def fold_cell_bucket(
    state: CellBucketState,
    rows: Iterable[SinkRow],
    buckets: int,
    score: Scorer,
    model: ModelStamp,
    topics: dict[str, str],
    explain: Explainer | None = None,
    explain_every: bool = False,
    challenger: Challenger | None = None,
) -> list[SinkRow]:
    """Fold one micro-batch of a cell bucket's rows (from :func:`to_cells`, and the customer
    fold's Kafka rows) into ``state``, updated in place; ``buckets`` is the number of customer
    buckets. Returns the Kafka sink rows: the Kafka rows as they came, then the Scores of the
    transactions released, in event-time order."""
    out: list[SinkRow] = []
    for topic, key, value in rows:
        kind = key.partition(":")[0]
        if topic != CELLS:
            out.append((topic, key, value))
        elif kind == TRANSACTION:
            state.held.append(orjson.loads(value))
        elif kind == RULE:
            state.rules.append(value)
        else:
            customer_bucket, passed = orjson.loads(value)
            state.passed[str(customer_bucket)] = max(
                int(passed), state.passed.get(str(customer_bucket), int(passed))
            )
    now = state.release_point(buckets)
    if now is None or not state.held:
        return out
    due = [r for r in state.held if int(r["ts"]) < now]
    if not due:
        return out
    state.held = [r for r in state.held if int(r["ts"]) >= now]
    touched = {r["cell"] for r in due if r["cell"]}
    cells = {
        c: CellState.from_json(state.cells[c]) if c in state.cells else CellState() for c in touched
    }
    fold_cells(cells, due)
    for c, cell in cells.items():
        cell.expire(now)
        state.cells[c] = cell.to_json()
        state.last[c] = cell.shipments[-1][0] if cell.shipments else now - DAY_S - 1
    _expire(state, now)
    due.sort(key=lambda r: (int(r["ts"]), str(r["transaction_id"])))
    book = rule_book_of(tuple(state.rules))
    out.extend(
        verdict_rows(due, book, score, model, topics["scores"], explain, explain_every, challenger)
    )
    return out


def _expire(state: CellBucketState, now: int) -> None:
    """Forget the cells whose latest shipment is more than a day before ``now`` (the longest
    window): their figures would all be zero. A kept cell's old shipments go when it is next
    read (:meth:`features.location.CellState.expire`)."""
    for c in [c for c, ts in state.last.items() if ts < now - DAY_S]:
        del state.cells[c]
        del state.last[c]


STAMP = ModelStamp("m", "d" * 64, 0.5)
TOPICS = {"dead-letter": "fraudlab.r.dead-letter", "scores": "fraudlab.r.scores"}

__all__ = [
    "CELLS",
    "CellBucketState",
    "fold_cell_bucket",
    "target",
    "to_cells",
]
