"""What the live view knows of one run in progress, folded from its Kafka messages.

No Kafka here: :meth:`LiveRun.add` takes a stream name and a message value, so the fold can be
fed a list in a test. A view session reads the run through a :class:`Cursor`: each
:meth:`LiveRun.delta` hands over only what the session has not drawn yet (new report windows,
new points of the top products' lines, map cells that changed, the headline figures, and the
inventory panel's new points and restock list, folded by :mod:`viz.live_inventory`).

Results arrive at least once (the engine's sink may repeat a record); each is taken once by its
record key, as the archive does.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

import orjson

from fraudlab.codec import decode
from fraudlab.records import (
    AlertedTransaction,
    FraudAlerts,
    Inventory,
    InventoryForecast,
    RuleChangeRecord,
    RunEvent,
    Score,
    TopProduct,
    Truth,
)
from fraudlab.run_events import Event, fold_run_events
from viz.alert_list import AlertRow
from viz.charts import TOP_PRODUCTS
from viz.fraud_map import CellKey, MapCell, grid_cell
from viz.live_inventory import InventoryCursor, InventoryDelta, LiveInventory
from viz.rules_panel import MODEL, rule_lines, rules_html
from viz.run_headline import HeadlineFigures

__all__ = ["LIVE_STREAMS", "Cursor", "LiveDelta", "LiveRun", "TopLine"]

# the streams the live view reads of a run (inputs are only counted, by their end offsets)
LIVE_STREAMS = (
    "run-events",
    "fraud-alerts",
    "top-products",
    "scores",
    "truth",
    "rules",
    "inventory",
    "inventory-forecast",
)
COUNTED_STREAMS = ("browsing", "transactions")
# Partitions are read side by side, so a run's streams arrive in no fixed order relative to
# each other. A 10 s report is drawn once the truth has caught up with its window (always so
# while a run goes on: the engine reports 2 minutes after the events), or after this many wall
# seconds while a backlog is read
TRUTH_WAIT_S = 10.0


@dataclass
class Cursor:
    """How much of a run one view session has drawn."""

    windows: int = 0
    points: dict[str, tuple[int, int]] = field(default_factory=dict)  # product: version, points
    cells: dict[CellKey, int] = field(default_factory=dict)  # version drawn
    headline: str | None = None
    rules: str | None = None
    inventory: InventoryCursor = field(default_factory=InventoryCursor)


@dataclass(frozen=True)
class TopLine:
    """A top product's points for a slot: only the new ones, or its whole line (``full``)."""

    product_id: str
    label: str
    x: list[int]
    y: list[float]
    full: bool


@dataclass(frozen=True)
class LiveDelta:
    """What a session has not drawn yet of a run."""

    run_id: str
    windows: dict[str, Any]
    shown: list[str]  # the top products now, best first
    top: list[TopLine]
    cells: list[dict[str, Any]]
    headline: str | None
    rules: str | None = None  # the rules table, when it changed
    inventory: InventoryDelta | None = None  # the inventory panel's, when anything changed

    @property
    def empty(self) -> bool:
        return not (
            self.windows["window_end"]
            or self.top
            or self.cells
            or self.headline
            or self.rules
            or self.inventory
        )


