"""The live view: one run in progress, drawn from the server's one Kafka consumer.

Query argument ``run``: a run the live feed follows (anything else is refused); without it the
run in progress that started last. New data arrives from the feed's thread through
``add_next_tick_callback`` and goes into the charts (:class:`viz.live_charts.LiveCharts`, which
a notebook's live display shares).
"""

from __future__ import annotations

import html
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

from bokeh.document import Document
from bokeh.layouts import column, row
from bokeh.models import LayoutDOM
from bokeh.models.widgets import Button, Div, Select, TextInput

from fraudlab.net import is_loopback
from viz import charts, context
from viz.alert_list import NOTHING_SELECTED, alert_list_html
from viz.live_charts import LiveCharts
from viz.live_feed import LiveFeed, LiveRunChoice, LiveUpdate, Subscription
from viz.live_state import LiveDelta
from viz.rule_form import add_rule, disable_rule
from viz.rules_panel import rules_html
from viz.run_catalog import checked_run_id, query_values
from viz.run_controls import RunControlWidgets

__all__ = ["LiveView", "build_live"]

ROOT = "live"
NO_RUN = "(no run in progress)"


class LiveView:
    """One browser session's live view of one run."""

    def __init__(self, doc: Document, feed: LiveFeed | None) -> None:
        self.doc = doc
        self.feed = feed
        self.sub: Subscription | None = None
        self.run_id: str | None = None
        self.updating_picker = False

        self.message = charts.message_panel("live_message")
        self.picker = Select(
            title="run", options=charts.choices([(NO_RUN, NO_RUN)]), value=NO_RUN, name="run_picker"
        )
        self.picker.width = 420
        self.charts = LiveCharts()
        self.timeline, self.alerts = self.charts.timeline, self.charts.alerts
        self.picker.on_change("value", self._on_pick)
        self.rules = Div(
            name="live_rules",
            text=rules_html([], Counter()),
            disable_math=True,
            sizing_mode="stretch_width",
            stylesheets=[RULES_CSS],
        )
        self.form = RuleFormWidgets(self)
        self.controls = RunControlWidgets(doc, lambda: self.run_id, self._followed)
        self.selected = charts.alert_list_panel()
        self.timeline.selected.on_change("indices", self._on_bar)
        self.alerts.selected.on_change("indices", self._on_bubble)
        self.root = charts.column_of(
            self.message,
            row(self.picker),
            self.controls.layout,
            self.charts.headline,
            self.charts.timeline_figure,
            self.selected,
            self.charts.top_figure,
            *self.charts.map_parts,
            self.charts.inventory.layout,
            self.rules,
            self.form.layout,
            name=ROOT,
        )
        doc.add_root(self.root)
        doc.title = "fraudlab: live"
        doc.on_session_destroyed(self._on_destroyed)

    # ---- following a run --------------------------------------------------------------------

    def follow(self, run_id: str | None) -> None:
        """Follow ``run_id`` (checked against the feed's runs), or only the run list."""
        if self.feed is None:
            return
        if self.sub is not None:
            self.feed.unsubscribe(self.sub)
        self._clear()
        self.run_id = run_id
        self.sub, first = self.feed.subscribe(run_id, self._deliver)
        self.apply(first)

    def _deliver(self, update: LiveUpdate) -> None:
        # called on the feed's thread: the document is touched only on its own next tick
        self.doc.add_next_tick_callback(partial(self.apply, update))

    def _clear(self) -> None:
        self.charts.clear()
        self.rules.text = rules_html([], Counter())
        self.selected.text = NOTHING_SELECTED

    # ---- drawing ----------------------------------------------------------------------------

    def apply(self, update: LiveUpdate) -> None:
        """Draw what an update brings (updates of an earlier subscription are ignored)."""
        if self.sub is None or update.token != self.sub.token:
            return
        if update.runs is not None:
            self._show_runs(update.runs)
        if update.status is not None or update.runs is not None:
            self._say(update.runs if update.runs is not None else self.feed_runs())
        if update.delta is not None:
            self.apply_delta(update.delta)

    def feed_runs(self) -> list[LiveRunChoice]:
        return self.feed.runs() if self.feed is not None else []

    def apply_delta(self, delta: LiveDelta) -> None:
        """Draw the delta's windows, lines, cells and headline; show its rules table."""
        self.charts.apply_delta(delta)
        if delta.rules is not None:
            self.rules.text = delta.rules

    # ---- selecting a bar or a bubble ----------------------------------------------------------

    def _on_bar(self, _attr: str, _old: list[int], new: list[int]) -> None:
        if not new or self.feed is None or self.run_id is None:
            return
        ends = self.timeline.data["window_end"]
        if new[0] >= len(ends):
            return
        end_ms = int(ends[new[0]])
        rows = self.feed.alerts(self.run_id, window_end_ms=end_ms)
        when = datetime.fromtimestamp(end_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        self.selected.text = alert_list_html(rows, f"the 2-minute window ending {when}")

    def _on_bubble(self, _attr: str, _old: list[int], new: list[int]) -> None:
        if not new or self.feed is None or self.run_id is None:
            return
        data = self.alerts.data
        if new[0] >= len(data["lat"]):
            return
        lat, long = float(data["lat"][new[0]]), float(data["long"][new[0]])
        rows = self.feed.alerts(self.run_id, cell=(lat, long))
        self.selected.text = alert_list_html(rows, f"shipments near ({lat:g}, {long:g})")

    def _followed(self) -> LiveRunChoice | None:
        return next((r for r in self.feed_runs() if r.run_id == self.run_id), None)

    def _show_runs(self, runs: list[LiveRunChoice]) -> None:
        self.controls.show(next((r for r in runs if r.run_id == self.run_id), None))
        options = [(r.run_id, r.label) for r in runs] or [(NO_RUN, NO_RUN)]
        if self.run_id is not None and self.run_id not in {r.run_id for r in runs}:
            options.append((self.run_id, f"{self.run_id} (ended)"))
        self.updating_picker = True
        try:
            self.picker.options = charts.choices(options)
            self.picker.value = self.run_id or options[0][0]
        finally:
            self.updating_picker = False
        if self.run_id is None and runs and runs[0].status == "in progress":
            self.follow(runs[0].run_id)  # a session that waited for a run takes the first one

    def _say(self, runs: list[LiveRunChoice]) -> None:
        status = self.feed.status() if self.feed is not None else "the live feed is not running"
        if self.run_id is None:
            waiting = "" if runs else "no run in progress yet: start one on the index page. "
            self.message.text = f"<p>{html.escape(waiting + status)}</p>"
        else:
            run = html.escape(self.run_id)
            self.message.text = f"<p>run <b>{run}</b>; {html.escape(status)}</p>"

    def _on_pick(self, _attr: str, _old: str, new: str) -> None:
        if self.updating_picker:
            return
        run_id = checked_run_id(new, [r.run_id for r in self.feed_runs()])
        if run_id is not None and run_id != self.run_id:
            self.follow(run_id)

    def _on_destroyed(self, _session_context: Any) -> None:
        if self.feed is not None and self.sub is not None:
            self.feed.unsubscribe(self.sub)
        self.sub = None


class RuleFormWidgets:
    """The rule form under the rules table: add a rule to the followed run, or disable one,
    through ``fraudlab rules`` (see :mod:`viz.rule_form`); offered on loopback servers only."""

    def __init__(self, view: LiveView) -> None:
        self.view = view
        self.result = charts.message_panel("rule_form_result")
        self.layout: LayoutDOM
        if not is_loopback(context.settings().viz_address):
            self.layout = charts.message_panel(
                "rule_form",
                "the rule form is offered only when the views are served on a loopback "
                "address: change rules with `fraudlab rules add|disable`.",
            )
            return
        self.fields = {
            "id": TextInput(title="rule id", name="rule_id", width=160),
            "description": TextInput(title="description", name="rule_description", width=260),
            "condition": TextInput(
                title="condition (CEL over the model's features)",
                name="rule_condition",
                placeholder="failed_payments >= 3.0 && payment_method == 'OVO'",
                width=420,
            ),
            "score": TextInput(title="score (raise)", name="rule_score", width=100),
            "effective": TextInput(
                title="effective (ISO 8601; empty: 30 s past the latest event)",
                name="rule_effective",
                width=300,
            ),
        }
        self.action = Select(
            title="action",
            options=charts.choices([("flag", "flag"), ("raise", "raise")]),
            value="flag",
            name="rule_action",
            width=100,
        )
        self.add = Button(label="add rule", name="rule_add", button_type="primary", width=120)
        self.disable = Button(label="disable rule", name="rule_disable", width=120)
        self.add.on_click(self._on_add)
        self.disable.on_click(self._on_disable)
        f = self.fields
        self.layout = column(
            Div(text="<b>change the run's rules</b>", disable_math=True),
            row(f["id"], f["description"], self.action, f["score"]),
            row(f["condition"], f["effective"]),
            row(self.add, self.disable),
            self.result,
            name="rule_form",
            sizing_mode="stretch_width",
        )

    def _values(self) -> dict[str, str]:
        values = {name: str(widget.value or "") for name, widget in self.fields.items()}
        return {**values, "action": str(self.action.value)}

    def _on_add(self) -> None:
        values = self._values()
        self._submit(lambda settings, run: add_rule(settings, run, values))

    def _on_disable(self) -> None:
        rule_id = self._values()["id"]
        self._submit(lambda settings, run: disable_rule(settings, run, rule_id))

    def _submit(self, change: Callable[[Any, str], tuple[bool, str]]) -> None:
        run_id = self.view.run_id
        if run_id is None:
            self._show(False, "follow a run in progress first.")
            return
        self.add.disabled = self.disable.disabled = True
        self.result.text = "<p>sending ...</p>"
        settings = context.settings()

        def work() -> None:
            ok, sentence = change(settings, run_id)
            self.view.doc.add_next_tick_callback(partial(self._show, ok, sentence))

        # the command starts a process and talks to Kafka: never on the document's thread
        threading.Thread(target=work, name="rule-form", daemon=True).start()

    def _show(self, ok: bool, sentence: str) -> None:
        self.add.disabled = self.disable.disabled = False
        mark = "done" if ok else "refused"
        self.result.text = f'<p class="{mark}">{html.escape(sentence)}</p>'


RULES_CSS = """
table.rules { border-collapse: collapse; font-size: 13px; margin: 4px 0; }
table.rules th, table.rules td { border-bottom: 1px solid #ddd; padding: 2px 10px 2px 0;
  text-align: left; }
table.rules tr.scheduled, table.rules tr.disabled { color: #888; }
table.rules code { font-size: 12px; }
"""


def build_live(doc: Document, arguments: dict[str, list[bytes]] | None = None) -> LiveView:
    """Add the live view to ``doc``; ``arguments`` are the page's query arguments."""
    feed = context.live_feed()
    view = LiveView(doc, feed)
    if feed is None:
        view.message.text = (
            "<p>the live feed is not running: serve the views with fraudlab serve.</p>"
        )
        return view
    asked = query_values(arguments, "run")
    known = [r.run_id for r in feed.runs()]
    run_id = checked_run_id(asked[0], known) if asked else feed.current_run()
    view.follow(run_id)
    if asked and run_id is None:
        view.message.text = "<p>that run is not in progress on Kafka: pick one from the list.</p>"
    return view
