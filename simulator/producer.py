"""Publishing a simulated run to Kafka: ``fraudlab produce``.

The simulation advances in steps of simulated time; each step's messages go out once the pacer
says they are due (speed k) or at once (``--fast``). Event times never change with the speed:
only the wall-clock moment a message is sent does. The run announces itself on its
``run-events`` topic (scenario text, seed, start, speed) and ends with per-topic counts that
count only what the broker acknowledged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial

from fraudlab.kafka_io import DEFAULT_TUNING, ProducerTuning
from fraudlab.pacing import Pacer, wall_seconds
from fraudlab.publisher import WaitReport
from fraudlab.resume import ResumePoint
from fraudlab.run_publication import RunPublication, publishing
from fraudlab.topics import topic_name
from simulator.simulation import Message, Simulation, StreamDigest

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
    "inventory",  # empty when the scenario keeps no stock
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
    quarantined_first: list[str] = field(default_factory=list)  # the first, file:line: reason
    resumed: int = 0  # of ``delivered``, messages a resumed run found in its topics already
    digest: str = ""  # the canonical digest of every message of the run (simulated runs)

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
    the messages its topics hold are skipped, and pacing starts where they end. The run's
    ``finished`` announcement carries the canonical digest of every message
    (:class:`~simulator.simulation.StreamDigest`: ``digest.sha256``, and ``digest.messages``
    the count per stream), a resumed run's included. Raises
    BrokerUnavailable when the broker acknowledges nothing for the delivery timeout; the run is
    then announced ``interrupted`` with what was acknowledged, if the broker takes that."""
    topics = {s: topic_name(run_id, s) for s in PRODUCED_STREAMS}
    started_wall = wall_seconds()
    hint = f"Run {run_id} stopped; `--resume {run_id}` continues it once the broker is back."
    async with publishing(
        bootstrap,
        run_id,
        topics,
        partitions,
        details,
        tuning=tuning,
        on_wait=on_wait,
        resume=resume,
        resume_hint=hint,
    ) as publication:
        start_ms = int(start.timestamp() * 1000)
        # every message of the run, those a resumed run finds in its topics too
        digest = StreamDigest()
        static = list(simulation.static_messages())
        digest.add(static)
        for message in static:
            await _send(publication, message, start_ms)
        # static data is complete in Kafka before the first event: an engine that sees an event
        # can read customers and products whole
        await publication.publisher.flush()
        pacer = Pacer(speed)
        await publication.pace_by_requests(pacer)
        step = PACED_STEP_S if speed is not None else FAST_STEP_S
        until = 0.0
        while until < simulation.horizon_s:
            until = min(until + step, simulation.horizon_s)
            batch = simulation.advance(until)
            digest.add(batch)
            await _deliver(publication, batch, start_ms, pacer, until)
            if progress is not None:
                progress(until, publication.publisher.sent)
            await publication.progress(partial(_progress_details, start, until, simulation, pacer))
        # messages held back past the horizon (late deliveries) still go out, in order
        held_back = simulation.advance(float("inf"))
        digest.add(held_back)
        await _deliver(publication, held_back, start_ms, pacer, until)
        speed_reached = pacer.achieved_speed(simulation.horizon_s)
        delivered = await publication.finish(
            {
                "speed_reached": speed_reached,
                "digest": {"sha256": digest.hexdigest(), "messages": digest.streams},
            }
        )
    return ProduceReport(
        run_id,
        delivered,
        simulation.horizon_s,
        wall_seconds() - started_wall,
        speed_reached,
        resumed=sum(publication.publisher.skipped.values()),
        digest=digest.hexdigest(),
    )


def _progress_details(
    start: datetime, until: float, simulation: Simulation, pacer: Pacer
) -> dict[str, object]:
    """Where the producer stands: simulated time reached, and speed so far. Its ``event_time``
    promises that everything before it is in Kafka: the engine's frontier moves on idle
    partitions by it (engine.run_end)."""
    return {
        "simulated_s": until,
        "horizon_s": simulation.horizon_s,
        "event_time": int(start.timestamp() + until),
        "speed_reached": round(pacer.achieved_speed(until), 3),
    }


async def _deliver(
    publication: RunPublication,
    batch: list[Message],
    start_ms: int,
    pacer: Pacer,
    until: float,
) -> None:
    paced = pacer.speed is not None
    for message in batch:
        if paced and publication.resuming:
            # what the topics hold goes by at once; pacing starts where they end
            await _send(publication, message, start_ms)
            if not publication.resuming:
                pacer.restart_at(message.deliver_at)
            continue
        if paced:
            await pacer.wait_until(message.deliver_at)
        await _send(publication, message, start_ms)
    if paced:
        # partial batches go out every step, or a slow run would sit on them until they fill
        await publication.publisher.submit_open()
        if not publication.resuming:
            await pacer.wait_until(until)


async def _send(publication: RunPublication, message: Message, start_ms: int) -> None:
    # the Kafka timestamp is the simulated delivery time, so the log is the same at any speed
    timestamp = start_ms + int(message.deliver_at * 1000)
    await publication.send(message.stream, message.key, message.value, timestamp)


def run_details(
    scenario_text: str,
    scenario_name: str,
    seed: int,
    start: datetime,
    minutes: float,
    speed: float | None,
    customers: int | None = None,
) -> dict[str, object]:
    """The producer's part of a run's metadata; ``customers``: the world size the run was cut
    to (``produce --customers``), None for the scenario's own."""
    details: dict[str, object] = {
        "scenario": scenario_name,
        "scenario_text": scenario_text,
        "seed": seed,
        "start": start.isoformat(),
        "minutes": minutes,
        "speed": speed if speed is not None else "fast",
    }
    if customers is not None:
        details["customers"] = customers
    return details