class LiveRun(HeadlineFigures):
    """One run's live figures, folded message by message."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id
        self.events: list[Event] = []
        self.info = fold_run_events(run_id, [])
        self.progress: dict[str, Any] = {}
        self.windows: list[tuple[int, int, int]] = []  # window_end ms, alerts, true frauds
        self.window_keys: set[tuple[int, int]] = set()
        self.waiting_windows: list[tuple[FraudAlerts, float]] = []  # for the truth to catch up
        self.fraud_seconds: Counter[int] = Counter()
        self.truth: dict[str, tuple[bool, str]] = {}
        self.predictions: dict[str, int] = {}
        self.frauds = self.flagged = self.flagged_with_truth = self.true_positives = 0
        self.latest_truth_ts: int | None = None
        self.latest_score_ts: int | None = None
        self.cells: dict[CellKey, MapCell] = {}
        self.alerted: dict[str, CellKey] = {}
        self.top_keys: set[tuple[int, int]] = set()
        self.sales: dict[str, dict[int, float]] = {}  # product -> window_end -> sales
        self.cumulative: dict[str, float] = {}
        self.names: dict[str, str] = {}
        self.lines: dict[str, list[tuple[int, float]]] = {}
        self.line_versions: Counter[str] = Counter()  # moved on when a line is redrawn whole
        self.input_counts: deque[tuple[float, int]] = deque()
        self.undecodable = 0
        self.rule_changes: list[RuleChangeRecord] = []
        self.alert_reasons: Counter[str] = Counter()  # alerts raised by the model, by each rule
        # what a selected bar (window end, ms) or bubble (cell) lists: its alerts, by id
        self.alert_details: dict[str, AlertedTransaction] = {}
        self.window_alerts: dict[int, list[str]] = {}
        self.cell_alerts: dict[CellKey, list[str]] = {}
        # a challenger scored beside the model (engine.verdicts): its name and verdicts
        self.challenger: str | None = None
        self.challenger_predictions: dict[str, int] = {}
        self.challenger_flagged = self.challenger_flagged_with_truth = 0
        self.challenger_true_positives = 0
        # the inventory panel's figures (bounded per product: viz.live_inventory)
        self.inventory = LiveInventory()

    # ---- folding ----------------------------------------------------------------------------

    def add(self, stream: str, value: bytes | None, now: float, position: Any = None) -> None:
        """Fold one message of ``stream`` (undecodable values are counted and skipped)."""
        if value is None:
            return
        try:
            if stream == "run-events":
                self._run_event(decode(RunEvent, value), position)
            elif stream == "fraud-alerts":
                self._fraud_alerts(decode(FraudAlerts, value), now)
            elif stream == "top-products":
                self._top_product(decode(TopProduct, value))
            elif stream == "scores":
                self._score(decode(Score, value))
            elif stream == "truth":
                self._truth(decode(Truth, value))
            elif stream == "rules":
                self.rule_changes.append(decode(RuleChangeRecord, value))
            elif stream == "inventory-forecast":
                self.inventory.add_forecast(decode(InventoryForecast, value))
            elif stream == "inventory":
                self.inventory.add_change(decode(Inventory, value))
        except (ValueError, KeyError, TypeError):
            self.undecodable += 1

    def _run_event(self, e: RunEvent, position: Any) -> None:
        self.events.append(Event(e.part, e.event, e.details, e.ts, position))
        self.info = fold_run_events(self.run_id, self.events)
        if e.part == "engine" and e.event == "progress":
            try:
                details = orjson.loads(e.details)
            except orjson.JSONDecodeError:
                return
            self.progress = details if isinstance(details, dict) else {}

    def _fraud_alerts(self, r: FraudAlerts, now: float) -> None:
        key = (r.window_start, r.window_end)
        if key in self.window_keys:
            return
        self.window_keys.add(key)
        self.waiting_windows.append((r, now))
        self.window_alerts[r.window_end * 1000] = [a.transaction_id for a in r.transactions]
        for a in r.transactions:
            if a.transaction_id in self.alerted:
                continue
            key_ = grid_cell(a.shipment_location_lat, a.shipment_location_long)
            self.alerted[a.transaction_id] = key_
            self.alert_details[a.transaction_id] = a
            self.cell_alerts.setdefault(key_, []).append(a.transaction_id)
            for reason in (a.reasons or MODEL).split(","):
                self.alert_reasons[reason] += 1
            cell = self.cells.setdefault(key_, MapCell())
            cell.alerts += 1
            cell.probability_sum += a.probability
            truth = self.truth.get(a.transaction_id)
            if truth is not None and truth[0]:
                cell.patterns[truth[1] or "fraud"] += 1
            cell.version += 1

    def _top_product(self, r: TopProduct) -> None:
        key = (r.window_start, r.rank)
        if key in self.top_keys:
            return
        self.top_keys.add(key)
        pid = r.product_id
        self.names[pid] = r.product_name
        windows = self.sales.setdefault(pid, {})
        windows[r.window_end] = windows.get(r.window_end, 0.0) + r.sales
        total = self.cumulative.get(pid, 0.0) + r.sales
        self.cumulative[pid] = total
        line = self.lines.setdefault(pid, [])
        if not line or line[-1][0] < r.window_end * 1000:
            line.append((r.window_end * 1000, total))
            return
        # an earlier report read late (another partition): the product's line is drawn anew
        running, redrawn = 0.0, []
        for end in sorted(windows):
            running += windows[end]
            redrawn.append((end * 1000, running))
        self.lines[pid] = redrawn
        self.line_versions[pid] += 1

    def release_windows(self, now: float) -> None:
        """Count the truth of the waiting 10 s reports that can be drawn now, and draw them."""
        waiting = []
        for r, arrived in self.waiting_windows:
            caught_up = self.latest_truth_ts is not None and self.latest_truth_ts >= r.window_end
            if caught_up or self.sources_ended() or now - arrived >= TRUTH_WAIT_S:
                frauds = sum(self.fraud_seconds[t] for t in range(r.window_start, r.window_end))
                self.windows.append((r.window_end * 1000, r.count, frauds))
            else:
                waiting.append((r, arrived))
        self.waiting_windows = waiting

    def _score(self, s: Score) -> None:
        if s.transaction_id in self.predictions:
            return
        self.predictions[s.transaction_id] = s.prediction
        self.latest_score_ts = max(self.latest_score_ts or s.ts, s.ts)
        self.flagged += s.prediction == 1
        truth = self.truth.get(s.transaction_id)
        if truth is not None and s.prediction == 1:
            self.flagged_with_truth += 1
            self.true_positives += truth[0]
        if s.challenger_prediction is not None:
            self.challenger = s.challenger_name
            self.challenger_predictions[s.transaction_id] = s.challenger_prediction
            self.challenger_flagged += s.challenger_prediction == 1
            if truth is not None and s.challenger_prediction == 1:
                self.challenger_flagged_with_truth += 1
                self.challenger_true_positives += truth[0]

    def _truth(self, t: Truth) -> None:
        if t.transaction_id in self.truth:
            return
        self.truth[t.transaction_id] = (t.is_fraud, t.pattern)
        self.latest_truth_ts = max(self.latest_truth_ts or t.ts, t.ts)
        if t.is_fraud:
            self.frauds += 1
            self.fraud_seconds[t.ts] += 1
        if self.predictions.get(t.transaction_id) == 1:
            self.flagged_with_truth += 1
            self.true_positives += t.is_fraud
        if self.challenger_predictions.get(t.transaction_id) == 1:
            self.challenger_flagged_with_truth += 1
            self.challenger_true_positives += t.is_fraud
        key = self.alerted.get(t.transaction_id)
        if key is not None and t.is_fraud:
            cell = self.cells[key]
            cell.patterns[t.pattern or "fraud"] += 1
            cell.version += 1

    def _alert_row(self, tid: str) -> AlertRow:
        a = self.alert_details[tid]
        truth = self.truth.get(tid)
        said = None if truth is None else (f"fraud: {truth[1]}" if truth[0] else "legitimate")
        return AlertRow(
            a.transaction_id,
            a.customer_id,
            a.ts,
            a.total_amount,
            a.probability,
            a.reasons,
            a.explanation,
            said,
        )

    def alerts_in_window(self, window_end_ms: int) -> list[AlertRow]:
        """The alerts the 10 s report of the window ending at ``window_end_ms`` listed."""
        ids = self.window_alerts.get(int(window_end_ms), [])
        return [self._alert_row(t) for t in ids if t in self.alert_details]

    def alerts_in_cell(self, lat: float, long: float) -> list[AlertRow]:
        """The alerts so far whose shipment location falls in the map cell at (lat, long)."""
        return [self._alert_row(t) for t in self.cell_alerts.get(grid_cell(lat, long), [])]

    def rules_table(self) -> str:
        """The rules table (HTML): each rule as it stands at the engine's latest scored event
        time, and the alerts the model and each rule raised so far."""
        at = self.latest_score_ts
        return rules_html(rule_lines(self.rule_changes, at), self.alert_reasons, at)

    def top_products(self, n: int = TOP_PRODUCTS) -> list[str]:
        """The ``n`` products with the largest cumulative sales so far, best first."""
        return sorted(self.cumulative, key=lambda p: (-self.cumulative[p], p))[:n]

    def delta(self, cursor: Cursor, headline_html: str | None) -> LiveDelta:
        """What ``cursor`` has not drawn yet; moves the cursor past it."""
        new_windows = self.windows[cursor.windows :]
        cursor.windows = len(self.windows)
        top: list[TopLine] = []
        shown = self.top_products()
        for pid in list(cursor.points):
            if pid not in shown:
                del cursor.points[pid]  # its slot goes to another product: start over if back
        for pid in shown:
            points = self.lines.get(pid, [])
            version = self.line_versions[pid]
            sent_version, sent = cursor.points.get(pid, (-1, 0))
            full = sent_version != version
            new = points if full else points[sent:]
            if full or new:
                label = f"{self.names.get(pid, pid)} ({pid})"
                top.append(TopLine(pid, label, [x for x, _ in new], [y for _, y in new], full))
            cursor.points[pid] = (version, len(points))
        cells = []
        for key, cell in self.cells.items():
            if cursor.cells.get(key) != cell.version:
                cells.append(cell.row(key))
                cursor.cells[key] = cell.version
        headline = None if headline_html == cursor.headline else headline_html
        cursor.headline = headline_html
        table = self.rules_table()
        rules = None if table == cursor.rules else table
        cursor.rules = table
        return LiveDelta(
            self.run_id,
            {
                "window_end": [w[0] for w in new_windows],
                "alerts": [w[1] for w in new_windows],
                "frauds": [w[2] for w in new_windows],
            },
            shown,
            top,
            cells,
            headline,
            rules,
            self.inventory.delta(cursor.inventory),
        )
