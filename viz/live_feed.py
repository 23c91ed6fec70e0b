"""The Bokeh server's one Kafka consumer, feeding every open live view.

A background thread runs one aiokafka consumer and the feed's Kafka session, on the thread's
own event loop (the thread's whole life is that loop: its entry point into async code), that:

- every few seconds lists the cluster's topics, reads the ``run-events`` of every run and
  decides which runs are in progress (see :func:`viz.run_headline.run_status`);
- reads the result streams and the truth of the runs in progress and of the runs some session
  watches, folding them into one :class:`viz.live_state.LiveRun` each;
- every ``publish_every_s`` hands each subscribed session what it has not drawn yet.

Sessions subscribe with a ``deliver`` function; the live view's schedules the update on its
document with ``add_next_tick_callback``, the only way another thread may touch a document.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from fraudlab.errors import BrokerUnavailable
from fraudlab.kafka_io import make_consumer, quiet_kafka_logs, start_or_report
from fraudlab.kafka_session import KafkaSession
from fraudlab.topics import parse_topic, topic_name
from viz.alert_list import AlertRow
from viz.charts import headline_html
from viz.live_state import COUNTED_STREAMS, LIVE_STREAMS, Cursor, LiveDelta, LiveRun
from viz.run_headline import run_status

__all__ = ["LiveFeed", "LiveRunChoice", "LiveUpdate", "Subscription"]

log = logging.getLogger(__name__)

PUBLISH_EVERY_S = 1.0
DISCOVER_EVERY_S = 3.0
COUNT_EVERY_S = 2.0
RETRY_S = 5.0


@dataclass(frozen=True)
class LiveRunChoice:
    """A run the live view can show."""

    run_id: str
    scenario: str | None
    started_at: int | None
    status: str
    paused: bool = False  # its source, as it last said (fraudlab.run_control)
    speed: float | None = None  # simulated seconds per wall second; None: as fast as it goes

    @property
    def label(self) -> str:
        status = "paused" if self.paused and self.status == "in progress" else self.status
        return f"{self.run_id} ({self.scenario or '?'}; {status})"


@dataclass(frozen=True)
class LiveUpdate:
    """What one session gets: the run list and feed status when they changed, and its delta."""

    token: int
    runs: list[LiveRunChoice] | None
    status: str | None
    delta: LiveDelta | None


@dataclass(eq=False)
class Subscription:
    """One session's interest in one run (or only in the run list, with ``run_id`` None)."""

    token: int
    run_id: str | None
    deliver: Callable[[LiveUpdate], None]
    cursor: Cursor = field(default_factory=Cursor)
    runs_seen: list[LiveRunChoice] | None = None
    status_seen: str | None = None


