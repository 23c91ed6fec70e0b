"""The location fold: held until every customer bucket passed a second, then the same scores
however the customer buckets' output was cut into micro-batches."""

from __future__ import annotations

import itertools
import json
import random
from typing import Any

from engine.cell_fold import (
    CELLS,
    CellBucketState,
    fold_cell_bucket,
    target,
    to_cells,
)
from engine.verdicts import ModelStamp, SinkRow
from features.location import DEFAULT_RESOLUTION, cell_bucket, cell_of, fold_cells
from rulebook.rules import Rule, RuleChange

STAMP = ModelStamp("m", "d" * 64, 0.5)
TOPICS = {"dead-letter": "fraudlab.r.dead-letter", "scores": "fraudlab.r.scores"}
DROP = cell_of("-6.2", "106.8", DEFAULT_RESOLUTION)
HOME = cell_of("-6.3", "106.9", DEFAULT_RESOLUTION)


def _row(n: int, ts: int, customer: str, cell: str, far: bool) -> dict[str, Any]:
    return {
        "transaction_id": f"t{n}",
        "session_id": f"s{n}",
        "customer_id": customer,
        "ts": ts,
        "cell": cell,
        "distance_km": 800.0 if far else 2.0,
        "new_device": 0.0,
        "total_amount": 100.0,
        "shipment_lat": -6.2,
        "shipment_long": 106.8,
        "product_metadata": "[]",
        "payment_method": "OVO",
    }


def _far_share(rows: list[dict[str, Any]]) -> list[float]:
    # a "probability" that is the cell figure itself: the scores show what the fold saw
    return [min(r["cell_far_customers_1h"] / 10, 1.0) for r in rows]


def _scores(out: list[SinkRow]) -> dict[str, float]:
    return {k: json.loads(v)["probability"] for t, k, v in out if t == TOPICS["scores"]}


def _run(
    batches: list[list[SinkRow]], cells: int, buckets: int
) -> tuple[dict[str, float], list[SinkRow]]:
    states = [CellBucketState() for _ in range(cells)]
    scores: dict[str, float] = {}
    passed: list[SinkRow] = []
    for batch in batches:
        routed: dict[int, list[SinkRow]] = {}
        for own, row in batch:  # type: ignore[misc]
            routed.setdefault(target(row, own, cells), []).append(row)
        for b, rows in sorted(routed.items()):
            out = fold_cell_bucket(states[b], rows, buckets, _far_share, STAMP, TOPICS)
            scores.update(_scores(out))
            passed.extend(r for r in out if r[0] != TOPICS["scores"])
    return scores, passed


def _stream(seed: int, buckets: int) -> list[list[tuple[int, SinkRow]]]:
    """What ``buckets`` customer buckets send over micro-batches: transactions of a ring (far
    customers to one drop cell) and locals, each bucket passing its transactions on in event
    time, a micro-batch at a time, some of them one micro-batch late (held for identity)."""
    data = random.Random(0)  # the same transactions, cut differently by each seed
    rows = [
        _row(
            n,
            1000 + n * 7 // 3,
            f"c{data.randrange(40)}",
            data.choice([DROP, HOME]),
            data.random() < 0.5,
        )
        for n in range(120)
    ]
    rng = random.Random(seed)
    by_bucket: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        by_bucket.setdefault(int(r["customer_id"][1:]) % buckets, []).append(r)
    cuts = sorted({1000, *rng.sample(range(1000, 1300), 9), 1300})
    batches: list[list[tuple[int, SinkRow]]] = []
    late: dict[int, list[dict[str, Any]]] = {}
    for lo, hi in itertools.pairwise(cuts):
        batch: list[tuple[int, SinkRow]] = []
        for b in range(buckets):
            mine = [r for r in by_bucket.get(b, []) if lo <= r["ts"] < hi]
            # a bucket holds its transactions from a random point on to the next micro-batch
            held_from = rng.randrange(len(mine) + 1)
            now, hold = mine[:held_from] + late.pop(b, []), mine[held_from:]
            late[b] = hold
            passed = min([hi, *(r["ts"] for r in hold)])
            batch.extend((b, row) for row in to_cells(now, [], passed, b, 4, buckets))
        batches.append(batch)
    batches.append(
        [
            (b, row)
            for b in range(buckets)
            for row in to_cells(late.pop(b, []), [], 2**62, b, 4, buckets)
        ]
    )
    return batches


