"""The delivery part of a run: each new fraud alert sent once to every configured sink.

It reads the run's fraud-alerts topic from its start, in the report's window-end order (see
:mod:`engine.report_queries`), takes each potential fraud's first appearance as an alert
(:func:`delivery.alerts.new_alerts`) and hands it to one queue per sink, so that a slow or
unreachable sink holds up no other. Each sink sends its alerts one at a time, in order:

- an attempt the sink did not take is tried again after a backoff that doubles (the project's
  one policy, :class:`fraudlab.backoff.Backoff`, from the sink's ``backoff_s`` up to its
  ``backoff_max_s``), until the sink's ``attempts`` are spent or it refused the
  alert for good; the alert then goes to the run's delivery dead letter
  (``fraudlab.<run>.delivery-dead-letter``: the payload, the sink, the attempts and the reason);
- every attempt is written to the run's delivery log (``fraudlab.<run>.deliveries``: sent,
  retried or failed, with its wall-clock times), archived with the run like its other topics.

A restarted part reads the delivery log first and skips what each sink already took or
dead-lettered (with ``retry_dead_letters``, only what it took: the dead letters are tried again);
an alert whose outcome was not yet logged is sent again, with the same idempotency key. With
``until_engine_ends`` it ends by itself once the engine has ended and every alert the engine
reported is sent or dead-lettered.

The alerts and the run-events are read by followers of the process's Kafka session
(:class:`fraudlab.kafka_session.TopicFollower`); no consumer group is involved, the delivery log
says what is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import orjson

from delivery.alerts import Alert, new_alerts
from delivery.sinks import Sender, sender_for
from fraudlab import codec
from fraudlab.backoff import Backoff
from fraudlab.errors import FraudlabError
from fraudlab.kafka_session import KafkaSession
from fraudlab.publisher import Publisher
from fraudlab.records import AlertDelivery, DeliveryDeadLetter, FraudAlerts, RunEvent, message_key
from fraudlab.run_events import announce, decoded_run_events, part_ending, run_event
from fraudlab.settings import AlertSink, Settings
from fraudlab.topics import topic_name

__all__ = ["DeliveryStatus", "deliver_run", "delivered_before", "describe_sink"]

PART = "delivery"
POLL_S = 0.2  # wall seconds between two polls of the alerts
ENGINE_CHECK_S = 1.0
SLEEP_STEP_S = 0.2  # how often a backoff looks whether the part was asked to stop


@dataclass
class DeliveryStatus:
    """Where the delivery stands: alerts read, and per sink what became of them."""

    alerts: int = 0
    undecodable: int = 0
    sent: Counter[str] = field(default_factory=Counter)
    retried: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)  # done before a restart
    waiting: Counter[str] = field(default_factory=Counter)

    def describe(self, sinks: Sequence[str]) -> str:
        per_sink = "; ".join(
            f"{s}: {self.sent[s]:,} sent, {self.retried[s]:,} retries, "
            f"{self.failed[s]:,} dead-lettered, {self.waiting[s]:,} waiting"
            + (f", {self.skipped[s]:,} done before" if self.skipped[s] else "")
            for s in sinks
        )
        return f"{self.alerts:,} alerts; {per_sink}"

    def as_details(self) -> dict[str, object]:
        return {
            "alerts": self.alerts,
            "undecodable_windows": self.undecodable,
            "sent": dict(self.sent),
            "retried": dict(self.retried),
            "dead_lettered": dict(self.failed),
            "done_before": dict(self.skipped),
        }


def describe_sink(sink: AlertSink) -> str:
    """A sink in a few words, for run-events and status lines."""
    if sink.kind == "webhook":
        return f"{sink.name} (webhook {sink.url})"
    return f"{sink.name} (Kafka topic {sink.topic})"


async def delivered_before(
    kafka: KafkaSession, run_id: str, retry_dead_letters: bool = False
) -> set[tuple[str, str]]:
    """(sink, alert id) of every alert the run's delivery log shows as done: sent, or
    dead-lettered (unless ``retry_dead_letters``), by its latest outcome at that sink."""
    latest: dict[tuple[str, str], str] = {}
    for m in await kafka.read_to_end(topic_name(run_id, AlertDelivery.STREAM)):
        with contextlib.suppress(ValueError, KeyError, TypeError):
            entry = codec.decode(AlertDelivery, m.value or b"")
            if entry.outcome in ("sent", "failed"):
                latest[(entry.sink, entry.alert_id)] = entry.outcome
    done = ("sent",) if retry_dead_letters else ("sent", "failed")
    return {key for key, outcome in latest.items() if outcome in done}


class _Delivery:
    """One delivery: followers of the alerts and the run-events, a sender and a queue per sink,
    and the publisher of the delivery log."""

    def __init__(
        self,
        kafka: KafkaSession,
        settings: Settings,
        run_id: str,
        should_stop: Callable[[], bool],
        status: DeliveryStatus,
        retry_dead_letters: bool = False,
    ) -> None:
        self.kafka = kafka
        self.retry_dead_letters = retry_dead_letters
        self.settings = settings
        self.run_id = run_id
        self.should_stop = should_stop
        self.status = status
        self.bootstrap = settings.bootstrap_servers
        self.log = Publisher(self.bootstrap)
        # the sinks' workers share the log's publisher, which takes one caller at a time
        self.log_lock = asyncio.Lock()
        self.senders: list[Sender] = [
            sender_for(s, self.bootstrap, settings.delivery_timeout_s) for s in settings.alert_sinks
        ]
        self.queues: dict[str, asyncio.Queue[Alert | None]] = {
            s.config.name: asyncio.Queue() for s in self.senders
        }
        self.done: set[tuple[str, str]] = set()
        self.all_read = False

    # ---- the log ---------------------------------------------------------------------------

    async def record(
        self, alert: Alert, sink: str, attempt: int, outcome: str, detail: str
    ) -> None:
        at_ms = int(time.time() * 1000)
        entry = AlertDelivery(
            alert.alert_id,
            sink,
            attempt,
            outcome,
            detail,
            alert.transaction_id,
            alert.window_end,
            alert.reported_ms,
            at_ms,
            at_ms // 1000,
        )
        topic = topic_name(self.run_id, AlertDelivery.STREAM)
        async with self.log_lock:
            await self.log.send(topic, message_key(entry), codec.encode(entry), None)

    async def dead_letter(self, alert: Alert, sink: str, attempts: int, reason: str) -> None:
        letter = DeliveryDeadLetter(
            alert.alert_id,
            sink,
            attempts,
            reason,
            orjson.dumps(alert.payload()).decode(),
            int(time.time()),
        )
        topic = topic_name(self.run_id, DeliveryDeadLetter.STREAM)
        async with self.log_lock:
            await self.log.send(topic, message_key(letter), codec.encode(letter), None)

    # ---- sending ---------------------------------------------------------------------------

    async def pause(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while not self.should_stop() and time.monotonic() < deadline:
            await asyncio.sleep(min(SLEEP_STEP_S, max(deadline - time.monotonic(), 0)))

    async def deliver(self, sender: Sender, alert: Alert) -> None:
        """Every attempt one alert gets at one sink, logged; dead-lettered after the last."""
        config = sender.config
        backoff = Backoff(config.backoff_s, config.backoff_max_s)
        for attempt in range(1, config.attempts + 1):
            result = await sender.send(alert)
            if result.ok:
                await self.record(alert, config.name, attempt, "sent", result.detail)
                self.status.sent[config.name] += 1
                break
            if attempt == config.attempts or not result.retry:
                reason = result.detail if result.retry else f"refused: {result.detail}"
                await self.record(alert, config.name, attempt, "failed", reason)
                await self.dead_letter(alert, config.name, attempt, reason)
                self.status.failed[config.name] += 1
                break
            await self.record(alert, config.name, attempt, "retried", result.detail)
            self.status.retried[config.name] += 1
            await self.pause(backoff.delay(attempt - 1))
            if self.should_stop():
                return  # not logged as done: sent again when the part is restarted
        async with self.log_lock:
            await self.log.flush()

    async def worker(self, sender: Sender) -> None:
        name = sender.config.name
        queue = self.queues[name]
        while True:
            alert = await queue.get()
            if alert is None or self.should_stop():
                self.status.waiting[name] = 0
                return
            # the queue ends with a None once every alert is read: not an alert waiting
            self.status.waiting[name] = queue.qsize() - (1 if self.all_read else 0)
            if (name, alert.alert_id) in self.done:
                self.status.skipped[name] += 1
                continue
            await self.deliver(sender, alert)

    # ---- reading the alerts ----------------------------------------------------------------

    async def read_alerts(self, until_engine_ends: bool) -> None:
        """Read the fraud-alerts topic into the sinks' queues: until the engine has ended and
        all it wrote is read, or (without ``until_engine_ends``) until asked to stop."""
        alerts = await self.kafka.follow(topic_name(self.run_id, FraudAlerts.STREAM))
        run_events = None
        if until_engine_ends:
            run_events = await self.kafka.follow(topic_name(self.run_id, RunEvent.STREAM))
        events: list[RunEvent] = []
        seen: set[str] = set()
        checked = -ENGINE_CHECK_S
        try:
            while not self.should_stop():
                ended = False
                if run_events is not None and time.monotonic() - checked >= ENGINE_CHECK_S:
                    checked = time.monotonic()
                    events.extend(decoded_run_events(await run_events.poll()))
                    # the engine's end is read first: everything it wrote (the topic too, if it
                    # created one) is in the alerts poll that follows
                    ended = part_ending(events, "engine") is not None
                for message in await alerts.poll():
                    self.take(message.value, message.timestamp_ms, seen)
                if ended:
                    return
                await self.pause(POLL_S)
        finally:
            await alerts.close()
            if run_events is not None:
                await run_events.close()

    def take(self, value: bytes | None, reported_ms: int, seen: set[str]) -> None:
        if value is None:
            return
        try:
            window = codec.decode(FraudAlerts, value)
        except (ValueError, KeyError, TypeError):
            self.status.undecodable += 1
            return
        for alert in new_alerts(self.run_id, window, seen, reported_ms=reported_ms):
            self.status.alerts += 1
            for name, queue in self.queues.items():
                queue.put_nowait(alert)
                self.status.waiting[name] = queue.qsize()

    # ---- the session -----------------------------------------------------------------------

    async def run(self, until_engine_ends: bool) -> bool:
        """Deliver; True when every alert was delivered or dead-lettered, False if stopped."""
        await self.kafka.create_topics(
            [topic_name(self.run_id, s) for s in (AlertDelivery.STREAM, DeliveryDeadLetter.STREAM)],
            1,
        )
        self.done = await delivered_before(self.kafka, self.run_id, self.retry_dead_letters)
        await self.log.start()
        started: list[Sender] = []
        try:
            sinks = [describe_sink(s.config) for s in self.senders]
            await announce(self.log, run_event(self.run_id, PART, "started", {"sinks": sinks}))
            await self.log.flush()
            for sender in self.senders:
                try:
                    await sender.start()
                except FraudlabError as exc:
                    reason = str(exc).rstrip(".")
                    raise FraudlabError(f"alert sink {sender.config.name}: {reason}.") from None
                started.append(sender)
            workers = [asyncio.create_task(self.worker(s)) for s in self.senders]
            try:
                await self.read_alerts(until_engine_ends)
                self.all_read = True
                for queue in self.queues.values():
                    queue.put_nowait(None)
                await asyncio.gather(*workers)
            finally:
                for task in workers:
                    task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await asyncio.gather(*workers, return_exceptions=True)
            complete = not self.should_stop()
            ending = "finished" if complete else "interrupted"
            await announce(self.log, run_event(self.run_id, PART, ending, self.status.as_details()))
            await self.log.flush()
            return complete
        finally:
            for sender in started:
                with contextlib.suppress(Exception):
                    await sender.close()
            await self.log.close()


async def deliver_run(
    kafka: KafkaSession,
    settings: Settings,
    run_id: str,
    *,
    until_engine_ends: bool,
    should_stop: Callable[[], bool],
    status: DeliveryStatus | None = None,
    retry_dead_letters: bool = False,
) -> bool:
    """Deliver the new fraud alerts of ``run_id`` to the settings' sinks (see the module),
    reading the run's topics through ``kafka``.

    True once every alert is sent or dead-lettered (with ``until_engine_ends``), False when
    ``should_stop`` ended it first. ``status`` is kept up to date as it goes. Errors:
    FraudlabError (a broker that does not answer, in one sentence).
    """
    delivery = _Delivery(
        kafka, settings, run_id, should_stop, status or DeliveryStatus(), retry_dead_letters
    )
    return await delivery.run(until_engine_ends)