class LiveFeed:
    """One consumer for the whole server; see the module doc."""

    def __init__(self, bootstrap: str, publish_every_s: float = PUBLISH_EVERY_S) -> None:
        self.bootstrap = bootstrap
        self.publish_every_s = publish_every_s
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._runs: dict[str, LiveRun] = {}
        self._subs: list[Subscription] = []
        self._tokens = itertools.count(1)
        self._positions: dict[TopicPartition, int] = {}
        self._partitions: dict[str, list[int]] = {}
        self._status = f"connecting to Kafka at {bootstrap}"

    # ---- the server's side ------------------------------------------------------------------

    def start(self) -> None:
        """Start the consumer thread (its target runs the feed's one event loop for the
        thread's whole life)."""
        self._thread = threading.Thread(
            target=lambda: asyncio.run(self._consume()), name="fraudlab-live-feed", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the consumer thread and wait for it."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)

    # ---- the sessions' side -----------------------------------------------------------------

    def status(self) -> str:
        with self._lock:
            return self._status

    def runs(self) -> list[LiveRunChoice]:
        """The runs the live view can show: in progress, or watched by a session."""
        with self._lock:
            return self._choices(time.time())

    def current_run(self) -> str | None:
        """The run in progress that started last."""
        runs = [r for r in self.runs() if r.status == "in progress"]
        return runs[0].run_id if runs else None

    def subscribe(
        self, run_id: str | None, deliver: Callable[[LiveUpdate], None]
    ) -> tuple[Subscription, LiveUpdate]:
        """Follow ``run_id`` (one of :meth:`runs`); the first update holds all drawn so far."""
        with self._lock:
            sub = Subscription(next(self._tokens), run_id, deliver)
            self._subs.append(sub)
            if run_id in self._runs:
                self._runs[run_id].release_windows(time.monotonic())
            first = self._update_for(sub, self._choices(time.time()), time.time())
        return sub, first

    def alerts(
        self, run_id: str, window_end_ms: int | None = None, cell: tuple[float, float] | None = None
    ) -> list[AlertRow]:
        """The alerts of a run's report window (its end, ms) or of a map cell (lat, long)."""
        with self._lock:
            run = self._runs.get(run_id)
            if run is None:
                return []
            if window_end_ms is not None:
                return run.alerts_in_window(window_end_ms)
            return [] if cell is None else run.alerts_in_cell(*cell)

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    # ---- folding and publishing (also driven directly by tests and the benchmark) -----------

    def fold(self, run_id: str, stream: str, value: bytes | None, position: object = None) -> None:
        """Fold one message of a run's stream into its state."""
        with self._lock:
            run = self._runs.setdefault(run_id, LiveRun(run_id))
            run.add(stream, value, time.monotonic(), position)

    def publish(self) -> int:
        """Hand every subscribed session its update; how many updates were delivered."""
        now_wall, now = time.time(), time.monotonic()
        with self._lock:
            for run in self._runs.values():
                run.release_windows(now)
            choices = self._choices(now_wall)
            updates = [(sub, self._update_for(sub, choices, now_wall)) for sub in self._subs]
        delivered = 0
        for sub, update in updates:
            if update.runs is None and update.status is None and update.delta is None:
                continue
            try:
                sub.deliver(update)
                delivered += 1
            except Exception:  # a session that went away mid-delivery
                log.debug("dropping a live subscription", exc_info=True)
                self.unsubscribe(sub)
        return delivered

    def _choices(self, now_wall: float) -> list[LiveRunChoice]:
        watched = {s.run_id for s in self._subs if s.run_id}
        out = []
        for run_id, run in self._runs.items():
            status = run_status(run.info, now_wall)
            if status == "in progress" or run_id in watched:
                source = run.info.parts.get("producer")
                pace = source.details if source is not None else {}
                speed = pace.get("speed")
                out.append(
                    LiveRunChoice(
                        run_id,
                        run.info.scenario,
                        run.info.started_at,
                        status,
                        paused=bool(pace.get("paused")),
                        speed=float(speed) if isinstance(speed, int | float) else None,
                    )
                )
        return sorted(out, key=lambda c: (c.status != "in progress", -(c.started_at or 0)))

    def _update_for(
        self, sub: Subscription, choices: list[LiveRunChoice], now_wall: float
    ) -> LiveUpdate:
        runs = None if choices == sub.runs_seen else choices
        sub.runs_seen = choices
        status = None if self._status == sub.status_seen else self._status
        sub.status_seen = self._status
        delta = None
        run = self._runs.get(sub.run_id) if sub.run_id else None
        if run is not None:
            delta = run.delta(sub.cursor, headline_html(run.headline(now_wall)))
            delta = None if delta.empty else delta
        return LiveUpdate(sub.token, runs, status, delta)

    # ---- Kafka ------------------------------------------------------------------------------

    def _set_status(self, text: str) -> None:
        with self._lock:
            self._status = text

    async def _consume(self) -> None:
        while not self._stopping.is_set():
            consumer = make_consumer(
                self.bootstrap, fetch_max_wait_ms=200, max_partition_fetch_bytes=4 * 1024 * 1024
            )
            try:
                await start_or_report(consumer, self.bootstrap)
            except BrokerUnavailable as exc:
                self._set_status(str(exc))
                with contextlib.suppress(KafkaError, OSError):
                    await consumer.stop()
                await self._pause(RETRY_S)
                continue
            self._set_status(f"following runs on Kafka at {self.bootstrap}")
            kafka = KafkaSession(self.bootstrap)
            try:
                with quiet_kafka_logs():
                    await self._follow(kafka, consumer)
            except (KafkaError, BrokerUnavailable) as exc:
                self._set_status(f"Kafka at {self.bootstrap} failed ({type(exc).__name__}).")
                await self._pause(RETRY_S)
            finally:
                with contextlib.suppress(KafkaError, OSError):
                    await kafka.close()
                with contextlib.suppress(KafkaError, OSError):
                    await consumer.stop()

    async def _pause(self, seconds: float) -> None:
        end = time.monotonic() + seconds
        while not self._stopping.is_set() and time.monotonic() < end:
            await asyncio.sleep(0.2)

    async def _follow(self, kafka: KafkaSession, consumer: AIOKafkaConsumer) -> None:
        next_discover = next_count = next_publish = 0.0
        while not self._stopping.is_set():
            now = time.monotonic()
            if now >= next_discover:
                await self._discover(kafka, consumer)
                next_discover = now + DISCOVER_EVERY_S
            if consumer.assignment():
                fetched = await consumer.getmany(timeout_ms=250, max_records=20_000)
            else:
                fetched = {}
                await asyncio.sleep(0.25)
            self._fold_fetched(fetched)
            now = time.monotonic()
            if now >= next_count:
                await self._count_inputs(consumer)
                next_count = now + COUNT_EVERY_S
            if now >= next_publish:
                self.publish()
                next_publish = now + self.publish_every_s

    def _fold_fetched(self, fetched: dict[TopicPartition, list[object]]) -> None:
        now = time.monotonic()
        with self._lock:
            for tp, records in fetched.items():
                parsed = parse_topic(tp.topic)
                if parsed is None or not records:
                    continue
                run_id, stream = parsed
                run = self._runs.setdefault(run_id, LiveRun(run_id))
                for r in records:
                    run.add(stream, r.value, now, (tp.partition, r.offset))  # type: ignore[attr-defined]
                self._positions[tp] = records[-1].offset + 1  # type: ignore[attr-defined]

    async def _discover(self, kafka: KafkaSession, consumer: AIOKafkaConsumer) -> None:
        """Assign the run-events of every run and the live streams of the runs to follow."""
        topics = await kafka.topics()
        run_ids = sorted({p[0] for t in topics if (p := parse_topic(t)) and p[1] == "run-events"})
        with self._lock:
            now_wall = time.time()
            for run_id in run_ids:
                self._runs.setdefault(run_id, LiveRun(run_id))
            followed = {c.run_id for c in self._choices(now_wall)}
            for run_id in set(self._runs) - followed:
                self._forget_data(run_id)
        wanted_topics = [topic_name(r, "run-events") for r in run_ids] + [
            topic_name(r, s) for r in sorted(followed) for s in (*LIVE_STREAMS, *COUNTED_STREAMS)
        ]
        self._partitions = await kafka.partitions(wanted_topics)
        wanted = {
            TopicPartition(t, p)
            for t, parts in self._partitions.items()
            if t.rsplit(".", 1)[-1] in LIVE_STREAMS
            for p in parts
        }
        if wanted == set(consumer.assignment()):
            return
        consumer.assign(sorted(wanted))
        for tp in wanted:
            position = self._positions.get(tp)
            if position is None:
                await consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, position)

    def _forget_data(self, run_id: str) -> None:
        """Drop what was folded of a run nobody follows any more (its run-events stay)."""
        old = self._runs[run_id]
        inventory = old.inventory.windows or old.inventory.levels
        if not old.windows and not old.truth and not old.predictions and not inventory:
            return
        fresh = LiveRun(run_id)
        for e in old.events:
            fresh.events.append(e)
        fresh.info = old.info
        self._runs[run_id] = fresh
        prefix = f"fraudlab.{run_id}."
        for tp in [tp for tp in self._positions if tp.topic.startswith(prefix)]:
            if not tp.topic.endswith(".run-events"):
                del self._positions[tp]

    async def _count_inputs(self, consumer: AIOKafkaConsumer) -> None:
        """Note each followed run's input end offsets, for its events per second."""
        counted = {
            TopicPartition(t, p): t.split(".")[1]
            for t, parts in self._partitions.items()
            if t.rsplit(".", 1)[-1] in COUNTED_STREAMS
            for p in parts
        }
        if not counted:
            return
        ends = await consumer.end_offsets(list(counted))
        totals: dict[str, int] = {}
        for tp, end in ends.items():
            totals[counted[tp]] = totals.get(counted[tp], 0) + end
        now = time.monotonic()
        with self._lock:
            for run_id, total in totals.items():
                if run_id in self._runs:
                    self._runs[run_id].count_inputs(total, now)
