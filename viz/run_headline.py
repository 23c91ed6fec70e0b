"""The live view's headline of a run: whether it is still in progress, how fast events come
and the engine reads them, how far the engine trails, and how its alerts fare against the truth
so far.

:class:`HeadlineFigures` is the part of :class:`viz.live_state.LiveRun` that reads these figures
from what the run's fold keeps (the fold's counters are declared here and set by ``LiveRun``);
:func:`run_status` is also how the live feed decides which runs are in progress.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from fraudlab.run_events import RunInfo
from viz.charts import Headline, figure_text

__all__ = ["ENGINE_SILENCE_S", "SOURCE_PARTS", "HeadlineFigures", "run_status"]

# the span over which the rate of produced events is taken
RATE_WINDOW_S = 10.0
# an engine that has not said anything for this long is no longer running the run
ENGINE_SILENCE_S = 60
SOURCE_PARTS = ("producer", "replay")


def run_status(info: RunInfo, now: float) -> str:
    """``in progress`` while a source part (producer, replay) or the engine still runs the run,
    else how it ended.

    >>> from fraudlab.run_events import Event, fold_run_events
    >>> info = fold_run_events("r", [Event("producer", "started", "{}", 100)])
    >>> run_status(info, 200)
    'in progress'
    """
    parts = info.parts
    if any(p in parts and not parts[p].ended for p in SOURCE_PARTS):
        return "in progress"
    engine = parts.get("engine")
    if engine is not None and not engine.ended and now - engine.ts < ENGINE_SILENCE_S:
        return "in progress"
    if not parts:
        return "unknown"
    return info.outcome() if any(s.ended for s in parts.values()) else "stalled"


class HeadlineFigures:
    """The headline figures of a run, read from the counters of its live fold (see
    :class:`viz.live_state.LiveRun`, which sets them)."""

    run_id: str
    info: RunInfo
    progress: dict[str, Any]
    input_counts: deque[tuple[float, int]]
    latest_truth_ts: int | None
    latest_score_ts: int | None
    frauds: int
    flagged: int
    flagged_with_truth: int
    true_positives: int
    challenger: str | None
    challenger_flagged_with_truth: int
    challenger_true_positives: int

    def sources_ended(self) -> bool:
        """Whether the parts that publish events and truth (producer, replay) have all ended."""
        sources = [self.info.parts[p] for p in SOURCE_PARTS if p in self.info.parts]
        return bool(sources) and all(part.ended for part in sources)

    def count_inputs(self, total: int, now: float) -> None:
        """Note the input topics' end offsets (browsing and transactions together) at ``now``."""
        self.input_counts.append((now, total))
        while len(self.input_counts) > 2 and now - self.input_counts[0][0] > RATE_WINDOW_S:
            self.input_counts.popleft()

    def events_per_second(self) -> float | None:
        if len(self.input_counts) < 2:
            return None
        (t0, n0), (t1, n1) = self.input_counts[0], self.input_counts[-1]
        return (n1 - n0) / (t1 - t0) if t1 > t0 else None

    def engine_rows_per_second(self) -> float | None:
        queries = self.progress.get("queries")
        if not isinstance(queries, list) or not queries:
            return None
        return float(sum(q.get("processed_per_s") or 0.0 for q in queries if isinstance(q, dict)))

    def lag_seconds(self) -> int | None:
        """How far (event time) the engine's scores trail the produced transactions."""
        if self.latest_truth_ts is None or self.latest_score_ts is None:
            return None
        return max(0, self.latest_truth_ts - self.latest_score_ts)

    def speed(self) -> float | None:
        """The run's speed (simulated seconds per wall-clock second) as its source announced
        it; None for a run sent as fast as possible, or not yet announced."""
        for name in SOURCE_PARTS:
            part = self.info.parts.get(name)
            speed = part.details.get("speed") if part is not None else None
            if isinstance(speed, int | float) and not isinstance(speed, bool) and speed > 0:
                return float(speed)
        return None

    def lag_headline(self) -> Headline:
        """The engine's lag in wall-clock seconds, what a person watching waits, with the
        event-time lag beside it: at 20x, 4 s behind on the clock is 80 s of event time."""
        lag, speed = self.lag_seconds(), self.speed()
        if lag is None or speed is None:
            return Headline("engine lag", figure_text(lag, 0, " s"), "event time")
        return Headline(
            "engine lag",
            figure_text(lag / speed, 1, " s"),
            f"{lag:,} s of event time at {speed:g}x",
        )

    def headline(self, now: float) -> list[Headline]:
        tp = self.true_positives
        precision = tp / self.flagged_with_truth if self.flagged_with_truth else None
        recall = tp / self.frauds if self.frauds else None
        figures = [
            Headline("status", run_status(self.info, now), f"run {self.run_id}"),
            Headline("events/s", figure_text(self.events_per_second(), 0), "produced"),
            Headline("engine rows/s", figure_text(self.engine_rows_per_second(), 0)),
            self.lag_headline(),
            Headline("alerts", f"{self.flagged:,}", "transactions flagged so far"),
            Headline("precision", figure_text(precision), "against truth so far"),
            Headline("recall", figure_text(recall), "against truth so far"),
        ]
        return figures + self.challenger_headline()

    def challenger_headline(self) -> list[Headline]:
        """The challenger's precision and recall so far, had it decided (none without one)."""
        if self.challenger is None:
            return []
        tp, flagged = self.challenger_true_positives, self.challenger_flagged_with_truth
        precision = tp / flagged if flagged else None
        recall = tp / self.frauds if self.frauds else None
        name = f"challenger {self.challenger}"
        return [
            Headline("challenger precision", figure_text(precision), name),
            Headline("challenger recall", figure_text(recall), name),
        ]