def test_the_same_transactions_give_the_same_scores_however_they_are_cut() -> None:
    first, _ = _run(_stream(1, 3), 4, 3)  # type: ignore[arg-type]
    second, _ = _run(_stream(2, 3), 4, 3)  # type: ignore[arg-type]
    # the batch path: every transaction at once (features.location.fold_cells)
    everything = [
        json.loads(row[2])
        for batch in _stream(3, 3)
        for _, row in batch
        if row[1].startswith("transaction:")
    ]
    fold_cells({}, everything)
    batch = {
        r["transaction_id"]: p for r, p in zip(everything, _far_share(everything), strict=True)
    }
    assert len(first) == 120 and first == second == batch
    assert max(first.values()) > 0.3  # the ring's cell saw many far customers


def test_nothing_is_released_until_every_customer_bucket_has_passed_its_second() -> None:
    state = CellBucketState()
    row = _row(1, 500, "c1", DROP, True)
    sent = to_cells([row], [], 501, bucket=0, cells=1, buckets=2)
    assert fold_cell_bucket(state, sent, 2, _far_share, STAMP, TOPICS) == []
    # bucket 1 has passed only 400: a transaction of bucket 1 before 500 may still come
    assert (
        fold_cell_bucket(state, to_cells([], [], 400, 1, 1, 2), 2, _far_share, STAMP, TOPICS) == []
    )
    out = fold_cell_bucket(state, to_cells([], [], 501, 1, 1, 2), 2, _far_share, STAMP, TOPICS)
    assert list(_scores(out)) == ["t1"] and state.held == []


def test_rows_bound_for_kafka_pass_through_and_rules_reach_the_named_bucket() -> None:
    letter = ("fraudlab.r.dead-letter", "k", "{}")
    assert target(letter, 5, 4) == 1
    change = RuleChange.add(Rule("drop", "drop point", "cell_far_customers_1h >= 3.0", "flag"))
    rule = change.to_json().decode()
    # with 3 customer buckets and 4 cell buckets, customer bucket 0 answers for cells 0 and 3
    sent = to_cells([], [rule], 10, bucket=0, cells=4, buckets=3)
    assert [(r[1], target(r, 0, 4)) for r in sent] == [
        ("rule:0", 0), ("rule:3", 3), ("passed:0", 0), ("passed:1", 1), ("passed:2", 2),
        ("passed:3", 3),
    ]  # fmt: skip
    # and every cell bucket gets each change once, whichever customer buckets there are
    for buckets in (1, 2, 4, 32):
        every = [to_cells([], [rule], None, b, 4, buckets) for b in range(buckets)]
        assert sorted(target(r, 0, 4) for rows in every for r in rows) == [0, 1, 2, 3]
    state = CellBucketState()
    out = fold_cell_bucket(state, [letter, sent[0]], 1, _far_share, STAMP, TOPICS)
    assert out == [letter] and len(state.rules) == 1


def test_a_transaction_goes_to_its_cell_s_bucket() -> None:
    (row,) = to_cells([_row(1, 5, "c", DROP, False)], [], None, 0, 8, 1)
    assert row[0] == CELLS and target(row, 3, 8) == cell_bucket(DROP, 8)


def test_the_state_survives_its_columns_and_forgets_cells_after_a_day() -> None:
    state = CellBucketState()
    rows = to_cells([_row(1, 100, "c1", DROP, True)], [], 101, 0, 1, 1)
    fold_cell_bucket(state, rows, 1, _far_share, STAMP, TOPICS)
    again = CellBucketState.from_columns(state.to_columns())
    assert again == state and list(again.cells) == [DROP]
    later = to_cells([_row(2, 100 + 86_500, "c2", HOME, False)], [], 100 + 86_501, 0, 1, 1)
    fold_cell_bucket(again, later, 1, _far_share, STAMP, TOPICS)
    assert list(again.cells) == [HOME]
