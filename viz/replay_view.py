"""The replay view: a finished run redrawn from its archive as a playback clock moves.

Query arguments: ``run`` (an archived run id; anything not listed in the archive folder is
refused), ``at`` (seconds into the run, or ``end``; default: the end, so the whole run shows
first) and ``speed`` (e.g. ``20x`` or ``fastest``). Play starts from the beginning when the clock
stands at the end.

Each redraw asks DuckDB for what had happened by the clock and sends the browser only those
aggregates (the inventory panel's too: :mod:`viz.inventory_queries`); moving forward, the
timeline receives just the new report windows by ``stream``.
A page holds no connection between redraws: each opens the run's file read-only for its queries
and closes it (a few milliseconds), so the file stays free for an archiver resuming that run.
"""

from __future__ import annotations

import html
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import duckdb
from bokeh.document import Document
from bokeh.layouts import row
from bokeh.models import ColumnDataSource
from bokeh.models.widgets import Button, Div, Select, Slider

from archive.aggregates import Columns, frauds_by_location, top_product_sales
from archive.files import reading
from fraudlab.errors import FraudlabError
from viz import charts, context
from viz.alert_list import NOTHING_SELECTED, AlertRow, alert_list_html
from viz.archive_queries import (
    QualitySoFar,
    RunSpan,
    alert_windows,
    alerts_of,
    quality_so_far,
    run_span,
    true_frauds_by_location,
)
from viz.fraud_map import (
    ALERT_MAP_COLUMNS,
    add_alert_bubbles,
    add_truth_rings,
    alert_map_columns,
    colour_choice,
    empty_columns,
    map_figure,
    truth_map_columns,
)
from viz.inventory_panel import NO_FORECAST, InventoryPanel
from viz.inventory_queries import InventoryFrame, inventory_frame
from viz.playback import SPEEDS, Playback, parse_speed, speed_label
from viz.run_catalog import RunChoice, checked_run_id, finished_runs, query_values

__all__ = ["OpenedRun", "ReplayFrame", "ReplayView", "build_replay", "open_run", "replay_frame"]

TICK_MS = 250
ROOT = "replay"
NO_WINDOW_YET = "No forecast window by this point of the run yet: play on, or seek further."
TRUTH_MAP_COLUMNS = ("lat", "long", "frauds", "pattern", "size")


@dataclass(frozen=True)
class ReplayFrame:
    """What the charts show at one clock position: DuckDB's answers, before any Bokeh model.

    ``since`` is set for a forward redraw: ``windows`` then holds only the reports after it.
    """

    until: int
    since: int | None
    windows: Columns
    lines: list[charts.ProductLine]
    alerts: Columns
    truth: Columns
    quality: QualitySoFar
    inventory: InventoryFrame


def replay_frame(
    con: duckdb.DuckDBPyConnection, until: int, since: int | None = None
) -> ReplayFrame:
    """The aggregates of a run by event time ``until``."""
    return ReplayFrame(
        until=until,
        since=since,
        windows=alert_windows(con, since=since, until=until),
        lines=charts.product_lines(top_product_sales(con, charts.TOP_PRODUCTS, until=until)),
        alerts=frauds_by_location(con, until=until),
        truth=true_frauds_by_location(con, until=until),
        quality=quality_so_far(con, until=until),
        inventory=inventory_frame(con, until=until),
    )


@dataclass(frozen=True)
class OpenedRun:
    """A run opened for replay: its span, clock and first frame."""

    run_id: str
    span: RunSpan
    clock: Playback
    frame: ReplayFrame


def _position(at: str | None, span: RunSpan) -> float:
    if at is None or at == "end":
        return float(span.end)
    try:
        return span.start + float(at)
    except ValueError:
        return float(span.end)


