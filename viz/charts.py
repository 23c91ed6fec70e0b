"""Chart builders for the fraud timeline, the top products and the headline figures.

Builders are plain functions: data in (columns, or the sources a view streams into), a Bokeh
model out; no server, no archive, no Kafka. Times arrive in Unix seconds and leave in the
milliseconds Bokeh's datetime axes use.

>>> timeline_columns({"window_end": [110, 120], "alerts": [1, 2], "frauds": [1, 1]})["window_end"]
array([110000, 120000])
>>> [line.product_id for line in product_lines({
...     "window_end": [130, 130, 160], "product_id": ["p1", "p2", "p1"],
...     "product_name": ["P1", "P2", "P1"], "cumulative_sales": [500.0, 900.0, 900.0],
... }, top_n=2)]
['p1', 'p2']
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from bokeh.core.properties import field as data_field
from bokeh.models import ColumnDataSource, DataRange1d, HoverTool, NumeralTickFormatter, TapTool
from bokeh.models.annotations import Legend, LegendItem
from bokeh.models.layouts import LayoutDOM
from bokeh.models.widgets import Div
from bokeh.palettes import Category10_10
from bokeh.plotting import figure
from bokeh.transform import dodge

from archive.aggregates import Columns
from viz.alert_list import ALERT_LIST_CSS, NOTHING_SELECTED

__all__ = [
    "ALERT_COLOUR",
    "TOP_PRODUCTS",
    "TRUTH_COLOUR",
    "Headline",
    "ProductLine",
    "fraud_timeline_figure",
    "headline_html",
    "headline_panel",
    "product_lines",
    "timeline_columns",
    "timeline_source",
    "top_products_figure",
    "top_products_slots",
]

ALERT_COLOUR = "#d62728"
TRUTH_COLOUR = "#7f7f7f"
TOP_PRODUCTS = 8
WINDOW_MS = 10_000
PLOT_HEIGHT = 300
TOOLS = "pan,wheel_zoom,box_zoom,reset,save"


def timeline_source() -> ColumnDataSource:
    """An empty source for :func:`fraud_timeline_figure`."""
    return ColumnDataSource(
        {"window_end": [], "alerts": [], "frauds": []}, name="fraud_timeline_source"
    )


def timeline_columns(columns: Columns) -> dict[str, Any]:
    """Report windows (``window_end`` in seconds, ``alerts``, ``frauds``) as the source's
    columns, times in milliseconds (arrays: they travel to the browser as binary)."""
    return {
        "window_end": np.asarray(columns["window_end"], dtype=np.int64) * 1000,
        "alerts": np.asarray(columns["alerts"], dtype=np.int64),
        "frauds": np.asarray(columns["frauds"], dtype=np.int64),
    }


def fraud_timeline_figure(source: ColumnDataSource, *, truth: bool = True) -> Any:
    """Bars of potential frauds per 10 s report, and beside them the true frauds of the window."""
    p = figure(
        name="fraud_timeline",
        title="Potential frauds per 10 s report" + (" beside ground truth" if truth else ""),
        x_axis_type="datetime",
        height=PLOT_HEIGHT,
        sizing_mode="stretch_width",
        tools=TOOLS,
        y_range=DataRange1d(start=0),
    )
    width = WINDOW_MS * (0.4 if truth else 0.8)
    shift = WINDOW_MS * 0.2 if truth else 0
    bars = p.vbar(
        x=dodge("window_end", -shift, range=p.x_range),
        top="alerts",
        width=width,
        source=source,
        color=ALERT_COLOUR,
        legend_label="alerts (engine)",
        name="alert_bars",
    )
    # a tap selects a window's bar: the view lists its alerts (viz.alert_list)
    p.add_tools(TapTool(renderers=[bars]))
    if truth:
        p.vbar(
            x=dodge("window_end", shift, range=p.x_range),
            top="frauds",
            width=width,
            source=source,
            color=TRUTH_COLOUR,
            legend_label="true frauds (ground truth)",
        )
    p.add_tools(
        HoverTool(
            tooltips=[("window end", "@window_end{%F %T}"), ("alerts", "@alerts")]
            + ([("true frauds", "@frauds")] if truth else []),
            formatters={"@window_end": "datetime"},
        )
    )
    p.legend.location = "top_left"
    p.yaxis.axis_label = "transactions in the 2-minute window"
    return p


@dataclass(frozen=True)
class ProductLine:
    """One product's cumulative sales over report windows (x in ms)."""

    product_id: str
    product_name: str
    x: list[int] = field(default_factory=list)
    y: list[float] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.product_name} ({self.product_id})"


NO_PRODUCT = ProductLine("", "")


def product_lines(columns: Columns, top_n: int = TOP_PRODUCTS) -> list[ProductLine]:
    """The ``top_n`` products of :func:`archive.aggregates.top_product_sales` rows, best first."""
    points: dict[str, ProductLine] = {}
    for end, pid, name, sales in zip(
        columns["window_end"],
        columns["product_id"],
        columns["product_name"],
        columns["cumulative_sales"],
        strict=True,
    ):
        line = points.setdefault(pid, ProductLine(pid, name or pid))
        line.x.append(int(end) * 1000)
        line.y.append(float(sales))
    ranked = sorted(points.values(), key=lambda ln: (-(ln.y[-1] if ln.y else 0.0), ln.product_id))
    return ranked[:top_n]


