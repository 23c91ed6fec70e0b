"""A playing run's control channel: pause, resume, a new speed, stop, asked from outside the run.

The channel is the run's ``control`` topic (record :class:`fraudlab.records.RunControl`, one
partition, so requests keep their order). A topic rather than the supervisor's local socket:

- anyone who reaches the broker can ask, whichever process or machine started the run: the
  views' server, a notebook's kernel, ``fraudlab pace`` in another terminal;
- the part that acts on a request reads it where it already reads the run: the source (the
  producer, the CSV producer or a replay) paces its sends by it, the supervisor of
  ``fraudlab run`` stops the run on ``stop`` as on a Ctrl-C;
- the requests are archived with the run, so a run's pauses and speed changes can be told
  afterwards.

The source says what it applied as a ``paced`` run-event (``paused``, ``speed``, ``by``): the
views and the status line show the pace from it. A request changes when messages are sent,
never their event times: a run paused and sped up sends the same messages as one left alone,
and is scored the same.

>>> control_request("r1", "speed", 40, by="cli", ts=0)
RunControl(run_id='r1', action='speed', speed=40.0, requested_by='cli', ts=0)
>>> control_request("r1", "speed", None, by="cli", ts=0)
Traceback (most recent call last):
...
fraudlab.errors.UsageError: a new speed needs a number: simulated seconds per wall second.
>>> state = PaceState(paused=False, speed=20.0)
>>> state.after(control_request("r1", "pause", None, by="cli", ts=0))
PaceState(paused=True, speed=20.0)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, replace

from fraudlab import codec
from fraudlab.blocking_kafka import BlockingKafka
from fraudlab.errors import UsageError
from fraudlab.kafka_session import KafkaSession, TopicFollower
from fraudlab.pacing import Pacer
from fraudlab.records import RunControl, RunEvent, message_key
from fraudlab.run_events import decode_details, part_ending, read_run_events
from fraudlab.topics import topic_name

__all__ = [
    "ACTIONS",
    "MAX_SPEED",
    "PACE_ACTIONS",
    "PaceFollower",
    "PaceState",
    "control_request",
    "pace_state",
    "playing_problem",
    "send_control",
]

PACE_ACTIONS = ("pause", "resume", "speed")
ACTIONS = (*PACE_ACTIONS, "stop")
# the fastest pace a request may ask for: beyond it a paced run is as fast as it goes anyway
MAX_SPEED = 10_000.0
POLL_S = 0.5


def control_request(
    run_id: str, action: str, speed: float | None, *, by: str, ts: int
) -> RunControl:
    """One request to run ``run_id``; UsageError, in one sentence, for an unknown action or a
    speed that is missing, not positive or above :data:`MAX_SPEED`."""
    if action not in ACTIONS:
        raise UsageError(f"{action!r} is not a run control: one of {', '.join(ACTIONS)}.")
    if action != "speed":
        return RunControl(run_id, action, None, by, ts)
    if speed is None:
        raise UsageError("a new speed needs a number: simulated seconds per wall second.")
    if not 0 < speed <= MAX_SPEED:
        raise UsageError(f"a speed is above 0 and at most {MAX_SPEED:,.0f}, not {speed:g}.")
    return RunControl(run_id, action, float(speed), by, ts)


@dataclass(frozen=True)
class PaceState:
    """Where a run's pace stands: paused or not, and its speed (None: as fast as it goes)."""

    paused: bool
    speed: float | None

    def after(self, request: RunControl) -> PaceState:
        """The state once ``request`` is applied (``stop`` leaves the pace as it is)."""
        if request.action == "pause":
            return replace(self, paused=True)
        if request.action == "resume":
            return replace(self, paused=False)
        if request.action == "speed" and request.speed is not None:
            return replace(self, speed=request.speed)
        return self


def pace_state(events: Sequence[RunEvent]) -> PaceState | None:
    """A run's pace as its source last said it: its speed when it (last) started, changed by its
    ``paced`` run-events since; None before the source has started."""
    state: PaceState | None = None
    for event in events:
        if event.part != "producer" or event.event not in ("started", "paced"):
            continue
        details = decode_details(event)
        if event.event == "started":
            state = PaceState(False, _speed(details.get("speed")))
        elif state is not None:
            state = PaceState(bool(details.get("paused")), _speed(details.get("speed")))
    return state


