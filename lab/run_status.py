"""Where a run stands while it happens, from its topics: what ``fraudlab run`` shows.

Simulated time and speed come from the producer's progress run-events; the engine's lag is the
number of transactions it has not scored yet (transactions in Kafka minus scores); alerts are
the fraud-alert windows the engine has reported so far (distinct keys of its fraud-alerts topic:
a window written again after an engine's crash is counted once).

>>> RunFigures(simulated_s=150, horizon_s=600, events_per_s=1234.5, unscored=12,
...            alert_windows=3, engine="scoring").describe()
'2.5/10.0 min · 1,234 ev/s · engine scoring, 12 tx behind · 3 alert windows'
>>> RunFigures(simulated_s=150, horizon_s=600, engine="scoring", paused=True).describe()
'2.5/10.0 min · paused · engine scoring, 0 tx behind · 0 alert windows'
>>> RunFigures(simulated_s=600, horizon_s=600, unscored=40, engine="scoring",
...            produced=True).describe()
'10.0/10.0 min · all produced · engine scoring, 40 tx behind · 0 alert windows'
"""

from __future__ import annotations

from dataclasses import dataclass

from fraudlab.blocking_kafka import BlockingKafka
from fraudlab.records import RunEvent
from fraudlab.run_control import pace_state
from fraudlab.run_events import decoded_run_events, latest_details, part_ending
from fraudlab.topics import topic_name

__all__ = ["RunFigures", "RunWatcher"]


@dataclass(frozen=True)
class RunFigures:
    """One reading of a run's progress."""

    simulated_s: float = 0.0
    horizon_s: float | None = None
    events_per_s: float = 0.0
    unscored: int = 0
    alert_windows: int = 0
    engine: str = "starting"
    produced: bool = False  # the producer has finished: no input rate to show
    paused: bool = False  # its source is paused (fraudlab.run_control)

    def describe(self) -> str:
        horizon = f"/{self.horizon_s / 60:.1f}" if self.horizon_s else ""
        rate = "all produced" if self.produced else f"{self.events_per_s:,.0f} ev/s"
        rate = "paused" if self.paused and not self.produced else rate
        return (
            f"{self.simulated_s / 60:.1f}{horizon} min · {rate} · "
            f"engine {self.engine}, {self.unscored:,} tx behind · "
            f"{self.alert_windows:,} alert windows"
        )


def _engine_state(events: list[RunEvent]) -> str:
    ending = part_ending(events, "engine")
    if ending is not None:
        return ending
    if any(e.part == "engine" and e.event == "progress" for e in events):
        return "scoring"
    return "started" if any(e.part == "engine" for e in events) else "starting"


class RunWatcher:
    """Reads a run's figures from the broker through the process's Kafka session: its
    run-events and fraud-alerts are followed (each read whole once, then only what arrives);
    the event rate is taken between two readings."""

    def __init__(self, kafka: BlockingKafka, run_id: str) -> None:
        self.kafka = kafka
        self.run_id = run_id
        self._events = kafka.follow(topic_name(run_id, RunEvent.STREAM))
        self._alerts = kafka.follow(topic_name(run_id, "fraud-alerts"))
        self.events: list[RunEvent] = []
        self._windows: set[bytes | None] = set()
        self._last: tuple[int, int] | None = None  # (events sent, run-event ts)
        self._rate = 0.0

    def refresh_events(self) -> list[RunEvent]:
        """The run's run-events so far, in log order."""
        self.events.extend(decoded_run_events(self._events.poll()))
        return self.events

    def read(self) -> RunFigures:
        events = self.refresh_events()
        self._windows.update(m.key for m in self._alerts.poll())
        topics = {s: topic_name(self.run_id, s) for s in ("transactions", "scores")}
        ends = self.kafka.end_offsets(topics.values())
        count = {
            s: sum(n for (t, _), n in ends.items() if t == topic) for s, topic in topics.items()
        }
        progress = latest_details(events, "producer", "progress")
        sent, at = int(progress.get("sent", 0)), self._progress_ts(events)
        if self._last is not None and at > self._last[1]:
            self._rate = (sent - self._last[0]) / (at - self._last[1])
        if self._last is None or at > self._last[1]:
            self._last = (sent, at)
        finished = part_ending(events, "producer") == "finished"
        minutes = latest_details(events, "producer", "started").get("minutes")
        horizon = progress.get("horizon_s") or (
            float(minutes) * 60 if isinstance(minutes, int | float) else None
        )
        simulated = float(progress.get("simulated_s", 0.0))
        pace = pace_state(events)
        return RunFigures(
            simulated_s=float(horizon) if finished and horizon else simulated,
            horizon_s=horizon,
            events_per_s=0.0 if finished else self._rate,
            unscored=max(0, count["transactions"] - count["scores"]),
            alert_windows=len(self._windows),
            engine=_engine_state(events),
            produced=finished,
            paused=pace is not None and pace.paused,
        )

    @staticmethod
    def _progress_ts(events: list[RunEvent]) -> int:
        for e in reversed(events):
            if e.part == "producer" and e.event == "progress":
                return e.ts
        return 0
