"""Republishing an archived run's input to a new run's topics, at a chosen speed.

The new run gets what the original producer sent, so an engine and an archiver process it as
they would the original: static data first (flushed, as the producer does, so an engine that sees
an event can read customers and products whole), then every other message in the order it was
sent (see :mod:`replay.archived_messages`), with its key, on the same partition, the same bytes
where the archive holds the record, and as a Kafka timestamp the simulated time it was sent at.
Undecodable values go back raw. Speed k paces the original sending times against the wall clock
(``None``: as fast as possible); event times never change. The replay announces itself on the new
run's ``run-events`` as the part ``producer``, with ``replay_of``.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from archive.files import reading
from fraudlab.errors import UsageError
from fraudlab.kafka_io import DEFAULT_TUNING, ProducerTuning
from fraudlab.kafka_session import KafkaSession
from fraudlab.pacing import Pacer, wall_seconds
from fraudlab.publisher import Publisher, WaitReport
from fraudlab.records import RunEvent
from fraudlab.resume import ResumePoint, resume_point
from fraudlab.run_publication import RunPublication, publishing
from fraudlab.settings import Settings
from fraudlab.topics import topic_name
from replay.archived_messages import (
    REPLAYED_STREAMS,
    STATIC_STREAMS,
    ArchivedMessage,
    archived_messages,
)
from replay.source import ReplaySource, replay_source

__all__ = ["ProgressFn", "RepublishReport", "replay_details", "republish_run"]

# Simulated seconds between progress reports.
PACED_STEP_S = 1.0
FAST_STEP_S = 60.0
# Wall seconds a paced message may wait in a partial batch. Each batch costs a round trip of
# its partition (one request at a time per broker, one batch per partition in it), so sending
# partial batches much more often than that falls behind at high speeds.
SUBMIT_EVERY_S = 0.05
# Waits shorter than this are left to the next message: the pacer's clock is absolute, so
# skipping them costs no accuracy, and sleeping per message would cap fast replays.
MIN_SLEEP_S = 0.002

ProgressFn = Callable[[float, Counter[str]], None]


@dataclass(frozen=True)
class RepublishReport:
    """What a replay delivered."""

    run_id: str
    replay_of: str
    delivered: dict[str, int]  # per stream, as the broker acknowledged
    raw: int  # undecodable values republished as they were
    simulated_s: float
    wall_s: float
    speed: float = 0.0  # simulated seconds per wall second while messages were paced out

    @property
    def total(self) -> int:
        return sum(self.delivered.values())


class RunIdTaken(UsageError):
    """The new run id already names a run with messages."""


def replay_details(
    source: ReplaySource, speed: float | None, until_s: float | None = None
) -> dict[str, Any]:
    """The replay's part of the new run's metadata: what it replays, how much, how fast."""
    horizon_s = source.horizon_s if until_s is None else min(source.horizon_s, until_s)
    return {
        "replay_of": source.run_id,
        "scenario": source.scenario,
        "scenario_text": source.scenario_text,
        "seed": source.seed,
        "start": datetime.fromtimestamp(source.start_ms / 1000, UTC).isoformat(),
        "minutes": horizon_s / 60.0,
        "speed": speed if speed is not None else "fast",
    }


async def _fresh_topics(
    kafka: KafkaSession, partitions: int, source_run_id: str, run_id: str
) -> dict[str, str]:
    if run_id == source_run_id:
        raise RunIdTaken(f"a replay of run {run_id} needs a run id of its own.")
    topics = {s: topic_name(run_id, s) for s in (*REPLAYED_STREAMS, RunEvent.STREAM)}
    await kafka.create_topics(topics.values(), partitions)
    inputs = [topics[s] for s in REPLAYED_STREAMS]
    if sum((await kafka.end_offsets(inputs)).values()):
        raise RunIdTaken(
            f"run {run_id} already has messages in its topics at {kafka.bootstrap}: "
            "replay into a new run id."
        )
    return topics


async def _resumed_topics(
    kafka: KafkaSession, source_run_id: str, run_id: str
) -> tuple[dict[str, str], ResumePoint]:
    """The topics of replay ``run_id``, stopped part way, and where it stands; a UsageError
    when ``run_id`` is not a replay of ``source_run_id`` or has nothing left to send."""
    point = await resume_point(kafka, run_id, REPLAYED_STREAMS)
    if point.details.get("replay_of") != source_run_id:
        raise UsageError(f"run {run_id} is not a replay of run {source_run_id}: nothing to resume.")
    return {s: topic_name(run_id, s) for s in (*REPLAYED_STREAMS, RunEvent.STREAM)}, point


class _Sender:
    """Sends archived messages to the new run's topics, counting the raw ones."""

    def __init__(self, publication: RunPublication, start_ms: int) -> None:
        self.publication = publication
        self.publisher = publication.publisher
        self.start_ms = start_ms
        self.raw = 0
        publication.end_details["raw"] = 0

    async def send(self, m: ArchivedMessage) -> None:
        if m.raw:
            self.raw += 1
            self.publication.end_details["raw"] = self.raw
            # its key may be lost, its place is not: back to its partition, in its turn there
            await self.publication.send(m.stream, m.key, m.value, m.at_ms, partition=m.partition)
        else:
            await self.publication.send(m.stream, m.key, m.value, m.at_ms)

    def sim_s(self, m: ArchivedMessage) -> float:
        return (m.at_ms - self.start_ms) / 1000.0


