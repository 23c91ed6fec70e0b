"""The inventory panel of /live and /replay.

Builders are plain functions over columns (``window_end``, ``product_id``, ... as the archive's
``inventory_forecast`` and ``inventory`` tables name them, or as the live fold keeps them):

- :func:`leading_products`: the products with the most forecast units;
- :func:`demand_lines`: per leading product and 30 s window, the forecast units over the horizon
  beside the units then sold over the same horizon (the later windows' ``units``), the latter
  only where the horizon had passed by what is known (the replay's clock, the live run's latest
  window);
- :func:`stock_lines`: stock levels over time with the stock-outs marked, from the inventory
  records, or :func:`stock_from_forecasts` (the forecast rows' ``stock``) where there are none;
- :func:`restock_columns`: the latest window's products to restock.

:class:`InventoryPanel` holds the sources and figures; both views hand it :class:`PanelLine`
values, whole (the replay, and a live line drawn anew) or as new points to ``stream``. Without
forecast rows it shows a short text instead of empty charts. Times arrive in Unix seconds and
leave in milliseconds.

>>> rows = {"window_end": [30, 60, 90], "product_id": ["a", "a", "a"],
...         "product_name": ["A", "A", "A"], "horizon_minutes": [1.0, 1.0, 1.0],
...         "forecast_units": [4.0, 5.0, 6.0], "units": [1, 2, 3]}
>>> [(ln.series, ln.x, ln.y) for ln in demand_lines(rows, ["a"])]
[('forecast', [30000, 60000, 90000], [4.0, 5.0, 6.0]), ('actual', [30000], [5.0])]
"""

from __future__ import annotations

import bisect
import html
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bokeh.core.properties import field as data_field
from bokeh.layouts import column
from bokeh.models import ColumnDataSource, DataRange1d, HoverTool
from bokeh.models.annotations import Legend, LegendItem
from bokeh.models.widgets import DataTable, Div, NumberFormatter, TableColumn
from bokeh.palettes import Category10_10
from bokeh.plotting import figure

from archive.aggregates import Columns
from viz import charts

__all__ = [
    "LEADING_PRODUCTS",
    "NO_FORECAST",
    "InventoryPanel",
    "PanelLine",
    "demand_lines",
    "leading_products",
    "restock_columns",
    "stock_from_forecasts",
    "stock_lines",
]

LEADING_PRODUCTS = 5
SERIES = ("forecast", "actual", "stock", "stock_out")
RESTOCK_COLUMNS = (
    "product_id",
    "product_name",
    "stock",
    "on_order",
    "forecast_units",
    "cover_minutes",
)
# the most points a live line keeps in the browser: about 4 hours of 30 s windows
INVENTORY_ROLLOVER = 500
STOCK_ROLLOVER = 2000
NO_FORECAST = (
    "No demand forecast in this run: the engine writes one every 30 s of event time when its "
    "model has a demand forecast (older runs and models without one have none)."
)
STOCK_OUT_COLOUR = "#d62728"


@dataclass(frozen=True)
class PanelLine:
    """One series (:data:`SERIES`) of one leading product; x in ms. ``full``: the whole line,
    else only points to append to what was drawn."""

    series: str
    product_id: str
    label: str
    x: list[int]
    y: list[float]
    full: bool = True


def product_label(product_id: str, name: str | None) -> str:
    """How the legends name a product.

    >>> product_label("p1", "Blue Shirt"), product_label("p2", None)
    ('Blue Shirt (p1)', 'p2')
    """
    return f"{name} ({product_id})" if name and name != product_id else product_id


def leading_products(rows: Columns, n: int = LEADING_PRODUCTS) -> list[str]:
    """The ``n`` products with the most forecast units over the rows, most first.

    >>> leading_products({"product_id": ["a", "b", "a"], "forecast_units": [1.0, 1.5, 1.0]}, 1)
    ['a']
    """
    totals: dict[str, float] = {}
    for pid, units in zip(rows["product_id"], rows["forecast_units"], strict=True):
        totals[pid] = totals.get(pid, 0.0) + float(units or 0.0)
    return sorted(totals, key=lambda p: (-totals[p], p))[:n]