def top_products_slots(n: int = TOP_PRODUCTS) -> list[ColumnDataSource]:
    """``n`` line sources, one per place in the top products; a slot holds one product."""
    return [
        ColumnDataSource({"x": [], "y": [], "label": []}, name=f"top_products_slot_{i}")
        for i in range(n)
    ]


def top_products_figure(slots: Sequence[ColumnDataSource]) -> Any:
    """Cumulative sales (price x quantity) of the top products, one line per slot."""
    p = figure(
        name="top_products",
        title="Cumulative sales of the top products (30 s reports)",
        x_axis_type="datetime",
        height=PLOT_HEIGHT,
        sizing_mode="stretch_width",
        tools=TOOLS,
    )
    items = []
    for i, source in enumerate(slots):
        colour = Category10_10[i % len(Category10_10)]
        line: Any = p.line("x", "y", source=source, color=colour, line_width=2)
        # one item per slot, labelled by the slot's first row: Bokeh would merge items that
        # share a label field across sources
        items.append(LegendItem(label=data_field("label"), renderers=[line], index=0))
    p.add_layout(Legend(items=items, location="top_left", label_text_font_size="8pt"))
    p.add_tools(
        HoverTool(
            tooltips=[("product", "@label"), ("sales", "@y{0,0}"), ("at", "@x{%F %T}")],
            formatters={"@x": "datetime"},
        )
    )
    p.yaxis.formatter = NumeralTickFormatter(format="0.[0]a")
    p.yaxis.axis_label = "sales so far"
    return p


def slot_columns(line: ProductLine) -> dict[str, Any]:
    """A product line as a slot source's columns (numbers as arrays: they travel as binary)."""
    return {
        "x": np.asarray(line.x, dtype=np.int64),
        "y": np.asarray(line.y, dtype=np.float64),
        "label": [line.label] * len(line.x),
    }


@dataclass(frozen=True)
class Headline:
    """One headline figure: what it is, its value as text, and a hint."""

    name: str
    value: str
    hint: str = ""


def figure_text(value: float | None, digits: int = 3, unit: str = "") -> str:
    """A figure for a headline; None is a dash.

    >>> figure_text(0.12345), figure_text(None), figure_text(12.0, 0, " s")
    ('0.123', '-', '12 s')
    """
    return "-" if value is None else f"{value:,.{digits}f}{unit}"


def headline_html(figures: Sequence[Headline], note: str = "") -> str:
    """The headline figures as HTML cards (values escaped).

    >>> "<b>3</b>" in headline_html([Headline("alerts", "3")])
    True
    """
    cards = "".join(
        f'<div class="figure" title="{html.escape(f.hint)}"><span>{html.escape(f.name)}</span>'
        f"<b>{html.escape(f.value)}</b></div>"
        for f in figures
    )
    tail = f'<div class="note">{html.escape(note)}</div>' if note else ""
    return f'<div class="headline">{cards}</div>{tail}'


HEADLINE_CSS = """
.headline { display: flex; flex-wrap: wrap; gap: 12px; }
.figure { border: 1px solid #ddd; border-radius: 6px; padding: 6px 12px; min-width: 110px; }
.figure span { display: block; color: #666; font-size: 11px; text-transform: uppercase; }
.figure b { font-size: 20px; }
.note { color: #555; margin-top: 6px; font-size: 13px; }
"""


def headline_panel(name: str) -> Div:
    """An empty Div that shows headline figures."""
    return Div(
        name=name,
        text=headline_html([]),
        disable_math=True,
        sizing_mode="stretch_width",
        stylesheets=[HEADLINE_CSS],
    )


def message_panel(name: str, text: str = "") -> Div:
    """A Div for a one-line message to the reader (escaped).

    Math is off in the views' Divs: their pages leave out the LaTeX bundle."""
    return Div(name=name, text=html.escape(text), sizing_mode="stretch_width", disable_math=True)


def alert_list_panel() -> Div:
    """The Div that lists the alerts of a selected bar or map bubble (:mod:`viz.alert_list`),
    with its hint until something is selected."""
    return Div(
        name="selected_alerts",
        text=NOTHING_SELECTED,
        disable_math=True,
        sizing_mode="stretch_width",
        stylesheets=[ALERT_LIST_CSS],
    )


def choices(pairs: Sequence[tuple[str, str]]) -> list[str | tuple[Any, str]]:
    """(value, label) pairs as a picker's options."""
    return list(pairs)


def column_of(*children: LayoutDOM, name: str) -> LayoutDOM:
    """The page's one root: its parts stacked, stretched to the page's width."""
    from bokeh.layouts import column

    return column(*children, name=name, sizing_mode="stretch_width")
