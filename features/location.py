"""Location-cell features: what many accounts did at one shipping address's cell, before an order.

A regional fraud ring is invisible to any one account: each mule's order looks ordinary for its
customer. It shows across accounts, as many customers who live elsewhere shipping to a few drop
points within a kilometre of each other. So beside each customer's state
(:mod:`features.definition`) the fold keeps, per location cell of the shipping address, the
shipments of the last day; a transaction's features then include its cell's figures as they stood
before the second it happened in.

Cells are H3 hexagons (Uber's hierarchical hexagonal grid, https://h3geo.org) at
:data:`DEFAULT_RESOLUTION` 7: 5.2 km² on average, edges of about 1.4 km, the reach of a ring's
drop points (a handful within a kilometre or so of each other). Measured on the held-out seeds
with the default recipe, resolution 8 (0.74 km²) splits a ring's drops over several cells and
caught 0.72-0.75 of its orders; 7 caught 0.88, at about the same precision; 9 caught less
than 8. A shipment is *far* when the shipping address is more than :data:`FAR_KM` from the
customer's home (a feature of the customer state, ``distance_km``), and on a *new device* when the
session used a device new to the account (``new_device``).

Order: all transactions of one second see the cell as it stood before that second, and join it
together, so the figures do not depend on the order of transactions within a second, on where
micro-batches were cut, or on whether the batch path or the stream computed them. A transaction
without a usable shipping location has no cell: its figures are zero and it joins none.

>>> cell = cell_of("-6.2", "106.8", DEFAULT_RESOLUTION)
>>> cells: dict[str, CellState] = {}
>>> rows = [
...     {"cell": cell, "ts": 100, "customer_id": "a", "distance_km": 900.0, "new_device": 1.0,
...      "total_amount": 50.0},
...     {"cell": cell, "ts": 100, "customer_id": "b", "distance_km": 2.0, "new_device": 0.0,
...      "total_amount": 70.0},
...     {"cell": cell, "ts": 160, "customer_id": "c", "distance_km": 800.0, "new_device": 0.0,
...      "total_amount": 10.0},
... ]
>>> fold_cells(cells, rows)
>>> [r["cell_customers_1h"] for r in rows], rows[2]["cell_far_share_1h"], rows[2]["cell_value_1h"]
([0.0, 0.0, 2.0], 0.5, 120.0)
"""

from __future__ import annotations

import itertools
import math
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import h3
import orjson

HOUR_S = 3600
DAY_S = 86_400
# H3 resolution: hexagons of 5.2 km² on average (h3geo.org/docs/core-library/restable)
DEFAULT_RESOLUTION = 7
FAR_KM = 50.0  # a shipment this far from the customer's home is "far" (beyond a city's reach)
NO_CELL = ""

# name -> kind, in the contract's order (all numbers); appended to features.definition.FEATURES
CELL_FEATURES: dict[str, str] = {
    "cell_customers_1h": "number",
    "cell_customers_24h": "number",
    "cell_far_customers_1h": "number",
    "cell_far_share_1h": "number",
    "cell_new_device_share_1h": "number",
    "cell_orders_1h": "number",
    "cell_value_1h": "number",
}
# what a transaction's cell figures are when it has no cell, or the cell saw nothing before it
NO_FIGURES: dict[str, float] = dict.fromkeys(CELL_FEATURES, 0.0)


def cell_of(lat: str | float | None, long: str | float | None, resolution: int) -> str:
    """The H3 cell (hexadecimal id) of a shipping location given as the strings it travels as;
    :data:`NO_CELL` when either is missing, unreadable, out of range, or both are exactly 0 (what
    an empty location reads as).

    >>> cell_of("-6.2", "106.8", 8), cell_of("", "106.8", 8), cell_of("0", "0", 8)
    ('888c106a49fffff', '', '')
    """
    try:
        la, lo = float(lat), float(long)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return NO_CELL
    if not (math.isfinite(la) and math.isfinite(lo)) or abs(la) > 90 or abs(lo) > 180:
        return NO_CELL
    if la == 0.0 and lo == 0.0:
        return NO_CELL
    return str(h3.latlng_to_cell(la, lo, resolution))


