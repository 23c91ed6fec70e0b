"""One lifecycle for every producer of a run: the simulator's, the CSV producer's and a replay's.

:func:`publishing` opens a run's publication and closes it however the producer ends:

1. announce: the run's topics are created and ``started`` goes out at once, with what the run
   runs on (``resumed_from`` too, when a run stopped part way is continued);
2. the producer sends its static data, then its events (it paces them: its own schedule, the
   kernel's :class:`fraudlab.pacing.Pacer`), and calls :meth:`RunPublication.progress` as it
   goes; every :data:`fraudlab.run_events.PROGRESS_EVERY_S` wall seconds that flushes and
   publishes a ``progress`` run-event, whose ``event_time`` promises that everything sent before
   it is in Kafka (the engine moves its frontier on idle partitions by it);
3. end: :meth:`RunPublication.finish` flushes and announces ``finished`` with what the topics
   hold. A producer that stops early is announced ``interrupted`` (Ctrl-C, or a broker that
   acknowledged nothing for the delivery timeout; then the error says how to resume) or
   ``failed``, with what the broker acknowledged, as a best effort that never hides why it
   stopped.

Through a broker outage the publisher waits and reports (``on_wait``, see
:class:`fraudlab.publisher.Publisher`); a resumed run skips what its topics hold. A paced
producer hands its pacer to :meth:`RunPublication.pace_by_requests`: the run's control topic
then pauses, resumes and re-paces it (:mod:`fraudlab.run_control`), each change announced as a
``paced`` run-event.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from fraudlab.errors import BrokerUnavailable, FraudlabError
from fraudlab.kafka_io import DEFAULT_TUNING, ProducerTuning, create_topics
from fraudlab.kafka_session import KafkaSession
from fraudlab.pacing import Pacer
from fraudlab.publisher import Publisher, WaitReport
from fraudlab.records import RunControl, RunEvent
from fraudlab.resume import ResumePoint
from fraudlab.run_control import PaceFollower, PaceState
from fraudlab.run_events import (
    END_TIMEOUT_S,
    PROGRESS_EVERY_S,
    announce,
    announce_end,
    announce_now,
    run_event,
)

__all__ = ["RunPublication", "publishing"]


class RunPublication:
    """A run's producer side while it publishes: sends by stream, progress, and its end.

    ``end_details`` joins whatever end the run gets (a replay's count of raw values, a CSV run's
    quarantined rows): the producer keeps it up to date as it goes.
    """

    def __init__(
        self,
        run_id: str,
        publisher: Publisher,
        topics: Mapping[str, str],
        partitions: int = 1,
        resumed: bool = False,
    ) -> None:
        self.run_id = run_id
        self.publisher = publisher
        self.topics = dict(topics)
        self.partitions = partitions
        self.resumed = resumed
        self.end_details: dict[str, Any] = {}
        self.finished = False
        self._events_topic = self.topics.get(RunEvent.STREAM)
        self._reported_at = time.monotonic()
        self._control: tuple[KafkaSession, PaceFollower] | None = None

    async def pace_by_requests(self, pacer: Pacer) -> None:
        """Let the run's control topic pause, resume and re-pace ``pacer`` from now until the
        publication closes (a pacer that goes as fast as it can is left alone). A resumed run
        takes only the requests made from now on."""
        if pacer.speed is None or self._control is not None:
            return
        session = KafkaSession(self.publisher.bootstrap)

        async def applied(request: RunControl, state: PaceState) -> None:
            details = {"paused": state.paused, "speed": state.speed, "by": request.requested_by}
            with contextlib.suppress(Exception):  # the pace changed all the same
                event = run_event(self.run_id, "producer", "paced", details)
                await announce_now(session, self.partitions, event)

        follower = PaceFollower(session, self.run_id, pacer, applied)
        self._control = (session, follower)
        await follower.start(from_end=self.resumed)

    async def _close_control(self) -> None:
        if self._control is not None:
            session, follower = self._control
            self._control = None
            await follower.close()
            with contextlib.suppress(Exception):
                await session.close()

    @property
    def resuming(self) -> bool:
        """True while the topics' earlier messages are being skipped (a resumed run): the
        producer sends without pacing until it is False."""
        return self.publisher.resuming

    async def send(
        self,
        stream: str,
        key: bytes | None,
        value: bytes,
        timestamp_ms: int | None,
        partition: int | None = None,
    ) -> None:
        """Queue one message of ``stream`` (see :meth:`fraudlab.publisher.Publisher.send`)."""
        await self.publisher.send(self.topics[stream], key, value, timestamp_ms, partition)

    def sent(self) -> int:
        """Messages sent so far, run-events left out."""
        return sum(n for t, n in self.publisher.sent.items() if t != self._events_topic)

    def held(self) -> dict[str, int]:
        """What the run's topics hold by this producer's count, by stream: acknowledged now,
        or found there by a resume (run-events left out)."""
        by_topic = {t: s for s, t in self.topics.items() if s != RunEvent.STREAM}
        counts = self.publisher.delivered + self.publisher.skipped
        return dict(sorted((by_topic[t], n) for t, n in counts.items() if t in by_topic))

    async def progress(self, details: Callable[[], dict[str, Any]]) -> None:
        """Publish a ``progress`` run-event with ``details()`` (and ``sent``) when the last one
        is :data:`PROGRESS_EVERY_S` old; everything sent before it is flushed first."""
        if time.monotonic() - self._reported_at < PROGRESS_EVERY_S:
            return
        self._reported_at = time.monotonic()
        await self.publisher.flush()
        event = run_event(self.run_id, "producer", "progress", {**details(), "sent": self.sent()})
        await announce(self.publisher, event)

    async def finish(self, details: Mapping[str, Any]) -> dict[str, int]:
        """Flush, and announce ``finished`` with what the topics hold and ``details``; what
        they hold, by stream. A resumed run whose topics held more than its producer makes is
        refused in one sentence (they were not all produced by it)."""
        await self.publisher.flush()
        if self.publisher.resuming:
            extra = sum(n for n in self.publisher.skip.values() if n > 0)
            raise FraudlabError(
                f"run {self.run_id}'s topics hold {extra:,} messages more than its source "
                "produces: they were not all produced by it, so it cannot be resumed."
            )
        held = self.held()
        event = run_event(
            self.run_id,
            "producer",
            "finished",
            {"delivered": held, **self.end_details, **details},
        )
        await announce(self.publisher, event)
        await self.publisher.flush()
        self.finished = True
        return held

    async def _end_details(self) -> dict[str, Any]:
        """What an early end says: what the broker acknowledged (after a last flush, if the
        broker still listens), and the producer's own end details."""
        if not self.publisher.failed:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self.publisher.flush()), END_TIMEOUT_S)
        return {"delivered": self.held(), **self.end_details}


