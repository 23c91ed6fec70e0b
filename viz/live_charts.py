"""The live charts of one run: the fraud-alerts bars, the top-products lines, the fraud map and
the inventory panel, with the headline above them, drawn from the live feed's deltas.

The live view (:mod:`viz.live_view`) lays them out with its picker, controls and forms; a
notebook's live display (:mod:`lab.notebook`) shows them alone and pushes each delta to the
page. New data goes in with ``stream(..., rollover=...)``; map cells already drawn are patched
in place.
"""

from __future__ import annotations

from typing import Any

from bokeh.models import ColumnDataSource, LayoutDOM

from viz import charts
from viz.fraud_map import (
    ALERT_MAP_COLUMNS,
    add_alert_bubbles,
    colour_choice,
    empty_columns,
    map_figure,
)
from viz.inventory_panel import InventoryPanel
from viz.live_state import LiveDelta

__all__ = ["LINE_ROLLOVER", "MAP_CELLS", "TIMELINE_ROLLOVER", "LiveCharts"]

# about 2.8 hours of 10 s reports, and 4 hours of 30 s points per product
TIMELINE_ROLLOVER = 1000
LINE_ROLLOVER = 500
# more than the 0.5-degree cells covering the map (94 x 38): a drawn cell is never rolled out,
# so the indices the patches use stay valid
MAP_CELLS = 4000
NO_FORECAST_YET = (
    "No demand forecast yet: the engine reports one every 30 s of event time, once its model "
    "has a demand forecast (a model without one never does)."
)


class LiveCharts:
    """The sources and figures of one run's live charts, and how a delta is drawn on them."""

    def __init__(self) -> None:
        self.slot_products: list[str | None] = [None] * charts.TOP_PRODUCTS
        self.cell_index: dict[tuple[float, float], int] = {}
        self.headline = charts.headline_panel("live_headline")
        self.timeline = charts.timeline_source()
        self.slots = charts.top_products_slots()
        self.alerts = ColumnDataSource(empty_columns(ALERT_MAP_COLUMNS), name="alert_map_source")
        self.timeline_figure = charts.fraud_timeline_figure(self.timeline)
        self.top_figure = charts.top_products_figure(self.slots)
        fraud_map = map_figure("fraud_map", "Potential frauds by shipment location so far")
        by_probability, by_pattern = add_alert_bubbles(fraud_map, self.alerts)
        self.map_parts: tuple[LayoutDOM, ...] = (
            colour_choice(fraud_map, by_probability, by_pattern),
            fraud_map,
        )
        self.inventory = InventoryPanel(empty_text=NO_FORECAST_YET)

    def clear(self) -> None:
        """Empty every chart (another run is followed)."""
        self.timeline.data = {"window_end": [], "alerts": [], "frauds": []}
        for slot in self.slots:
            slot.data = charts.slot_columns(charts.NO_PRODUCT)
        self.slot_products = [None] * len(self.slots)
        self.alerts.data = empty_columns(ALERT_MAP_COLUMNS)
        self.cell_index = {}
        self.headline.text = charts.headline_html([])
        self.inventory.show_empty()

    def apply_delta(self, delta: LiveDelta) -> None:
        """Stream the new report windows and line points; stream or patch the map cells."""
        if delta.windows["window_end"]:
            self.timeline.stream(delta.windows, rollover=TIMELINE_ROLLOVER)
        self._draw_top(delta)
        self._draw_cells(delta.cells)
        inventory = delta.inventory
        if inventory is not None:
            self.inventory.draw(
                inventory.shown, inventory.lines, inventory.restock, inventory.restock_window
            )
        if delta.headline is not None:
            self.headline.text = delta.headline

    def _draw_top(self, delta: LiveDelta) -> None:
        shown = set(delta.shown)
        for i, pid in enumerate(self.slot_products):
            if pid is not None and pid not in shown:
                self.slot_products[i] = None
        for line in delta.top:
            if line.full:
                taken = line.product_id in self.slot_products
                i = self.slot_products.index(line.product_id if taken else None)
                self.slot_products[i] = line.product_id
                self.slots[i].data = {"x": line.x, "y": line.y, "label": [line.label] * len(line.x)}
            elif line.x and line.product_id in self.slot_products:
                i = self.slot_products.index(line.product_id)
                points: dict[str, Any] = {
                    "x": line.x,
                    "y": line.y,
                    "label": [line.label] * len(line.x),
                }
                self.slots[i].stream(points, rollover=LINE_ROLLOVER)
        for i, pid in enumerate(self.slot_products):
            if pid is None and len(self.slots[i].data["x"]):
                self.slots[i].data = charts.slot_columns(charts.NO_PRODUCT)

    def _draw_cells(self, cells: list[dict[str, Any]]) -> None:
        patches: dict[str, list[tuple[int, Any]]] = {}
        new: dict[str, Any] = {name: [] for name in ALERT_MAP_COLUMNS}
        for cell in cells:
            key = (cell["lat"], cell["long"])
            index = self.cell_index.get(key)
            if index is None:
                if len(self.cell_index) >= MAP_CELLS:
                    continue
                self.cell_index[key] = len(self.cell_index)
                for name in ALERT_MAP_COLUMNS:
                    new[name].append(cell[name])
            else:
                for name in ALERT_MAP_COLUMNS[2:]:
                    patches.setdefault(name, []).append((index, cell[name]))
        if patches:
            self.alerts.patch(patches)
        if new["lat"]:
            self.alerts.stream(new, rollover=MAP_CELLS)
