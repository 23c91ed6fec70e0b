"""The geographic bubble map of fraud over Indonesia, drawn on the bundled outline.

Bubbles sit on grid cells of shipment locations (longitude as x, latitude as y, in degrees);
their size grows with the count on a log scale that does not depend on the other cells, so a
cell streamed in later is sized like the rest. Colour shows the model's mean probability or, at
the reader's choice, the most common true pattern there.

>>> bubble_size(0), bubble_size(1), bubble_size(7)
(0.0, 8.5, 17.5)
>>> pattern_colour("card_testing") == pattern_colour("card_testing")
True
>>> difference_columns(
...     {"lat": [1.0, 2.0], "long": [100.0, 101.0], "alerts": [3, 1]},
...     {"lat": [1.0], "long": [100.0], "alerts": [5]},
... )["difference"]
[2, -1]
"""

from __future__ import annotations

import math
import zlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bokeh.models import (
    ColumnDataSource,
    CustomJS,
    HoverTool,
    LinearColorMapper,
    Range1d,
    TapTool,
)
from bokeh.models.annotations import ColorBar
from bokeh.models.widgets import RadioButtonGroup
from bokeh.palettes import Category10_10, YlOrRd9
from bokeh.plotting import figure

from archive.aggregates import Columns
from viz.indonesia import BOUNDS, outline_columns

__all__ = [
    "ALERT_MAP_COLUMNS",
    "GRID_DEG",
    "CellKey",
    "MapCell",
    "add_alert_bubbles",
    "add_truth_rings",
    "alert_map_columns",
    "bubble_size",
    "colour_choice",
    "difference_columns",
    "grid_cell",
    "map_figure",
    "pattern_colour",
    "truth_map_columns",
]

SMALLEST = 4.0
LARGEST = 56.0  # reached near 3,000 per cell: big runs still tell their busy cells apart
# the patterns the simulator knows today get fixed colours; any other gets one by its name
KNOWN_PATTERNS = (
    "card_testing",
    "account_takeover",
    "promo_abuse",
    "bot_checkout",
    "high_value_spike",
    "regional_fraud_ring",
)
UNCONFIRMED = "not confirmed"
UNCONFIRMED_COLOUR = "#bbbbbb"
GRID_DEG = 0.5  # the live map's cells, in degrees
CellKey = tuple[float, float]
ALERT_MAP_COLUMNS = (
    "lat",
    "long",
    "alerts",
    "mean_probability",
    "confirmed",
    "pattern",
    "size",
    "pattern_colour",
)


def bubble_size(count: float) -> float:
    """Screen size of a bubble for ``count`` (0 for none; log scale, capped)."""
    if count <= 0:
        return 0.0
    return min(LARGEST, SMALLEST + 4.5 * math.log2(1.0 + count))


def pattern_colour(pattern: str | None) -> str:
    """A stable colour for a fraud pattern (grey when the alert is not a confirmed fraud)."""
    if not pattern or pattern == UNCONFIRMED:
        return UNCONFIRMED_COLOUR
    if pattern in KNOWN_PATTERNS:
        return Category10_10[KNOWN_PATTERNS.index(pattern)]
    return Category10_10[6 + zlib.crc32(pattern.encode()) % 4]


def alert_map_columns(columns: Columns) -> dict[str, list[Any]]:
    """:func:`archive.aggregates.frauds_by_location` rows as the alert bubbles' columns."""
    patterns = [p or UNCONFIRMED for p in columns["pattern"]]
    return {
        "lat": list(columns["lat"]),
        "long": list(columns["long"]),
        "alerts": list(columns["alerts"]),
        "mean_probability": [float(p) for p in columns["mean_probability"]],
        "confirmed": list(columns["confirmed"]),
        "pattern": patterns,
        "size": [bubble_size(n) for n in columns["alerts"]],
        "pattern_colour": [pattern_colour(p) for p in patterns],
    }


def truth_map_columns(columns: Columns) -> dict[str, list[Any]]:
    """True frauds by location (``lat``, ``long``, ``frauds``, ``pattern``) as ring columns."""
    return {
        "lat": list(columns["lat"]),
        "long": list(columns["long"]),
        "frauds": list(columns["frauds"]),
        "pattern": [p or "" for p in columns["pattern"]],
        "size": [bubble_size(n) for n in columns["frauds"]],
    }


def map_figure(name: str, title: str) -> Any:
    """An empty map of Indonesia: the bundled outline, no online tiles."""
    p = figure(
        name=name,
        title=title,
        x_range=Range1d(
            start=BOUNDS.west, end=BOUNDS.east, bounds=(BOUNDS.west - 5, BOUNDS.east + 5)
        ),
        y_range=Range1d(
            start=BOUNDS.south, end=BOUNDS.north, bounds=(BOUNDS.south - 5, BOUNDS.north + 5)
        ),
        width=960,
        height=420,
        tools="pan,wheel_zoom,reset,save",
        x_axis_label="longitude",
        y_axis_label="latitude",
    )
    xs, ys = outline_columns()
    p.patches(xs, ys, fill_color="#eef0e8", line_color="#9a9a8a", line_width=1)
    p.background_fill_color = "#dde8f0"
    p.grid.visible = False
    return p


