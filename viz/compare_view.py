"""The compare view: two or more archived runs side by side.

Query argument ``runs`` (comma-separated or repeated; each checked against the archive folder's
list). Runs are labelled ``#1``, ``#2``, ... in the order chosen; the fraud-map difference is
that of a chosen run against ``#1``.

Charts: the 10 s report timelines overlaid by minutes since each run's first event; recall per
fraud pattern side by side; how many flagged transactions each combination of runs shares; the
difference between two runs' fraud maps; and the demand forecast's error per run beside its two
baselines (:mod:`archive.forecast_quality`; "-" for a run without a forecast).
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any

import duckdb
from bokeh.document import Document
from bokeh.layouts import row
from bokeh.models import ColumnDataSource, FactorRange, HoverTool, Range1d
from bokeh.models.widgets import DataTable, Div, MultiChoice, Select, TableColumn
from bokeh.palettes import Category10_10
from bokeh.plotting import figure

from archive.aggregates import Columns, frauds_by_location
from archive.files import reading
from archive.forecast_quality import ForecastQuality, forecast_quality
from archive.quality import detection_quality
from fraudlab.errors import FraudlabError
from viz import charts, context
from viz.archive_queries import alert_overlap, alert_timeline, run_span
from viz.fraud_map import add_difference_bubbles, difference_columns, empty_columns, map_figure
from viz.run_catalog import RunChoice, checked_run_ids, finished_runs, query_values

__all__ = [
    "CompareView",
    "RunFigures",
    "build_compare",
    "forecast_error_columns",
    "recall_columns",
    "timeline_lines",
]

ROOT = "compare"
DIFFERENCE_COLUMNS = ("lat", "long", "difference", "size", "change", "colour")


@dataclass(frozen=True)
class RunFigures:
    """What the compare charts need of one run, computed once when it is chosen."""

    run_id: str
    timeline: Columns
    recall: dict[str, float | None]
    frauds_by_location: Columns
    forecast: ForecastQuality | None = None


def run_figures(run_id: str) -> RunFigures:
    """One run's timeline, recall per pattern, fraud map and forecast error, from its archive."""
    with reading(context.settings().archive_dir, run_id) as con:
        span = run_span(con)
        timeline = alert_timeline(con, span.start if span else 0)
        quality = detection_quality(con)
        located = frauds_by_location(con)
        forecast = forecast_quality(con)
    recall = {p.pattern: p.recall for p in quality.per_pattern if p.frauds > 0}
    return RunFigures(run_id, timeline, recall, located, forecast)


def label(position: int) -> str:
    """How the charts name the run at ``position`` (0-based).

    >>> label(0)
    '#1'
    """
    return f"#{position + 1}"


def timeline_lines(runs: list[RunFigures]) -> dict[str, list[Any]]:
    """Each run's 10 s report counts as one line of a multi-line source."""
    return {
        "xs": [list(r.timeline["minutes"]) for r in runs],
        "ys": [list(r.timeline["alerts"]) for r in runs],
        "label": [f"{label(i)} {r.run_id}" for i, r in enumerate(runs)],
        "colour": [Category10_10[i % 10] for i in range(len(runs))],
    }


def recall_columns(runs: list[RunFigures]) -> dict[str, list[Any]]:
    """Recall per (pattern, run) for grouped bars, for the patterns any run saw frauds of.

    >>> recall_columns([RunFigures("a", {}, {"p": 0.5}, {}), RunFigures("b", {}, {}, {})])["x"]
    [('p', '#1'), ('p', '#2')]
    """
    patterns = sorted({p for r in runs for p in r.recall})
    x, recall, colour = [], [], []
    for pattern in patterns:
        for i, r in enumerate(runs):
            x.append((pattern or "(none)", label(i)))
            found = r.recall.get(pattern)
            # no bar where a run saw no fraud of the pattern (nothing to recall)
            recall.append(math.nan if found is None else found)
            colour.append(Category10_10[i % 10])
    return {"x": x, "recall": recall, "colour": colour}


FORECAST_ERROR_TITLES = {
    "run": "run",
    "wape": "forecast WAPE",
    "naive_wape": "naive WAPE",
    "sales_only_wape": "sales-only WAPE",
    "over_naive": "forecast / naive",
    "windows": "windows measured",
    "stock_outs": "stock-outs",
}