async def _send_static(
    sender: _Sender, messages: Iterator[ArchivedMessage]
) -> ArchivedMessage | None:
    """Send the static data the run opened with and wait for it; the first message after it."""
    pending = next(messages, None)
    while pending is not None and pending.stream in STATIC_STREAMS:
        await sender.send(pending)
        pending = next(messages, None)
    # as with the producer: an engine that sees an event can read customers and products whole
    await sender.publisher.flush()
    return pending


class _Schedule:
    """Waits for a paced message's moment, sending partial batches before they grow stale."""

    def __init__(self, publisher: Publisher, pacer: Pacer) -> None:
        self.publisher = publisher
        self.pacer = pacer
        self.submitted = 0.0

    async def wait_until(self, sim_s: float) -> None:
        delay = self.pacer.delay_until(sim_s)
        # partial batches go out every SUBMIT_EVERY_S, and before a sleep that would hold them
        # longer than that: a message is never sent more than that after it is due
        if self.pacer.elapsed() - self.submitted + delay >= SUBMIT_EVERY_S:
            await self.publisher.submit_open()
            self.submitted = self.pacer.elapsed()
        if delay > MIN_SLEEP_S:
            await asyncio.sleep(delay)


async def _send_paced(
    sender: _Sender,
    pending: ArchivedMessage | None,
    messages: Iterator[ArchivedMessage],
    pacer: Pacer,
    until_s: float | None,
    progress: ProgressFn | None,
    horizon_s: float,
) -> float:
    """Send ``pending``, then the rest of ``messages``, paced; the last simulated second sent.
    Each step reached goes to ``progress`` and, every few seconds, to a progress run-event."""
    publisher, paced = sender.publisher, pacer.speed is not None
    schedule = _Schedule(publisher, pacer)
    step = PACED_STEP_S if paced else FAST_STEP_S
    next_step, last_s = step, 0.0
    while pending is not None:
        sim_s = sender.sim_s(pending)
        if until_s is not None and sim_s >= until_s:
            break
        while sim_s >= next_step:
            # a step is reported once it is over on the wall clock too
            if paced and not publisher.resuming:
                await schedule.wait_until(next_step)
            if progress is not None:
                progress(next_step, publisher.sent)
            await sender.publication.progress(
                partial(_progress_details, sender.start_ms, next_step, horizon_s, pacer)
            )
            next_step += step
        # a resumed replay sends what the topics hold at once, and paces on from where it ends
        resuming = publisher.resuming
        if paced and not resuming:
            await schedule.wait_until(sim_s)
        await sender.send(pending)
        if resuming and not publisher.resuming:
            pacer.restart_at(sim_s)
        last_s = sim_s
        pending = next(messages, None)
    return last_s