def open_run(run_id: str, at: str | None = None, speed: str | None = None) -> OpenedRun:
    """Open ``run_id`` (checked against the archive) at ``at`` (seconds in, or ``end``) and
    ``speed``; a run that cannot be replayed is a one-sentence FraudlabError."""
    with reading(context.settings().archive_dir, run_id) as con:
        span = run_span(con)
        if span is None:
            raise FraudlabError(f"run {run_id} has no events to replay.")
        chosen = parse_speed(speed) if speed else None
        clock = Playback(span.start, span.end, speed=chosen or 10.0).seek(_position(at, span))
        return OpenedRun(run_id, span, clock, replay_frame(con, clock.clock))


def _when(ts: float) -> str:
    return datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _first(arguments: dict[str, list[bytes]] | None, name: str) -> str | None:
    values = query_values(arguments, name)
    if not values:
        return None
    try:
        return values[0].decode("ascii")
    except UnicodeDecodeError:
        return None


class ReplayView:
    """One browser session's replay: widgets, sources, the open run and its clock."""

    def __init__(self, doc: Document, choices: list[RunChoice]) -> None:
        self.doc = doc
        self.choices = choices
        self.run_id: str | None = None
        self.span: RunSpan | None = None
        self.clock: Playback | None = None
        self.drawn_at: int | None = None
        self.tick_callback: Any = None
        self.last_tick = 0.0

        self.message = charts.message_panel("replay_message")
        self.picker = Select(
            title="finished run",
            options=charts.choices([(c.run_id, c.label) for c in choices]),
            value=choices[-1].run_id if choices else "",
            name="run_picker",
            width=420,
        )
        self.play = Button(label="▶ play", button_type="success", name="play", width=90)
        self.speed = Select(
            title="speed",
            options=charts.choices([(speed_label(s), speed_label(s)) for s in SPEEDS]),
            value=speed_label(10.0),
            name="speed",
            width=110,
        )
        self.position = Slider(
            title="seconds into the run",
            start=0,
            end=1,
            value=0,
            step=1,
            name="position",
            sizing_mode="stretch_width",
        )
        self.clock_text = Div(text="", name="clock_text", width=260, disable_math=True)
        self.headline = charts.headline_panel("replay_headline")

        self.timeline = charts.timeline_source()
        self.slots = charts.top_products_slots()
        self.alerts = ColumnDataSource(empty_columns(ALERT_MAP_COLUMNS), name="alert_map_source")
        self.truth = ColumnDataSource(empty_columns(TRUTH_MAP_COLUMNS), name="truth_map_source")
        fraud_map = map_figure("fraud_map", "Potential frauds by shipment location (bubbles)")
        by_probability, by_pattern = add_alert_bubbles(fraud_map, self.alerts)
        add_truth_rings(fraud_map, self.truth)

        self.inventory = InventoryPanel()
        self.selected = charts.alert_list_panel()
        self.timeline.selected.on_change("indices", self._on_bar)
        self.alerts.selected.on_change("indices", self._on_bubble)
        self.picker.on_change("value", self._on_pick)
        self.play.on_click(self._on_play)
        self.speed.on_change("value", self._on_speed)
        self.position.on_change("value_throttled", self._on_seek)
        self.root = charts.column_of(
            self.message,
            row(self.picker, self.speed, self.play, self.clock_text),
            self.position,
            self.headline,
            charts.fraud_timeline_figure(self.timeline),
            self.selected,
            charts.top_products_figure(self.slots),
            colour_choice(fraud_map, by_probability, by_pattern),
            fraud_map,
            self.inventory.layout,
            name=ROOT,
        )
        doc.add_root(self.root)
        doc.title = "fraudlab: replay"
        doc.on_session_destroyed(self._on_destroyed)

    # ---- opening a run ------------------------------------------------------------------

    def open(self, run_id: str, at: str | None = None, speed: str | None = None) -> None:
        """Open ``run_id`` (already checked against the archive) at ``at`` and ``speed``."""
        self.close()
        try:
            opened = open_run(run_id, at, speed)
        except (FraudlabError, duckdb.Error) as exc:
            self.say(str(exc))
            return
        self.show(opened)

    def show(self, opened: OpenedRun) -> None:
        """Show a run that :func:`open_run` opened."""
        self.close()
        self.run_id, self.span, self.clock = opened.run_id, opened.span, opened.clock
        span = opened.span
        self.speed.value = speed_label(opened.clock.speed)
        self.position.update(start=0, end=span.seconds, value=opened.clock.position - span.start)
        if self.picker.value != opened.run_id:
            self.picker.value = opened.run_id
        self.say(f"run {opened.run_id}: {_when(span.start)} to {_when(span.end)}")
        self.drawn_at = None
        self.draw(opened.frame)

    def close(self) -> None:
        self._stop_ticking()
        self.run_id, self.span, self.clock = None, None, None
        self.selected.text = NOTHING_SELECTED

    # ---- selecting a bar or a bubble ------------------------------------------------------

    def _list_alerts(self, heading: str, **query: Any) -> None:
        if self.run_id is None:
            return
        try:
            with reading(context.settings().archive_dir, self.run_id) as con:
                rows: list[AlertRow] = alerts_of(con, **query)
        except (FraudlabError, duckdb.Error) as exc:
            self.say(str(exc))
            return
        self.selected.text = alert_list_html(rows, heading)

    def _on_bar(self, _attr: str, _old: list[int], new: list[int]) -> None:
        ends = self.timeline.data["window_end"]
        if not new or new[0] >= len(ends):
            return
        end = int(ends[new[0]]) // 1000
        self._list_alerts(f"the 2-minute window ending {_when(end)}", window_end=end)

    def _on_bubble(self, _attr: str, _old: list[int], new: list[int]) -> None:
        data = self.alerts.data
        if not new or new[0] >= len(data["lat"]) or self.clock is None:
            return
        lat, long = float(data["lat"][new[0]]), float(data["long"][new[0]])
        until = self.clock.clock
        heading = f"shipments near ({lat:g}, {long:g}) up to {_when(until)}"
        self._list_alerts(heading, cell=(lat, long), until=until)

    def say(self, text: str) -> None:
        self.message.text = f"<p>{html.escape(text)}</p>"

    # ---- drawing --------------------------------------------------------------------------

    def redraw(self) -> None:
        """Bring every chart to the clock (moving forward, the timeline gets only new reports)."""
        if self.run_id is None or self.clock is None:
            return
        until = self.clock.clock
        forward = self.drawn_at is not None and until >= self.drawn_at
        try:
            with reading(context.settings().archive_dir, self.run_id) as con:
                frame = replay_frame(con, until, since=self.drawn_at if forward else None)
        except (FraudlabError, duckdb.Error) as exc:
            # being archived again, say: the page keeps what it shows and says why it stopped
            if self.clock.playing:
                self.clock = self.clock.paused()
                self._stop_ticking()
                self._show_position()
            self.say(str(exc))
            return
        self.draw(frame)

    def draw(self, frame: ReplayFrame) -> None:
        """Put a frame's aggregates into the charts' sources."""
        if frame.since is None:
            self.timeline.data = charts.timeline_columns(frame.windows)
        elif frame.windows["window_end"]:
            self.timeline.stream(charts.timeline_columns(frame.windows))
        for i, slot in enumerate(self.slots):
            line = frame.lines[i] if i < len(frame.lines) else charts.NO_PRODUCT
            slot.data = charts.slot_columns(line)
        self.alerts.data = alert_map_columns(frame.alerts)
        self.truth.data = truth_map_columns(frame.truth)
        self._draw_inventory(frame.inventory)
        q = frame.quality
        fraction = self.clock.fraction if self.clock is not None else 0.0
        self.headline.text = charts.headline_html(
            [
                charts.Headline("flagged so far", f"{q.flagged:,}", "flagged transactions"),
                charts.Headline("true frauds so far", f"{q.frauds:,}", "by ground truth"),
                charts.Headline("precision", charts.figure_text(q.precision), "against truth"),
                charts.Headline("recall", charts.figure_text(q.recall), "against truth"),
                charts.Headline("played", f"{fraction:.0%}", "of the run's event time"),
            ]
        )
        if self.clock is not None:
            self.clock_text.text = f"<b>{_when(self.clock.position)}</b>"
        self.drawn_at = frame.until

    def _draw_inventory(self, inventory: InventoryFrame) -> None:
        if not inventory.has_forecast:
            self.inventory.show_empty(NO_FORECAST)
        elif not inventory.shown:
            self.inventory.show_empty(NO_WINDOW_YET)
        else:
            self.inventory.draw(
                inventory.shown, inventory.lines, inventory.restock, inventory.restock_window
            )

    def _show_position(self) -> None:
        assert self.clock is not None and self.span is not None
        self.position.value = self.clock.position - self.span.start
        self.play.label = "‖ pause" if self.clock.playing else "▶ play"

    # ---- playing ----------------------------------------------------------------------------

    def _tick(self) -> None:
        if self.clock is None:
            self._stop_ticking()
            return
        now = time.monotonic()
        self.clock = self.clock.advanced(now - self.last_tick)
        self.last_tick = now
        if self.clock.redraw_due(self.drawn_at):
            self.redraw()
        self._show_position()
        if not self.clock.playing:
            self._stop_ticking()

    def _start_ticking(self) -> None:
        if self.tick_callback is None:
            self.last_tick = time.monotonic()
            self.tick_callback = self.doc.add_periodic_callback(self._tick, TICK_MS)

    def _stop_ticking(self) -> None:
        if self.tick_callback is not None:
            self.doc.remove_periodic_callback(self.tick_callback)
            self.tick_callback = None

    def _on_play(self) -> None:
        if self.clock is None:
            return
        if self.clock.playing:
            self.clock = self.clock.paused()
            self._stop_ticking()
        else:
            restart = self.clock.position >= self.clock.end
            self.clock = self.clock.playing_at()
            if restart:
                self.redraw()
            self._start_ticking()
        self._show_position()

    def _on_speed(self, _attr: str, _old: str, new: str) -> None:
        speed = parse_speed(new)
        if speed is not None and self.clock is not None:
            self.clock = self.clock.at_speed(speed)

    def _on_seek(self, _attr: str, _old: float, new: float) -> None:
        if self.clock is None or self.span is None:
            return
        self.clock = self.clock.seek(self.span.start + float(new))
        self.redraw()
        self._show_position()

    def _on_pick(self, _attr: str, _old: str, new: str) -> None:
        run_id = checked_run_id(new, [c.run_id for c in self.choices])
        if run_id is None:
            self.say("that run is not in the archive folder.")
            return
        if run_id != self.run_id:
            self.open(run_id)

    def _on_destroyed(self, _session_context: Any) -> None:
        self.close()


def build_replay(doc: Document, arguments: dict[str, list[bytes]] | None = None) -> ReplayView:
    """Add the replay view to ``doc``; ``arguments`` are the page's query arguments."""
    archive_dir = context.settings().archive_dir
    choices = finished_runs(archive_dir)
    known = [c.run_id for c in choices]
    asked = query_values(arguments, "run")
    run_id = checked_run_id(asked[0], known) if asked else (known[-1] if known else None)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # DuckDB answers (it lets go of the GIL) while the figures are built
        opening = (
            pool.submit(open_run, run_id, _first(arguments, "at"), _first(arguments, "speed"))
            if run_id is not None
            else None
        )
        view = ReplayView(doc, choices)
        if not choices:
            view.say(
                f"no finished runs in {archive_dir}: archive a run first (`fraudlab archive`)."
            )
        elif opening is None:
            view.say("no such finished run in the archive folder: pick one from the list.")
        else:
            try:
                view.show(opening.result())
            except (FraudlabError, duckdb.Error) as exc:
                view.say(str(exc))
    return view
