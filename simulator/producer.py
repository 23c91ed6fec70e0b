"""Publishing a simulated run to Kafka: ``fraudlab produce``.

The simulation advances in steps of simulated time; each step's messages go out once the pacer
says they are due (speed k) or at once (``--fast``). Event times never change with the speed:
only the wall-clock moment a message is sent does. The run announces itself on its
``run-events`` topic (scenario text, seed, start, speed) and ends with per-topic counts that
count only what the broker acknowledged.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from fraudlab.announce import PROGRESS_EVERY_S, announce, announce_end, run_event
from fraudlab.errors import BrokerUnavailable, FraudlabError
from fraudlab.kafka_io import DEFAULT_TUNING, ProducerTuning, create_topics
from fraudlab.publisher import Publisher, WaitReport
from fraudlab.records import RunEvent
from fraudlab.resume import ResumePoint
from fraudlab.topics import topic_name
from simulator.pacing import Pacer, wall_seconds
from simulator.simulation import Message, Simulation

# Streams a simulated run writes; results topics are the engine's to create.
PRODUCED_STREAMS = (
    "customer",
    "category",
    "product",
    "customer_session",
    "browsing",
    "transactions",
    "truth",
    "faults",
    "run-events",
)
# Simulated seconds per step: small enough for smooth pacing, large enough to batch well.
PACED_STEP_S = 1.0
FAST_STEP_S = 60.0


@dataclass(frozen=True)
class ProduceReport:
    """What a produce run delivered."""

    run_id: str
    delivered: dict[str, int]
    simulated_s: float
    wall_s: float
    speed: float = 0.0  # simulated seconds per wall second while events were paced out
    quarantined: int = 0  # input rows that could not be read (CSV runs)
    resumed: int = 0  # of ``delivered``, messages a resumed run found in its topics already

    @property
    def total(self) -> int:
        return sum(self.delivered.values())


ProgressFn = Callable[[float, Counter[str]], None]


async def produce_run(
    simulation: Simulation,
    start: datetime,
    run_id: str,
    bootstrap: str,
    partitions: int,
    speed: float | None,
    *,
    details: dict[str, object],
    tuning: ProducerTuning = DEFAULT_TUNING,
    progress: ProgressFn | None = None,
    on_wait: WaitReport | None = None,
    resume: ResumePoint | None = None,
) -> ProduceReport:
    """Publish ``simulation`` to the run's topics at ``speed`` (None: as fast as possible).

    ``on_wait`` hears how long the broker has not acknowledged (see
    :class:`fraudlab.publisher.Publisher`). ``resume``: the run was produced part way before;
    the messages its topics hold are skipped, and pacing starts where they end. Raises
    BrokerUnavailable when the broker acknowledges nothing for the delivery timeout; the run is
    then announced ``interrupted`` with what was acknowledged, if the broker takes that."""
    topics = {s: topic_name(run_id, s) for s in PRODUCED_STREAMS}
    await create_topics(bootstrap, topics.values(), partitions)
    publisher = Publisher(
        bootstrap, tuning, skip=dict(resume.held) if resume else {}, on_wait=on_wait
    )
    await publisher.start()
    started_wall = wall_seconds()
    ending = "failed"
    end_details: dict[str, object] = {}
    if resume is not None:
        details = {**details, "resumed_from": resume.held_total}
    try:
        await announce(publisher, run_event(run_id, "producer", "started", details))
        start_ms = int(start.timestamp() * 1000)
        for message in simulation.static_messages():
            await _send(publisher, topics, message, start_ms)
        # static data is complete in Kafka before the first event: an engine that sees an event
        # can read customers and products whole
        await publisher.flush()
        pacer = Pacer(speed)
        step = PACED_STEP_S if speed is not None else FAST_STEP_S
        until = 0.0
        reported_at = 0.0
        while until < simulation.horizon_s:
            until = min(until + step, simulation.horizon_s)
            await _deliver(publisher, topics, simulation.advance(until), start_ms, pacer, until)
            if progress is not None:
                progress(until, publisher.sent)
            if pacer.elapsed() - reported_at >= PROGRESS_EVERY_S:
                reported_at = pacer.elapsed()
                # a progress event's event_time promises that everything before it is in Kafka:
                # the engine's frontier moves on idle partitions by it (engine.run_end)
                await publisher.flush()
                await announce(
                    publisher, _progress_event(run_id, start, until, simulation, publisher, pacer)
                )
        # messages held back past the horizon (late deliveries) still go out, in order
        await _deliver(publisher, topics, simulation.advance(float("inf")), start_ms, pacer, until)
        await publisher.flush()
        if publisher.resuming:
            extra = sum(n for n in publisher.skip.values() if n > 0)
            raise FraudlabError(
                f"run {run_id}'s topics hold {extra:,} messages more than its scenario produces: "
                "they were not all produced by it, so it cannot be resumed."
            )
        delivered = dict(publisher.delivered + publisher.skipped)
        delivered.pop(topics["run-events"], None)
        speed_reached = pacer.achieved_speed(simulation.horizon_s)
        ending = "finished"
        await announce(
            publisher,
            run_event(
                run_id,
                "producer",
                "finished",
                {
                    "delivered": {t.rsplit(".", 1)[1]: n for t, n in delivered.items()},
                    "speed_reached": speed_reached,
                },
            ),
        )
        await publisher.flush()
    except (asyncio.CancelledError, KeyboardInterrupt):
        ending = "interrupted"
        end_details = {"delivered": _held(publisher, topics)}
        raise
    except BrokerUnavailable as exc:
        ending = "interrupted"
        end_details = {"delivered": _held(publisher, topics), "reason": str(exc)}
        raise BrokerUnavailable(
            f"{exc} Run {run_id} stopped; `--resume {run_id}` continues it once the broker is back."
        ) from None
    finally:
        if ending != "finished":
            await announce_end(publisher, run_id, "producer", ending, end_details)
        await publisher.close()
    return ProduceReport(
        run_id,
        {t.rsplit(".", 1)[1]: n for t, n in sorted(delivered.items())},
        simulation.horizon_s,
        wall_seconds() - started_wall,
        speed_reached,
        resumed=sum(n for t, n in publisher.skipped.items() if t != topics["run-events"]),
    )


def _held(publisher: Publisher, topics: dict[str, str]) -> dict[str, int]:
    """What the run's topics hold by the publisher's count: acknowledged now, or found there by
    a resume, by stream."""
    by_topic = {t: s for s, t in topics.items() if s != "run-events"}
    counts = publisher.delivered + publisher.skipped
    return {by_topic[t]: n for t, n in sorted(counts.items()) if t in by_topic}


def _progress_event(
    run_id: str,
    start: datetime,
    until: float,
    simulation: Simulation,
    publisher: Publisher,
    pacer: Pacer,
) -> RunEvent:
    """Where the producer stands: simulated time reached, messages sent, speed so far."""
    return run_event(
        run_id,
        "producer",
        "progress",
        {
            "simulated_s": until,
            "horizon_s": simulation.horizon_s,
            "event_time": int(start.timestamp() + until),
            "sent": sum(n for t, n in publisher.sent.items() if not t.endswith(".run-events")),
            "speed_reached": round(pacer.achieved_speed(until), 3),
        },
    )


async def _deliver(
    publisher: Publisher,
    topics: dict[str, str],
    batch: list[Message],
    start_ms: int,
    pacer: Pacer,
    until: float,
) -> None:
    paced = pacer.speed is not None
    for message in batch:
        if paced and publisher.resuming:
            # what the topics hold goes by at once; pacing starts where they end
            await _send(publisher, topics, message, start_ms)
            if not publisher.resuming:
                pacer.restart_at(message.deliver_at)
            continue
        if paced:
            await pacer.wait_until(message.deliver_at)
        await _send(publisher, topics, message, start_ms)
    if paced:
        # partial batches go out every step, or a slow run would sit on them until they fill
        await publisher.submit_open()
        if not publisher.resuming:
            await pacer.wait_until(until)


async def _send(
    publisher: Publisher, topics: dict[str, str], message: Message, start_ms: int
) -> None:
    # the Kafka timestamp is the simulated delivery time, so the log is the same at any speed
    timestamp = start_ms + int(message.deliver_at * 1000)
    await publisher.send(topics[message.stream], message.key, message.value, timestamp)


def run_details(
    scenario_text: str,
    scenario_name: str,
    seed: int,
    start: datetime,
    minutes: float,
    speed: float | None,
) -> dict[str, object]:
    """The producer's part of a run's metadata."""
    return {
        "scenario": scenario_name,
        "scenario_text": scenario_text,
        "seed": seed,
        "start": start.isoformat(),
        "minutes": minutes,
        "speed": speed if speed is not None else "fast",
    }