def cell_bucket(cell: str, buckets: int) -> int:
    """The state bucket of a cell: a stable hash of its id, in ``range(buckets)``.

    >>> cell_bucket("888c106a49fffff", 32)
    24
    """
    return zlib.crc32(cell.encode()) % buckets


@dataclass(slots=True)
class CellState:
    """The shipments to one cell in the last day: (ts, customer id, far, new device, value), in
    the order they were folded in (event time); serialisable as JSON."""

    shipments: list[tuple[int, str, bool, bool, float]] = field(default_factory=list)

    def figures(self, ts: int) -> dict[str, float]:
        """The cell's figures over the shipments before ``ts`` (Unix seconds)."""
        hour = [s for s in self.shipments if ts - HOUR_S <= s[0] < ts]
        day = {s[1] for s in self.shipments if ts - DAY_S <= s[0] < ts}
        customers = {s[1] for s in hour}
        far = {s[1] for s in hour if s[2]}
        new_device = {s[1] for s in hour if s[3]}
        n = len(customers)
        return {
            "cell_customers_1h": float(n),
            "cell_customers_24h": float(len(day)),
            "cell_far_customers_1h": float(len(far)),
            "cell_far_share_1h": len(far) / n if n else 0.0,
            "cell_new_device_share_1h": len(new_device) / n if n else 0.0,
            "cell_orders_1h": float(len(hour)),
            "cell_value_1h": float(sum(s[4] for s in hour)),
        }

    def add(self, ts: int, customer: str, far: bool, new_device: bool, value: float) -> None:
        """One shipment to the cell."""
        self.shipments.append((ts, customer, far, new_device, value))

    def expire(self, now: int) -> bool:
        """Forget the shipments older than a day before ``now``; whether any remain."""
        if self.shipments and self.shipments[0][0] < now - DAY_S:
            self.shipments = [s for s in self.shipments if s[0] >= now - DAY_S]
        return bool(self.shipments)

    def to_json(self) -> str:
        return orjson.dumps(self.shipments).decode()

    @classmethod
    def from_json(cls, text: str) -> CellState:
        return cls(
            [(int(t), str(c), bool(f), bool(d), float(v)) for t, c, f, d, v in orjson.loads(text)]
        )


def _ts(row: dict[str, Any]) -> int:
    return int(row["ts"])


def fold_cells(cells: dict[str, CellState], rows: Iterable[dict[str, Any]]) -> None:
    """Give each transaction feature row its cell's figures (in place) and fold it into
    ``cells`` (cell id -> state, created as needed).

    ``rows`` carry ``cell`` (:func:`cell_of`), ``ts``, ``customer_id``, ``distance_km``,
    ``new_device`` and ``total_amount``; they are taken second by second in event time: every row of
    a second reads the figures as they stood before it, then all of them join their cells. Rows
    of a second already passed are folded in when they come (the stream's records that arrive
    after its frontier passed them).
    """
    for ts, second in itertools.groupby(sorted(rows, key=_ts), key=_ts):
        joined = []
        for row in second:
            cell = row["cell"]
            if cell == NO_CELL:
                row.update(NO_FIGURES)
                continue
            state = cells.setdefault(cell, CellState())
            row.update(state.figures(ts))
            joined.append((state, row))
        for state, row in joined:
            state.add(
                ts,
                str(row["customer_id"]),
                float(row["distance_km"]) > FAR_KM,
                float(row["new_device"]) > 0.5,
                float(row["total_amount"]),
            )


def expire_cells(cells: dict[str, CellState], now: int) -> None:
    """Drop the shipments older than a day before ``now``, and the cells left empty."""
    for cell in [c for c, state in cells.items() if not state.expire(now)]:
        del cells[cell]


__all__ = [
    "CELL_FEATURES",
    "DEFAULT_RESOLUTION",
    "FAR_KM",
    "NO_CELL",
    "NO_FIGURES",
    "CellState",
    "cell_bucket",
    "cell_of",
    "expire_cells",
    "fold_cells",
]