def forecast_error_columns(runs: list[RunFigures]) -> dict[str, list[str]]:
    """One row per run: the WAPE of its demand forecast and of the naive and sales-only
    baselines, as text; "-" for a run without a forecast (or where nothing sold).

    >>> forecast_error_columns([RunFigures("old", {}, {}, {})])["wape"]
    ['-']
    """
    out: dict[str, list[str]] = {name: [] for name in FORECAST_ERROR_TITLES}
    for i, r in enumerate(runs):
        q = r.forecast
        out["run"].append(f"{label(i)} {r.run_id}")
        out["wape"].append(charts.figure_text(q.wape if q else None))
        out["naive_wape"].append(charts.figure_text(q.naive_wape if q else None))
        out["sales_only_wape"].append(charts.figure_text(q.sales_only_wape if q else None))
        out["over_naive"].append(charts.figure_text(q.over_naive if q else None))
        out["windows"].append("-" if q is None else f"{q.windows:,}")
        out["stock_outs"].append("-" if q is None else f"{q.stock_outs:,}")
    return out


def forecast_error_table(source: ColumnDataSource) -> DataTable:
    """The forecast's error per run (lower is better; a ratio below 1 beat the naive one)."""
    return DataTable(
        source=source,
        columns=[
            TableColumn(field=name, title=title, width=240 if name == "run" else 110)
            for name, title in FORECAST_ERROR_TITLES.items()
        ],
        name="forecast_error_table",
        height=150,
        index_position=None,
        reorderable=False,  # needs jquery-ui, which the pages leave out
        sizing_mode="stretch_width",
    )


