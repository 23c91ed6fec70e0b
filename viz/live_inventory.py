"""What the live view keeps of a run's inventory streams, and what a session has not drawn yet.

:class:`LiveInventory` folds ``inventory-forecast`` rows (taken once by their record key, as the
archive does) and ``inventory`` stock changes, each product's history bounded (the last
:data:`LIVE_WINDOWS` forecast windows, the last :data:`STOCK_POINTS` stock changes). Its
:meth:`LiveInventory.delta` hands a session the leading products' lines
(:mod:`viz.inventory_panel`) as new points to stream, or whole when something already drawn
changed (a late window from another partition, a leading product new to the session), and the
restock list when a newer window brought one.
"""

from __future__ import annotations

import bisect
from collections import defaultdict, deque
from dataclasses import dataclass, field
from typing import Any

from fraudlab.records import Inventory, InventoryForecast
from viz.inventory_panel import (
    INVENTORY_ROLLOVER,
    LEADING_PRODUCTS,
    RESTOCK_COLUMNS,
    STOCK_ROLLOVER,
    PanelLine,
    demand_lines,
    product_label,
    restock_columns,
    stock_from_forecasts,
)

__all__ = ["LIVE_WINDOWS", "STOCK_POINTS", "InventoryCursor", "InventoryDelta", "LiveInventory"]

# per product: about 4 hours of 30 s forecast windows, and its latest stock changes (the
# browser keeps as many: a line drawn whole again is never longer than what it streams)
LIVE_WINDOWS = INVENTORY_ROLLOVER
STOCK_POINTS = STOCK_ROLLOVER

Point = tuple[int, float]


@dataclass
class InventoryCursor:
    """What one session has drawn of the inventory panel."""

    shown: list[str] | None = None
    sent: dict[tuple[str, str], list[Point]] = field(default_factory=dict)  # (series, product)
    restock_version: int = -1


@dataclass(frozen=True)
class InventoryDelta:
    """The leading products now, their lines (new points, or whole) and the restock list when
    it changed (``restock_window``: the end of the window it is of)."""

    shown: list[str]
    lines: list[PanelLine]
    restock: dict[str, list[Any]] | None = None
    restock_window: int | None = None


@dataclass(frozen=True)
class _Window:
    forecast: float
    units: int
    horizon_minutes: float
    stock: int | None


def unsent(points: list[Point], sent: list[Point] | None) -> tuple[list[Point], bool]:
    """The points of a line a session has not drawn, and whether to draw the line whole: the
    drawn points must lead the line (those older than its first kept point aside).

    >>> unsent([(1, 1.0), (2, 2.0)], [(1, 1.0)])
    ([(2, 2.0)], False)
    >>> unsent([(2, 2.0), (3, 3.0)], [(1, 1.0), (2, 2.0)])
    ([(3, 3.0)], False)
    >>> unsent([(1, 5.0), (2, 2.0)], [(1, 1.0)])
    ([(1, 5.0), (2, 2.0)], True)
    """
    if sent is None:
        return points, True
    if not points:
        return [], bool(sent)
    kept = sent[bisect.bisect_left([x for x, _ in sent], points[0][0]) :]
    if points[: len(kept)] == kept:
        return points[len(kept) :], False
    return points, True