@contextlib.asynccontextmanager
async def publishing(
    bootstrap: str,
    run_id: str,
    topics: Mapping[str, str],
    partitions: int,
    details: Mapping[str, Any],
    *,
    tuning: ProducerTuning = DEFAULT_TUNING,
    on_wait: WaitReport | None = None,
    resume: ResumePoint | None = None,
    resume_hint: str = "",
) -> AsyncIterator[RunPublication]:
    """Open run ``run_id``'s publication on ``topics`` (stream -> topic, run-events included):
    create them, announce ``started`` with ``details``, and yield; end it as the module says.

    ``resume``: where a run stopped part way stands (what its topics hold is skipped).
    ``resume_hint``: the sentence added to the error when the broker acknowledged nothing for
    the delivery timeout (how to continue the run). Raises BrokerUnavailable then."""
    await create_topics(bootstrap, topics.values(), partitions)
    publisher = Publisher(
        bootstrap, tuning, skip=dict(resume.held) if resume else {}, on_wait=on_wait
    )
    await publisher.start()
    publication = RunPublication(run_id, publisher, topics, partitions, resume is not None)
    ending, reason = "failed", {}
    try:
        started = dict(details)
        if resume is not None:
            started["resumed_from"] = resume.held_total
        await announce(publisher, run_event(run_id, "producer", "started", started))
        # at once: whoever waits for the run to show itself can start reading
        await publisher.flush()
        yield publication
        if not publication.finished:
            raise RuntimeError("a run's publication ended without finish()")
    except (asyncio.CancelledError, KeyboardInterrupt):
        ending = "interrupted"
        raise
    except BrokerUnavailable as exc:
        ending, reason = "interrupted", {"reason": str(exc)}
        raise BrokerUnavailable(f"{exc} {resume_hint}".strip()) from None
    except Exception as exc:
        reason = {"error": str(exc)}
        raise
    finally:
        await publication._close_control()
        if not publication.finished:
            end = {**(await publication._end_details()), **reason}
            await announce_end(publisher, run_id, "producer", ending, end)
        await publisher.close()