async def _replay(
    sender: _Sender,
    source: ReplaySource,
    messages: Iterator[ArchivedMessage],
    speed: float | None,
    until_s: float | None,
    progress: ProgressFn | None,
) -> tuple[float, float]:
    """Send the whole replay; (simulated seconds it spans, speed reached)."""
    pending = await _send_static(sender, messages)
    pacer = Pacer(speed)
    await sender.publication.pace_by_requests(pacer)
    horizon_s = source.horizon_s if until_s is None else min(source.horizon_s, until_s)
    last_s = await _send_paced(sender, pending, messages, pacer, until_s, progress, horizon_s)
    span_s = max(last_s, source.horizon_s if until_s is None else until_s)
    if speed is not None and not sender.publisher.resuming:
        await sender.publisher.submit_open()
        await pacer.wait_until(span_s)
    # the pace is how fast messages went out; waiting for the last acks is not part of it
    speed_reached = pacer.achieved_speed(span_s)
    if progress is not None:
        progress(span_s, sender.publisher.sent)
    return span_s, speed_reached


async def republish_run(
    settings: Settings,
    source_run_id: str,
    new_run_id: str,
    speed: float | None,
    *,
    details: dict[str, Any],
    progress: ProgressFn | None = None,
    until_s: float | None = None,
    tuning: ProducerTuning = DEFAULT_TUNING,
    on_wait: WaitReport | None = None,
    resume: bool = False,
) -> RepublishReport:
    """Publish the input of archived run ``source_run_id`` as run ``new_run_id``.

    ``speed`` k plays the original sending times k times faster than real time (None: as fast
    as possible); ``until_s`` stops after that many simulated seconds; ``details`` join the
    replay's ``started`` run-event; ``on_wait`` hears the broker's outages (see
    :class:`fraudlab.publisher.Publisher`). ``resume``: ``new_run_id`` is this replay stopped
    part way; what its topics hold is skipped, and pacing starts where they end. Raises
    BrokerUnavailable when the broker acknowledges nothing for the delivery timeout (the replay
    is then announced ``interrupted``, if the broker takes that).
    """
    with reading(settings.archive_dir, source_run_id) as con:
        source = replay_source(con, source_run_id, settings.topic_partitions)
        point: ResumePoint | None = None
        async with KafkaSession(settings.bootstrap_servers) as kafka:
            if resume:
                topics, point = await _resumed_topics(kafka, source_run_id, new_run_id)
            else:
                partitions = settings.topic_partitions
                topics = await _fresh_topics(kafka, partitions, source_run_id, new_run_id)
        started_wall = wall_seconds()
        hint = f"Replay {new_run_id} stopped; `--resume` continues it once the broker is back."
        async with publishing(
            settings.bootstrap_servers,
            new_run_id,
            topics,
            settings.topic_partitions,
            {**replay_details(source, speed, until_s), **details},
            tuning=tuning,
            on_wait=on_wait,
            resume=point,
            resume_hint=hint,
        ) as publication:
            sender = _Sender(publication, source.start_ms)
            messages = archived_messages(con, source_run_id)
            span_s, speed_reached = await _replay(
                sender, source, messages, speed, until_s, progress
            )
            delivered = await publication.finish({"speed_reached": speed_reached})
    return RepublishReport(
        new_run_id,
        source_run_id,
        delivered,
        sender.raw,
        span_s,
        wall_seconds() - started_wall,
        speed_reached,
    )


def _progress_details(
    start_ms: int, sim_s: float, horizon_s: float, pacer: Pacer
) -> dict[str, Any]:
    """Where the replay stands, as a producer's progress says it: simulated time reached (its
    ``event_time`` promises that everything sent before it is in Kafka), and speed so far."""
    return {
        "simulated_s": sim_s,
        "horizon_s": horizon_s,
        "event_time": int(start_ms / 1000 + sim_s),
        "speed_reached": round(pacer.achieved_speed(sim_s), 3),
    }