def demand_lines(
    rows: Columns, products: Sequence[str], known_until: int | None = None
) -> list[PanelLine]:
    """Per product of ``products``: its forecast per window (``forecast``) and the units it then
    sold over the same horizon (``actual``: the ``units`` of its windows ending in
    ``(t, t + horizon]``), drawn only where ``t + horizon <= known_until`` (default: the latest
    window's end among the rows)."""
    ends = [int(e) for e in rows["window_end"]]
    if known_until is None:
        known_until = max(ends, default=0)
    by_product: dict[str, list[tuple[int, float, int, float]]] = {p: [] for p in products}
    names: dict[str, str] = {}
    for end, pid, name, horizon, forecast, units in zip(
        ends,
        rows["product_id"],
        rows["product_name"],
        rows["horizon_minutes"],
        rows["forecast_units"],
        rows["units"],
        strict=True,
    ):
        if pid in by_product:
            by_product[pid].append((end, float(forecast), int(units or 0), float(horizon) * 60))
            names[pid] = name
    lines = []
    for pid in products:
        points = sorted(by_product[pid])
        label = product_label(pid, names.get(pid))
        window_ends = [p[0] for p in points]
        sold = [0]
        for p in points:
            sold.append(sold[-1] + p[2])
        actual_x, actual_y = [], []
        for end, _, _, horizon_s in points:
            last = end + int(horizon_s)
            if last > known_until:
                continue
            lo, hi = bisect.bisect_right(window_ends, end), bisect.bisect_right(window_ends, last)
            actual_x.append(end * 1000)
            actual_y.append(float(sold[hi] - sold[lo]))
        forecast_x = [p[0] * 1000 for p in points]
        lines.append(PanelLine("forecast", pid, label, forecast_x, [p[1] for p in points]))
        lines.append(PanelLine("actual", pid, label, actual_x, actual_y))
    return lines


def stock_lines(
    changes: Columns, products: Sequence[str], labels: dict[str, str] | None = None
) -> list[PanelLine]:
    """Per product of ``products``: its shelf level after each change (``stock``), in the order
    given, and its stock-outs (``stock_out``, at the level the checkout found).

    ``changes``: ``ts``, ``product_id``, ``change`` and ``level``, in the order they happened.
    """
    labels = labels or {}
    points: dict[str, tuple[list[int], list[float], list[int], list[float]]] = {
        p: ([], [], [], []) for p in products
    }
    for ts, pid, change, level in zip(
        changes["ts"], changes["product_id"], changes["change"], changes["level"], strict=True
    ):
        if pid not in points:
            continue
        x, y, out_x, out_y = points[pid]
        x.append(int(ts) * 1000)
        y.append(float(level))
        if change == "stock_out":
            out_x.append(int(ts) * 1000)
            out_y.append(float(level))
    lines = []
    for pid in products:
        x, y, out_x, out_y = points[pid]
        label = labels.get(pid, pid)
        lines.append(PanelLine("stock", pid, label, x, y))
        lines.append(PanelLine("stock_out", pid, label, out_x, out_y))
    return lines


def stock_from_forecasts(
    rows: Columns, products: Sequence[str], labels: dict[str, str] | None = None
) -> list[PanelLine]:
    """The stock line of each product from the forecast rows' ``stock`` (where the run has no
    inventory records at hand); no stock-outs can be told from them."""
    stocked = [i for i, s in enumerate(rows.get("stock", [])) if s is not None]
    changes = {
        "ts": [rows["window_end"][i] for i in stocked],
        "product_id": [rows["product_id"][i] for i in stocked],
        "change": ["report"] * len(stocked),
        "level": [rows["stock"][i] for i in stocked],
    }
    order = sorted(range(len(stocked)), key=lambda k: changes["ts"][k])
    ordered = {name: [values[k] for k in order] for name, values in changes.items()}
    return stock_lines(ordered, products, labels)