class CompareView:
    """One browser session's comparison: the chosen runs and their charts."""

    def __init__(self, doc: Document, choices: list[RunChoice]) -> None:
        self.choices = choices
        self.runs: list[RunFigures] = []
        self.updating_picker = False
        self.message = charts.message_panel("compare_message")
        self.picker = MultiChoice(
            title="runs to compare (two or more)",
            options=charts.choices([(c.run_id, c.label) for c in choices]),
            value=[],
            name="runs_picker",
            sizing_mode="stretch_width",
        )
        self.map_other = Select(title="fraud map of", options=[], value="", width=300)
        self.timelines = ColumnDataSource(
            {"xs": [], "ys": [], "label": [], "colour": []}, name="compare_timeline_source"
        )
        self.recall = ColumnDataSource({"x": [], "recall": [], "colour": []}, name="recall_source")
        self.overlap = ColumnDataSource(
            {"combination": [], "runs": [], "transactions": []}, name="alert_overlap_source"
        )
        self.difference = ColumnDataSource(
            empty_columns(DIFFERENCE_COLUMNS), name="map_difference_source"
        )
        self.forecast_error = ColumnDataSource(
            {name: [] for name in FORECAST_ERROR_TITLES}, name="forecast_error_source"
        )
        self.recall_figure = self._recall_figure()
        self.overlap_figure = self._overlap_figure()
        self.difference_map = map_figure(
            "map_difference", "Fraud map difference: alerts per cell against #1"
        )
        add_difference_bubbles(self.difference_map, self.difference)
        self.picker.on_change("value", self._on_pick)
        self.map_other.on_change("value", lambda _a, _o, _n: self._draw_difference())
        self.root = charts.column_of(
            self.message,
            self.picker,
            self._timeline_figure(),
            row(self.recall_figure, self.overlap_figure, sizing_mode="stretch_width"),
            self.map_other,
            self.difference_map,
            Div(
                text="<b>Demand forecast error per run</b> (WAPE: absolute error over units "
                "sold, lower is better; beside it the naive and sales-only baselines)",
                disable_math=True,
                name="forecast_error_title",
            ),
            forecast_error_table(self.forecast_error),
            name=ROOT,
        )
        doc.add_root(self.root)
        doc.title = "fraudlab: compare"

    def _timeline_figure(self) -> Any:
        p = figure(
            name="compare_timeline",
            title="Potential frauds per 10 s report, by minutes since each run's first event",
            height=charts.PLOT_HEIGHT,
            sizing_mode="stretch_width",
            tools=charts.TOOLS,
            x_axis_label="minutes into the run",
            y_axis_label="potential frauds",
        )
        p.multi_line(
            "xs", "ys", source=self.timelines, color="colour", line_width=2, legend_field="label"
        )
        p.legend.location = "top_left"
        return p

    def _recall_figure(self) -> Any:
        p = figure(
            name="recall_by_pattern",
            title="Recall per fraud pattern",
            x_range=FactorRange(),
            y_range=Range1d(start=0, end=1.05),
            height=charts.PLOT_HEIGHT,
            sizing_mode="stretch_width",
            tools="save",
        )
        p.vbar(x="x", top="recall", width=0.8, source=self.recall, color="colour")
        p.add_tools(HoverTool(tooltips=[("pattern, run", "@x"), ("recall", "@recall{0.000}")]))
        p.xaxis.major_label_orientation = 0.9
        return p

    def _overlap_figure(self) -> Any:
        p = figure(
            name="alert_overlap",
            title="Flagged transactions by the runs that flagged them",
            y_range=FactorRange(),
            height=charts.PLOT_HEIGHT,
            sizing_mode="stretch_width",
            tools="save",
            x_axis_label="transactions",
        )
        p.hbar(y="combination", right="transactions", height=0.7, source=self.overlap)
        p.add_tools(
            HoverTool(tooltips=[("runs", "@combination"), ("transactions", "@transactions")])
        )
        return p

    def say(self, text: str) -> None:
        self.message.text = text

    def compare(self, run_ids: list[str]) -> None:
        """Draw the comparison of ``run_ids`` (already checked against the archive)."""
        self.updating_picker = True
        try:
            self.picker.value = run_ids
        finally:
            self.updating_picker = False
        try:
            self.runs = [run_figures(r) for r in run_ids]
            overlap = alert_overlap(context.settings().archive_dir, run_ids)
        except (FraudlabError, duckdb.Error) as exc:
            self.say(f"<p>{html.escape(str(exc))}</p>")
            return
        legend = ", ".join(f"<b>{label(i)}</b> {html.escape(r)}" for i, r in enumerate(run_ids))
        hint = "" if len(run_ids) >= 2 else " (choose at least two runs to compare)"
        self.say(f"<p>{legend or 'no runs chosen'}{hint}</p>")
        self.timelines.data = timeline_lines(self.runs)
        recall = recall_columns(self.runs)
        self.recall_figure.x_range.factors = recall["x"]
        self.recall.data = recall
        self.overlap_figure.y_range.factors = list(reversed(overlap["combination"]))
        self.overlap.data = overlap
        self.forecast_error.data = forecast_error_columns(self.runs)
        others = [(r, f"{label(i)} {r}") for i, r in enumerate(run_ids)][1:]
        self.map_other.options = charts.choices(others)
        self.map_other.value = others[0][0] if others else ""
        self._draw_difference()

    def _draw_difference(self) -> None:
        chosen = [r for r in self.runs[1:] if r.run_id == self.map_other.value]
        if not self.runs or not chosen:
            self.difference.data = empty_columns(DIFFERENCE_COLUMNS)
            return
        base, other = self.runs[0], chosen[0]
        self.difference.data = difference_columns(base.frauds_by_location, other.frauds_by_location)
        self.difference_map.title.text = (
            f"Fraud map difference: alerts per cell of {other.run_id} against {base.run_id}"
        )

    def _on_pick(self, _attr: str, _old: list[str], new: list[str]) -> None:
        if self.updating_picker:
            return
        self.compare(checked_run_ids(new, [c.run_id for c in self.choices]))


def build_compare(doc: Document, arguments: dict[str, list[bytes]] | None = None) -> CompareView:
    """Add the compare view to ``doc``; ``arguments`` are the page's query arguments."""
    archive_dir = context.settings().archive_dir
    choices = finished_runs(archive_dir)
    view = CompareView(doc, choices)
    known = [c.run_id for c in choices]
    asked = query_values(arguments, "runs")
    run_ids = checked_run_ids(asked, known) if asked else known[-2:]
    if not choices:
        view.say(f"<p>no finished runs in {html.escape(str(archive_dir))}.</p>")
    else:
        view.compare(run_ids)
    return view
