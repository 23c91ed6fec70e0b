"""Where a run stands, for a notebook: one small frozen reading, from Kafka while the run plays
and from its archive once the archive is closed.

While it plays, the figures are those of ``fraudlab run``'s status line
(:class:`lab.run_status.RunFigures`, read by a :class:`lab.run_status.RunWatcher`) and its state
comes from the run-events; afterwards, from the archive's run summary. Both are pure here:

>>> from lab.run_status import RunFigures
>>> from fraudlab.records import RunEvent
>>> events = [RunEvent("r1", "producer", "started", '{"speed": 20.0}', 100)]
>>> status = playing_status("r1", RunFigures(90, 300, alert_windows=2), events)
>>> status.state, status.speed, status.archived
('in progress', 20.0, False)
>>> status.describe()
'run r1: in progress · 1.5/5.0 min · 0 ev/s · 0 tx to score · 2 alert windows · 20x'
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from archive.reader import RunSummary
from fraudlab.records import RunEvent
from fraudlab.run_control import pace_state
from fraudlab.run_events import DEFAULT_WAIT_FOR, fold_run_events, log_events
from lab.run_status import RunFigures

__all__ = ["STATES", "RunStatus", "archived_status", "playing_status"]

STATES = ("in progress", "complete", "interrupted", "failed")
# an archive's own statuses beyond a run's outcome: ``partial`` (archived before the run was
# over, then stopped) reads as interrupted, ``crashed`` (its archiver died) as failed
_ARCHIVE_STATES = {"partial": "interrupted", "crashed": "failed", "running": "in progress"}


@dataclass(frozen=True)
class RunStatus:
    """One reading of a run.

    ``state``: one of :data:`STATES`. ``simulated_s``/``horizon_s``: simulated seconds played
    and to play (None: a source without a horizon, a CSV folder). ``events_per_s``: input events
    (browsing and transactions) per wall second, the latest rate while the run plays, the mean
    over its wall time afterwards. ``alert_windows``: fraud-alert report windows so far (10 s
    reports). ``unscored``: transactions sent that the engine has not scored yet.
    ``paused``/``speed``: the source's pace (simulated seconds per wall second; None: as fast
    as it goes, or not known before the source has started). ``archived``: read from the run's
    closed archive (else from Kafka).
    """

    run_id: str
    state: str
    simulated_s: float
    horizon_s: float | None
    events_per_s: float
    alert_windows: int
    unscored: int
    paused: bool
    speed: float | None
    archived: bool
    source_started: bool = True

    @property
    def ended(self) -> bool:
        """Whether the run has ended (complete, interrupted or failed)."""
        return self.state != "in progress"

    def describe(self) -> str:
        """One line, as a progress line prints it."""
        horizon = f"/{self.horizon_s / 60:.1f}" if self.horizon_s else ""
        pace = "fast" if self.speed is None else f"{self.speed:g}x"
        pace = "paused" if self.paused and not self.ended else pace
        pace = pace if self.source_started else "source starting"
        behind = "" if self.ended else f" · {self.unscored:,} tx to score"
        sent = not self.ended and self.horizon_s and self.simulated_s >= self.horizon_s
        rate = "all sent" if sent else f"{self.events_per_s:,.0f} ev/s"
        return (
            f"run {self.run_id}: {self.state} · {self.simulated_s / 60:.1f}{horizon} min · "
            f"{rate}{behind} · {self.alert_windows:,} alert windows · {pace}"
        )


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def playing_status(run_id: str, figures: RunFigures, events: Sequence[RunEvent]) -> RunStatus:
    """The status of a run read from Kafka: ``figures`` as ``fraudlab run`` shows them, and the
    run's run-events (in log order) for its state and pace. A run is in progress until its
    producer and engine have ended; then it is their outcome."""
    info = fold_run_events(run_id, log_events(events))
    state = info.outcome() if info.over(DEFAULT_WAIT_FOR) else "in progress"
    pace = pace_state(events)
    return RunStatus(
        run_id=run_id,
        state=state,
        simulated_s=float(figures.simulated_s),
        horizon_s=figures.horizon_s,
        events_per_s=float(figures.events_per_s),
        alert_windows=figures.alert_windows,
        unscored=figures.unscored,
        paused=figures.paused,
        speed=None if pace is None else pace.speed,
        archived=False,
        source_started=pace is not None,
    )


def archived_status(summary: RunSummary) -> RunStatus:
    """The status of a run read from its closed archive (see :class:`RunStatus`)."""
    producer = summary.parts.get("producer", {})
    details = producer.get("details", {}) if isinstance(producer, dict) else {}
    minutes = _number(details.get("minutes"))
    horizon = _number(details.get("horizon_s")) or (None if minutes is None else minutes * 60)
    simulated = _number(details.get("simulated_s")) or 0.0
    if summary.status == "complete" and horizon is not None:
        simulated = horizon
    took = (summary.ended_at or 0) - (summary.started_at or 0)
    return RunStatus(
        run_id=summary.run_id,
        state=_ARCHIVE_STATES.get(summary.status, summary.status),
        simulated_s=simulated,
        horizon_s=horizon,
        events_per_s=summary.events / took if took > 0 else 0.0,
        alert_windows=summary.fraud_alert_windows,
        unscored=0,
        paused=False,
        speed=_number(details.get("speed")),
        archived=True,
    )
