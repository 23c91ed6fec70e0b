"""The location-cell features: cells, windows, and the order of a second."""

from __future__ import annotations

import itertools
import random
from typing import Any

import pytest

from features.location import (
    DAY_S,
    DEFAULT_RESOLUTION,
    HOUR_S,
    NO_CELL,
    CellState,
    cell_of,
    expire_cells,
    fold_cells,
)

JAKARTA = cell_of("-6.2", "106.8", DEFAULT_RESOLUTION)


def _row(
    ts: int,
    customer: str,
    far: bool = False,
    new: bool = False,
    value: float = 10.0,
    cell: str = JAKARTA,
) -> dict[str, Any]:
    return {
        "cell": cell,
        "ts": ts,
        "customer_id": customer,
        "distance_km": 700.0 if far else 3.0,
        "new_device": 1.0 if new else 0.0,
        "total_amount": value,
    }


@pytest.mark.parametrize(
    ("lat", "long"),
    [("", "106.8"), (None, None), ("nan", "1"), ("91", "0"), ("0", "0"), ("x", "106.8")],
)
def test_a_location_that_cannot_be_placed_has_no_cell(lat: Any, long: Any) -> None:
    assert cell_of(lat, long, DEFAULT_RESOLUTION) == NO_CELL


def test_a_cell_is_about_a_kilometre_across() -> None:
    # 300 m apart: the same cell or a neighbour; 5 km apart: never the same
    near = cell_of("-6.2027", "106.8", DEFAULT_RESOLUTION)
    far = cell_of("-6.245", "106.8", DEFAULT_RESOLUTION)
    assert near != "" and far not in ("", JAKARTA)
    assert cell_of(-6.2, 106.8, 8) != JAKARTA  # the resolution is the caller's


def test_figures_count_customers_not_orders_over_their_windows() -> None:
    rows = [
        _row(0, "a", far=True),
        _row(10, "a", far=True),
        _row(20, "b", new=True),
        _row(HOUR_S + 5, "c"),  # a's first order is out of the hour, its second is in
        _row(DAY_S + 5, "d"),  # a's second order and the later ones are in the day
    ]
    fold_cells({}, rows)
    third, fourth, fifth = rows[2], rows[3], rows[4]
    assert third["cell_customers_1h"] == 1.0 and third["cell_orders_1h"] == 2.0
    assert fourth["cell_customers_1h"] == 2.0 and fourth["cell_orders_1h"] == 2.0
    assert fourth["cell_far_customers_1h"] == 1.0 and fourth["cell_far_share_1h"] == 0.5
    assert fourth["cell_new_device_share_1h"] == 0.5 and fourth["cell_value_1h"] == 20.0
    assert fifth["cell_customers_24h"] == 3.0 and fifth["cell_customers_1h"] == 0.0


def test_a_second_reads_the_cell_as_it_stood_before_it_whatever_the_order() -> None:
    rows = [_row(100, c, far=c in "ab") for c in "abcd"] + [_row(101, "e")]
    forward = [dict(r) for r in rows]
    backward = [dict(r) for r in reversed(rows)]
    fold_cells({}, forward)
    fold_cells({}, backward)
    key = lambda r: (r["ts"], r["customer_id"])  # noqa: E731
    assert sorted(forward, key=key) == sorted(backward, key=key)
    assert all(r["cell_customers_1h"] == 0.0 for r in forward if r["ts"] == 100)
    assert forward[-1]["cell_customers_1h"] == 4.0 and forward[-1]["cell_far_share_1h"] == 0.5


def test_folding_in_parts_gives_what_folding_at_once_gives() -> None:
    rng = random.Random(5)
    cells = [cell_of(-6.2 + i * 0.02, 106.8, DEFAULT_RESOLUTION) for i in range(3)] + [NO_CELL]
    rows = [
        _row(
            rng.randrange(0, 3 * HOUR_S),
            f"c{rng.randrange(20)}",
            rng.random() < 0.3,
            rng.random() < 0.2,
            float(rng.randrange(1, 100)),
            rng.choice(cells),
        )
        for _ in range(300)
    ]
    for i, r in enumerate(rows):
        r["i"] = i
    whole = [dict(r) for r in rows]
    fold_cells({}, whole)
    parts = sorted((dict(r) for r in rows), key=lambda r: r["ts"])
    # the stream releases whole seconds: cut only where the second changes
    seconds = [i for i in range(1, len(parts)) if parts[i]["ts"] != parts[i - 1]["ts"]]
    cuts = [0, *sorted(rng.sample(seconds, 12)), len(parts)]
    state: dict[str, CellState] = {}
    for lo, hi in itertools.pairwise(cuts):
        fold_cells(state, parts[lo:hi])
    assert sorted(whole, key=lambda r: r["i"]) == sorted(parts, key=lambda r: r["i"])
    assert all(r["cell_customers_1h"] == 0.0 for r in whole if r["cell"] == NO_CELL)


def test_cells_expire_a_day_after_their_last_shipment() -> None:
    state: dict[str, CellState] = {}
    fold_cells(state, [_row(0, "a"), _row(HOUR_S, "b", cell=cell_of(-6.3, 106.8, 8))])
    expire_cells(state, DAY_S + 1)
    assert list(state) == [cell_of(-6.3, 106.8, 8)]
    expire_cells(state, DAY_S + HOUR_S + 1)
    assert state == {}


def test_a_cell_state_survives_json() -> None:
    state = CellState()
    state.add(5, "a", True, False, 12.5)
    assert CellState.from_json(state.to_json()) == state