def _speed(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None


def playing_problem(run_id: str, events: Sequence[RunEvent], action: str) -> str | None:
    """Why ``action`` cannot be asked of run ``run_id`` with these run-events, in one sentence
    (None when it can): the run has not started, its source has ended, or a pace request goes
    to a run that goes as fast as it can."""
    if not events:
        return f"run {run_id} is not on Kafka: see `fraudlab runs` for archived runs."
    state = pace_state(events)
    if state is None:
        return f"run {run_id}'s source has not started yet: ask again in a moment."
    ending = part_ending(events, "producer")
    if action in PACE_ACTIONS and ending is not None:
        return f"run {run_id}'s source has {ending}: there is no pace left to change."
    if action == "stop" and ending is not None and part_ending(events, "engine") is not None:
        return f"run {run_id} has ended: there is nothing to stop."
    if action in PACE_ACTIONS and state.speed is None:
        return (
            f"run {run_id} goes as fast as it can (--fast): only a paced run (--speed) "
            "can be paused or sped up."
        )
    return None


def send_control(kafka: BlockingKafka, partitions: int, run_id: str, request: RunControl) -> None:
    """Ask run ``run_id`` for ``request`` (see :func:`control_request`), after checking that it
    is playing (:func:`playing_problem`: UsageError); BrokerUnavailable for a broker that does
    not answer."""
    events = kafka.call(read_run_events(kafka.session, run_id))
    problem = playing_problem(run_id, events, request.action)
    if problem is not None:
        raise UsageError(problem)
    topic = topic_name(run_id, RunControl.STREAM)
    kafka.create_topics([topic], partitions)
    kafka.send(topic, message_key(request), codec.encode(request))


def decoded_requests(values: Sequence[bytes | None]) -> list[RunControl]:
    """The requests among ``values`` (a value that is not one is skipped: a control topic is
    written by hand at times, and a bad request must not stop a run)."""
    requests = []
    for value in values:
        if value is None:
            continue
        with contextlib.suppress(Exception):
            record = codec.decode(RunControl, value)
            if record.action in ACTIONS:
                requests.append(record)
    return requests


class PaceFollower:
    """Follows a run's control topic beside its source and applies each pace request to the
    source's :class:`~fraudlab.pacing.Pacer`; ``applied`` hears each change made (the source
    announces it as a ``paced`` run-event). ``from_end``: requests already in the topic are
    left alone (a resumed run's were for the process it continues)."""

    def __init__(
        self,
        session: KafkaSession,
        run_id: str,
        pacer: Pacer,
        applied: Callable[[RunControl, PaceState], Awaitable[None]],
    ) -> None:
        self.session = session
        self.topic = topic_name(run_id, RunControl.STREAM)
        self.pacer = pacer
        self.applied = applied
        self._task: asyncio.Task[None] | None = None

    async def start(self, from_end: bool = False) -> None:
        start = None
        if from_end:
            ends = await self.session.end_offsets([self.topic])
            start = {p: at for (_, p), at in ends.items()}
        follower = await self.session.follow(self.topic, start)
        self._task = asyncio.create_task(self._follow(follower))

    async def _follow(self, follower: TopicFollower) -> None:
        try:
            while True:
                with contextlib.suppress(Exception):  # a broker gone a while: try again later
                    for request in decoded_requests([m.value for m in await follower.poll()]):
                        if self._apply(request):
                            state = PaceState(self.pacer.paused, self.pacer.speed)
                            await self.applied(request, state)
                await asyncio.sleep(POLL_S)
        finally:
            with contextlib.suppress(Exception):
                await follower.close()

    def _apply(self, request: RunControl) -> bool:
        """Apply ``request`` to the pacer; whether it was a pace request."""
        pacer = self.pacer
        if request.action not in PACE_ACTIONS or pacer.speed is None:
            return False
        if request.action == "pause":
            pacer.pause()
        elif request.action == "resume":
            pacer.resume()
        elif request.speed is not None:
            pacer.set_speed(request.speed)
        return True

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