def restock_columns(rows: Columns) -> dict[str, list[Any]]:
    """The products of the latest window whose ``restock`` is true, the shortest cover first.

    >>> restock_columns({"window_end": [30, 60, 60], "product_id": ["a", "b", "c"],
    ...     "product_name": ["A", "B", "C"], "stock": [0, 2, 9], "on_order": [0, 0, 0],
    ...     "forecast_units": [9.0, 5.0, 1.0], "cover_minutes": [0.0, 0.4, 9.0],
    ...     "restock": [1, 1, 0]})["product_id"]
    ['b']
    """
    ends = rows.get("window_end", [])
    if not ends:
        return {name: [] for name in RESTOCK_COLUMNS}
    latest = max(ends)
    chosen = [i for i, end in enumerate(ends) if end == latest and rows["restock"][i]]
    chosen.sort(key=lambda i: (_cover(rows["cover_minutes"][i]), rows["product_id"][i]))
    return {name: [rows[name][i] for i in chosen] for name in RESTOCK_COLUMNS}


def _cover(minutes: float | None) -> float:
    return float("inf") if minutes is None else float(minutes)


# ---- the panel ------------------------------------------------------------------------------


def _slot_columns(line: PanelLine | None = None) -> dict[str, Any]:
    if line is None:
        return {"x": [], "y": [], "label": []}
    return {"x": list(line.x), "y": list(line.y), "label": [line.label] * len(line.x)}


def _figure(name: str, title: str, y_label: str) -> Any:
    p = figure(
        name=name,
        title=title,
        x_axis_type="datetime",
        height=charts.PLOT_HEIGHT,
        sizing_mode="stretch_width",
        tools=charts.TOOLS,
        y_range=DataRange1d(start=0),
    )
    p.yaxis.axis_label = y_label
    return p


def demand_figure(forecast: Sequence[ColumnDataSource], actual: Sequence[ColumnDataSource]) -> Any:
    """Forecast units (solid) and units then sold (dashed) per window, one colour per slot."""
    p = _figure(
        "demand_forecast",
        "Forecast demand (solid) against units sold (dashed) over the horizon after each window",
        "units over the horizon",
    )
    items = []
    for i, (f, a) in enumerate(zip(forecast, actual, strict=True)):
        colour = Category10_10[i % len(Category10_10)]
        line: Any = p.line("x", "y", source=f, color=colour, line_width=2)
        p.line("x", "y", source=a, color=colour, line_width=2, line_dash="dashed")
        items.append(LegendItem(label=data_field("label"), renderers=[line], index=0))
    p.add_layout(Legend(items=items, location="top_left", label_text_font_size="8pt"))
    p.add_tools(
        HoverTool(
            tooltips=[("product", "@label"), ("units", "@y{0.0}"), ("window end", "@x{%F %T}")],
            formatters={"@x": "datetime"},
        )
    )
    return p


def stock_figure(stock: Sequence[ColumnDataSource], outs: Sequence[ColumnDataSource]) -> Any:
    """Shelf levels as steps, one colour per slot, stock-outs as red crosses."""
    p = _figure("stock_levels", "Stock on the shelf, with stock-outs (x)", "units on the shelf")
    items, out_renderers = [], []
    for i, (s, o) in enumerate(zip(stock, outs, strict=True)):
        colour = Category10_10[i % len(Category10_10)]
        line: Any = p.step("x", "y", source=s, color=colour, line_width=2, mode="after")
        items.append(LegendItem(label=data_field("label"), renderers=[line], index=0))
        out_renderers.append(
            p.scatter("x", "y", source=o, marker="x", size=12, line_width=3, color=STOCK_OUT_COLOUR)
        )
    items.append(LegendItem(label="stock-out", renderers=out_renderers))
    p.add_layout(Legend(items=items, location="top_left", label_text_font_size="8pt"))
    p.add_tools(
        HoverTool(
            tooltips=[("product", "@label"), ("level", "@y{0}"), ("at", "@x{%F %T}")],
            formatters={"@x": "datetime"},
        )
    )
    return p