class LiveInventory:
    """One run's inventory figures, folded record by record; see the module doc."""

    def __init__(self) -> None:
        self.windows: dict[str, dict[int, _Window]] = {}  # product -> window end -> figures
        self.names: dict[str, str] = {}
        self.forecast_total: defaultdict[str, float] = defaultdict(float)
        self.latest_end: int | None = None
        self.latest_rows: dict[str, InventoryForecast] = {}  # the latest window's rows
        self.restock_version = 0
        self.levels: dict[str, deque[Point]] = {}  # product -> (ts ms, level after a change)
        self.outs: dict[str, deque[Point]] = {}  # product -> (ts ms, level) of its stock-outs

    @property
    def has_forecast(self) -> bool:
        return bool(self.windows)

    def add_forecast(self, r: InventoryForecast) -> None:
        """Fold one row of the 30 s inventory report (a repeat is skipped)."""
        windows = self.windows.setdefault(r.product_id, {})
        if r.window_end in windows:
            return
        if len(windows) >= LIVE_WINDOWS and r.window_end < min(windows):
            return  # older than all that is kept: already rolled out of the chart
        windows[r.window_end] = _Window(r.forecast_units, r.units, r.horizon_minutes, r.stock)
        if len(windows) > LIVE_WINDOWS:
            del windows[min(windows)]
        self.names[r.product_id] = r.product_name
        self.forecast_total[r.product_id] += r.forecast_units
        if self.latest_end is None or r.window_end > self.latest_end:
            self.latest_end = r.window_end
            self.latest_rows = {}
        if r.window_end == self.latest_end:
            self.latest_rows[r.product_id] = r
            self.restock_version += 1

    def add_change(self, r: Inventory) -> None:
        """Fold one stock change of the simulated shop."""
        point = (r.ts * 1000, float(r.level))
        self.levels.setdefault(r.product_id, deque(maxlen=STOCK_POINTS)).append(point)
        if r.change == "stock_out":
            self.outs.setdefault(r.product_id, deque(maxlen=STOCK_POINTS)).append(point)

    def leading_products(self, n: int = LEADING_PRODUCTS) -> list[str]:
        """The ``n`` products with the most forecast units so far, most first."""
        return sorted(self.forecast_total, key=lambda p: (-self.forecast_total[p], p))[:n]

    def label(self, product_id: str) -> str:
        return product_label(product_id, self.names.get(product_id))

    def _rows(self, products: list[str]) -> dict[str, list[Any]]:
        rows: dict[str, list[Any]] = {
            k: []
            for k in (
                "window_end",
                "product_id",
                "product_name",
                "horizon_minutes",
                "forecast_units",
                "units",
                "stock",
            )
        }
        for pid in products:
            for end, w in sorted(self.windows.get(pid, {}).items()):
                for name, value in (
                    ("window_end", end),
                    ("product_id", pid),
                    ("product_name", self.names.get(pid)),
                    ("horizon_minutes", w.horizon_minutes),
                    ("forecast_units", w.forecast),
                    ("units", w.units),
                    ("stock", w.stock),
                ):
                    rows[name].append(value)
        return rows

    def lines(self, products: list[str]) -> list[PanelLine]:
        """Every series of ``products``, whole: demand as known so far, and stock from the
        inventory records (from the forecast rows where the run has none)."""
        rows = self._rows(products)
        labels = {p: self.label(p) for p in products}
        lines = demand_lines(rows, products, known_until=self.latest_end)
        if not self.levels:
            return lines + stock_from_forecasts(rows, products, labels)
        for pid in products:
            levels, outs = self.levels.get(pid, ()), self.outs.get(pid, ())
            lines.append(
                PanelLine("stock", pid, labels[pid], [x for x, _ in levels], [y for _, y in levels])
            )
            lines.append(
                PanelLine("stock_out", pid, labels[pid], [x for x, _ in outs], [y for _, y in outs])
            )
        return lines

    def delta(self, cursor: InventoryCursor) -> InventoryDelta | None:
        """What ``cursor`` has not drawn yet (None: nothing); moves the cursor past it."""
        shown = self.leading_products()
        changed_shown = shown != cursor.shown
        cursor.shown = shown
        for key in [k for k in cursor.sent if k[1] not in shown]:
            del cursor.sent[key]  # its slot goes to another product: start over if it is back
        out = []
        for line in self.lines(shown):
            points = list(zip(line.x, line.y, strict=True))
            key = (line.series, line.product_id)
            new, full = unsent(points, cursor.sent.get(key))
            cursor.sent[key] = points
            if full or new:
                x, y = [p[0] for p in new], [p[1] for p in new]
                out.append(PanelLine(line.series, line.product_id, line.label, x, y, full))
        restock = None
        if self.restock_version != cursor.restock_version:
            cursor.restock_version = self.restock_version
            restock = restock_columns(_latest_columns(list(self.latest_rows.values())))
        if not (changed_shown or out or restock is not None):
            return None
        return InventoryDelta(shown, out, restock, self.latest_end)


def _latest_columns(rows: list[InventoryForecast]) -> dict[str, list[Any]]:
    names = ("window_end", *RESTOCK_COLUMNS, "restock")
    return {name: [getattr(r, name) for r in rows] for name in names}