def add_alert_bubbles(p: Any, source: ColumnDataSource) -> tuple[Any, Any]:
    """Alert bubbles coloured by mean probability, and the same bubbles coloured by pattern
    (hidden at first); returns both renderers."""
    mapper = LinearColorMapper(palette=list(reversed(YlOrRd9)), low=0.5, high=1.0)
    by_probability = p.scatter(
        "long",
        "lat",
        source=source,
        size="size",
        fill_color={"field": "mean_probability", "transform": mapper},
        line_color="#555555",
        fill_alpha=0.75,
        name="alerts_by_probability",
    )
    by_pattern = p.scatter(
        "long",
        "lat",
        source=source,
        size="size",
        fill_color="pattern_colour",
        line_color="#555555",
        fill_alpha=0.75,
        legend_field="pattern",
        visible=False,
        name="alerts_by_pattern",
    )
    # a tap selects a bubble: the view lists the alerts of its cell (viz.alert_list)
    p.add_tools(TapTool(renderers=[by_probability, by_pattern]))
    p.add_layout(ColorBar(color_mapper=mapper, title="mean probability", width=10), "right")
    p.legend.location = "bottom_left"
    p.legend.label_text_font_size = "8pt"
    p.add_tools(
        HoverTool(
            renderers=[by_probability, by_pattern],
            tooltips=[
                ("cell", "(@lat, @long)"),
                ("alerts", "@alerts"),
                ("confirmed frauds", "@confirmed"),
                ("mean probability", "@mean_probability{0.00}"),
                ("pattern", "@pattern"),
            ],
        )
    )
    return by_probability, by_pattern


def add_truth_rings(p: Any, source: ColumnDataSource) -> Any:
    """Rings where true frauds happened (ground truth), to read beside the alert bubbles."""
    rings = p.scatter(
        "long",
        "lat",
        source=source,
        size="size",
        fill_alpha=0,
        line_color="#222222",
        line_width=1.5,
        legend_label="true frauds (ground truth)",
        name="true_frauds",
    )
    p.add_tools(
        HoverTool(renderers=[rings], tooltips=[("true frauds", "@frauds"), ("pattern", "@pattern")])
    )
    return rings


def colour_choice(p: Any, by_probability: Any, by_pattern: Any) -> RadioButtonGroup:
    """A switch between colouring bubbles by probability and by pattern, run in the browser;
    the pattern legend shows only while the bubbles are coloured by pattern."""
    pattern_items = [item for item in p.legend.items if by_pattern in item.renderers]
    for item in pattern_items:
        item.visible = False
    choice = RadioButtonGroup(labels=["colour: probability", "colour: pattern"], active=0)
    choice.js_on_change(
        "active",
        CustomJS(
            args={"prob": by_probability, "pattern": by_pattern, "items": pattern_items},
            code="""
            const by_pattern = this.active === 1;
            prob.visible = !by_pattern;
            pattern.visible = by_pattern;
            for (const item of items) { item.visible = by_pattern; }
            """,
        ),
    )
    return choice


def _by_cell(columns: Columns) -> dict[tuple[float, float], int]:
    return {
        (float(lat), float(long)): int(n)
        for lat, long, n in zip(columns["lat"], columns["long"], columns["alerts"], strict=True)
    }


def difference_columns(base: Columns, other: Columns) -> dict[str, list[Any]]:
    """Alerts per cell of ``other`` minus those of ``base`` (cells where they differ)."""
    a, b = _by_cell(base), _by_cell(other)
    cells = sorted(set(a) | set(b))
    rows = [(cell, b.get(cell, 0) - a.get(cell, 0)) for cell in cells]
    rows = [(cell, d) for cell, d in rows if d != 0]
    return {
        "lat": [cell[0] for cell, _ in rows],
        "long": [cell[1] for cell, _ in rows],
        "difference": [d for _, d in rows],
        "size": [bubble_size(abs(d)) for _, d in rows],
        "change": ["more alerts" if d > 0 else "fewer alerts" for _, d in rows],
        "colour": ["#d62728" if d > 0 else "#1f77b4" for _, d in rows],
    }


def add_difference_bubbles(p: Any, source: ColumnDataSource) -> Any:
    """Bubbles of the difference between two runs' fraud maps (red: more, blue: fewer)."""
    bubbles = p.scatter(
        "long",
        "lat",
        source=source,
        size="size",
        fill_color="colour",
        line_color="#555555",
        fill_alpha=0.7,
        legend_field="change",
        name="map_difference",
    )
    p.add_tools(
        HoverTool(
            renderers=[bubbles], tooltips=[("cell", "(@lat, @long)"), ("difference", "@difference")]
        )
    )
    p.legend.location = "bottom_left"
    return bubbles


def empty_columns(names: Sequence[str]) -> dict[str, list[Any]]:
    """Columns with no rows, for a source that starts empty."""
    return {name: [] for name in names}


def grid_cell(lat: float, long: float) -> CellKey:
    """The map cell of a location: its centre on the :data:`GRID_DEG` grid (as
    :func:`archive.aggregates.frauds_by_location` snaps locations)."""
    return (round(round(lat / GRID_DEG) * GRID_DEG, 6), round(round(long / GRID_DEG) * GRID_DEG, 6))


@dataclass
class MapCell:
    """Potential frauds at one grid cell: how many, their probabilities, confirmed patterns."""

    alerts: int = 0
    probability_sum: float = 0.0
    patterns: Counter[str] = field(default_factory=Counter)
    version: int = 0

    def row(self, key: CellKey) -> dict[str, Any]:
        confirmed = sum(self.patterns.values())
        pattern = self.patterns.most_common(1)[0][0] if self.patterns else UNCONFIRMED
        return {
            "lat": key[0],
            "long": key[1],
            "alerts": self.alerts,
            "mean_probability": self.probability_sum / self.alerts if self.alerts else 0.0,
            "confirmed": confirmed,
            "pattern": pattern,
            "size": bubble_size(self.alerts),
            "pattern_colour": pattern_colour(pattern),
        }