def restock_table(source: ColumnDataSource) -> DataTable:
    """The restock list: product, name, stock, on order, forecast and minutes of cover."""
    one = NumberFormatter(format="0.0")
    whole = NumberFormatter(format="0,0")
    columns = [
        TableColumn(field="product_id", title="product", width=90),
        TableColumn(field="product_name", title="name", width=240),
        TableColumn(field="stock", title="stock", formatter=whole, width=70),
        TableColumn(field="on_order", title="on order", formatter=whole, width=70),
        TableColumn(field="forecast_units", title="forecast", formatter=one, width=80),
        TableColumn(field="cover_minutes", title="cover (min)", formatter=one, width=90),
    ]
    return DataTable(
        source=source,
        columns=columns,
        name="restock_table",
        height=200,
        index_position=None,
        reorderable=False,  # needs jquery-ui, which the pages leave out
        sizing_mode="stretch_width",
    )


class InventoryPanel:
    """The inventory panel's sources, figures and restock table, and how lines go into them."""

    def __init__(self, n: int = LEADING_PRODUCTS, empty_text: str = NO_FORECAST) -> None:
        self.empty_text = empty_text
        self.slot_products: list[str | None] = [None] * n
        self.slots = {
            series: [
                ColumnDataSource(_slot_columns(), name=f"inventory_{series}_slot_{i}")
                for i in range(n)
            ]
            for series in SERIES
        }
        self.restock = ColumnDataSource(
            {name: [] for name in RESTOCK_COLUMNS}, name="restock_source"
        )
        self.message = charts.message_panel("inventory_message", empty_text)
        self.restock_title = Div(
            name="restock_title", text="<b>Restock list</b>", disable_math=True
        )
        self.charts = column(
            demand_figure(self.slots["forecast"], self.slots["actual"]),
            stock_figure(self.slots["stock"], self.slots["stock_out"]),
            self.restock_title,
            restock_table(self.restock),
            sizing_mode="stretch_width",
            visible=False,
        )
        heading = Div(
            text="<h3>Inventory: demand forecast, stock and restock list</h3>",
            name="inventory_title",
            disable_math=True,
        )
        self.layout = column(
            heading, self.message, self.charts, name="inventory_panel", sizing_mode="stretch_width"
        )

    def show_empty(self, text: str | None = None) -> None:
        """Say why there is nothing to draw (``text``, else the panel's own), instead of empty
        charts."""
        self.message.text = f"<p>{html.escape(text or self.empty_text)}</p>"
        self.message.visible = True
        self.charts.visible = False
        for i in range(len(self.slot_products)):
            self._clear_slot(i)
        self.restock.data = {name: [] for name in RESTOCK_COLUMNS}

    def draw(
        self,
        shown: Sequence[str],
        lines: Sequence[PanelLine],
        restock: dict[str, list[Any]] | None = None,
        restock_window: int | None = None,
    ) -> None:
        """Put the leading products ``shown`` in slots and draw ``lines`` (whole lines replace
        a slot's series, others are streamed onto it); ``restock``: the list, when it changed."""
        if not shown:
            self.show_empty()
            return
        self.message.visible = False
        self.charts.visible = True
        wanted = set(shown)
        for i, pid in enumerate(self.slot_products):
            if pid is not None and pid not in wanted:
                self._clear_slot(i)
        for pid in shown:
            if pid not in self.slot_products and None in self.slot_products:
                self.slot_products[self.slot_products.index(None)] = pid
        for line in lines:
            if line.product_id not in self.slot_products:
                continue
            source = self.slots[line.series][self.slot_products.index(line.product_id)]
            if line.full:
                source.data = _slot_columns(line)
            elif line.x:
                rollover = STOCK_ROLLOVER if line.series.startswith("stock") else INVENTORY_ROLLOVER
                source.stream(_slot_columns(line), rollover=rollover)
        if restock is not None:
            self.restock.data = dict(restock)
            when = "" if restock_window is None else f" (window ending {_clock(restock_window)})"
            self.restock_title.text = (
                f"<b>Restock list{when}</b>: forecast demand over the lead time exceeds "
                "stock plus what is on order"
            )

    def _clear_slot(self, i: int) -> None:
        self.slot_products[i] = None
        for series in SERIES:
            if len(self.slots[series][i].data["x"]):
                self.slots[series][i].data = _slot_columns()


def _clock(ts: int) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
