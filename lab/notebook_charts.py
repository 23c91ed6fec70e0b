"""A run's charts in a notebook: the live view's own charts, shown inline with Bokeh.

:func:`show_live` shows :class:`viz.live_charts.LiveCharts` (the headline, the fraud-alerts
bars, the top products' cumulative sales lines and the fraud map) and draws each delta of a
:class:`viz.live_feed.LiveFeed` on them, pushed to the page with ``push_notebook``, while the run
plays. :func:`show_archived` fills the same charts once from an archived run, with the replay
view's queries (:func:`viz.replay_view.replay_frame` at the run's end). No second chart code.

The feed's deltas arrive on its own thread; they are drawn on the notebook's (the cell's)
thread, which waits for them, so a Bokeh model is touched by one thread only.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bokeh.io import output_notebook, push_notebook, show
from bokeh.models import LayoutDOM

from archive.files import reading
from fraudlab.errors import UsageError
from viz import charts
from viz.archive_queries import run_span
from viz.fraud_map import alert_map_columns
from viz.live_charts import LiveCharts
from viz.live_feed import LiveFeed, LiveUpdate
from viz.replay_view import ReplayFrame, replay_frame

__all__ = [
    "LIVE_SETTLE_S",
    "LiveShown",
    "charts_layout",
    "draw_frame",
    "show_archived",
    "show_live",
]

# once the run has ended, the display goes on until the feed has had nothing new for this long:
# the last reports reach the feed after the run's end is announced
LIVE_SETTLE_S = 4.0
# how often the display asks whether the run has ended
ENDED_EVERY_S = 2.0


def charts_layout(live: LiveCharts, name: str) -> LayoutDOM:
    """The charts stacked as the live view stacks them: headline, bars, lines, map."""
    return charts.column_of(
        live.headline, live.timeline_figure, live.top_figure, *live.map_parts, name=name
    )


def draw_frame(live: LiveCharts, frame: ReplayFrame) -> None:
    """Put an archived run's aggregates (a replay view's frame) into the charts' sources."""
    live.timeline.data = charts.timeline_columns(frame.windows)
    for i, slot in enumerate(live.slots):
        line = frame.lines[i] if i < len(frame.lines) else charts.NO_PRODUCT
        slot.data = charts.slot_columns(line)
    live.alerts.data = alert_map_columns(frame.alerts)
    q = frame.quality
    live.headline.text = charts.headline_html(
        [
            charts.Headline("flagged", f"{q.flagged:,}", "flagged transactions"),
            charts.Headline("true frauds", f"{q.frauds:,}", "by ground truth"),
            charts.Headline("precision", charts.figure_text(q.precision), "against truth"),
            charts.Headline("recall", charts.figure_text(q.recall), "against truth"),
        ]
    )


def show_archived(archive_dir: Path, run_id: str) -> LayoutDOM:
    """Show an archived run's charts in the notebook (its whole run, as the replay view shows
    it at the end); the layout shown."""
    with reading(archive_dir, run_id) as con:
        span = run_span(con)
        if span is None:
            raise UsageError(f"run {run_id} has no events to chart.")
        frame = replay_frame(con, span.end)
    live = LiveCharts()
    draw_frame(live, frame)
    layout = charts_layout(live, f"charts_{run_id}")
    output_notebook(hide_banner=True)
    show(layout)
    return layout


@dataclass(frozen=True)
class LiveShown:
    """What a live display drew: its charts, how many updates it pushed to the page, and why
    it stopped (``ended``: the run ended; ``time up``: the seconds asked for went by)."""

    charts: LiveCharts = field(repr=False)
    pushes: int
    stopped: str


def show_live(
    bootstrap: str, run_id: str, ended: Callable[[], bool], seconds: float | None = None
) -> LiveShown:
    """Show run ``run_id``'s live charts in the notebook and update them from Kafka at
    ``bootstrap`` until ``ended()`` says the run has ended (and the feed has settled) or
    ``seconds`` wall seconds have gone by; blocks the cell meanwhile."""
    live = LiveCharts()
    output_notebook(hide_banner=True)
    handle = show(charts_layout(live, f"live_{run_id}"), notebook_handle=True)
    updates: queue.Queue[LiveUpdate] = queue.Queue()
    feed = LiveFeed(bootstrap)
    feed.start()
    pushes = 0
    started = last_news = next_check = time.monotonic()
    ended_at: float | None = None
    try:
        _, first = feed.subscribe(run_id, updates.put)
        updates.put(first)
        while True:
            now = time.monotonic()
            if seconds is not None and now - started >= seconds:
                stopped = "time up"
                break
            if ended_at is None and now >= next_check:
                ended_at = now if ended() else None
                next_check = now + ENDED_EVERY_S
            if ended_at is not None and now - max(last_news, ended_at) >= LIVE_SETTLE_S:
                stopped = "ended"
                break
            try:
                update = updates.get(timeout=0.5)
            except queue.Empty:
                continue
            if update.delta is not None:
                live.apply_delta(update.delta)
                push_notebook(handle=handle)
                pushes += 1
                last_news = time.monotonic()
    finally:
        feed.stop()
    return LiveShown(live, pushes, stopped)
