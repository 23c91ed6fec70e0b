"""Publishing keyed messages to Kafka in per-partition batches, with delivery accounted for.

aiokafka's per-message ``send`` costs a coroutine and a future per message; building the
batches ourselves (``create_batch``/``send_batch``) is several times faster. Partitions are
chosen by murmur2 of the key, as every Kafka client's default partitioner does, so a key lands
on the same partition whoever writes it; a message whose place is known otherwise (a replayed
value that no longer shows its key) can be given its partition. Nothing counts as delivered
until the broker acked it.

Through a broker outage the publisher keeps its batches and waits (aiokafka retries them with
their sequence numbers, so the broker takes each once); every second it is stalled it tells
``on_wait`` for how long and how many messages wait, and once nothing was acknowledged for the
delivery timeout it gives up in one sentence. ``skip`` makes it resume a deterministic run: the
first messages of each partition, those the topics already hold, are counted and not sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2

from fraudlab.errors import BrokerUnavailable
from fraudlab.kafka_io import (
    DEFAULT_TUNING,
    ProducerTuning,
    make_producer,
    quiet_kafka_logs,
    start_or_report,
)


def partition_for(key: bytes, partitions: int) -> int:
    """The partition of a key: murmur2, positive, modulo the partition count (Kafka's rule).

    >>> partition_for(b"c42", 2), partition_for(b"c42", 2) == partition_for(b"c42", 2)
    (0, True)
    """
    return (murmur2(key) & 0x7FFFFFFF) % partitions


# Wall seconds without an acknowledgement after which a publisher reports that it waits.
STALL_REPORT_S = 3.0
# How often a waiting publisher looks at the clock (and calls on_wait).
WATCH_EVERY_S = 1.0

T = TypeVar("T")


@dataclass(frozen=True)
class BrokerWait:
    """A publisher stalled: no acknowledgement for ``seconds`` (wall), ``waiting`` messages
    sent and not acknowledged, ``timeout_s`` the delivery timeout it gives up at."""

    bootstrap: str
    seconds: float
    waiting: int
    timeout_s: float

    def sentence(self) -> str:
        """The status line of the wait.

        >>> print(BrokerWait("127.0.0.1:9092", 23.4, 594, 120.0).sentence())
        broker at 127.0.0.1:9092 unreachable for 23 s; 594 messages waiting (gives up at 120 s)
        """
        return (
            f"broker at {self.bootstrap} unreachable for {self.seconds:.0f} s; "
            f"{self.waiting:,} messages waiting (gives up at {self.timeout_s:.0f} s)"
        )


WaitReport = Callable[[BrokerWait | None], None]


@dataclass
class _Open:
    builder: object
    count: int = 0


@dataclass
class Publisher:
    """Sends (topic, key, value, timestamp) messages in batches; ``close`` awaits every ack.

    ``delivered``: messages the broker acknowledged, by topic. ``skipped``: messages not sent
    because ``skip`` said the partition held them already (a resumed run). ``on_wait`` hears a
    :class:`BrokerWait` each second the publisher is stalled, and None once it is not.
    """

    bootstrap: str
    tuning: ProducerTuning = DEFAULT_TUNING
    max_in_flight_batches: int = 64
    skip: dict[tuple[str, int], int] = field(default_factory=dict)
    on_wait: WaitReport | None = None
    sent: Counter[str] = field(default_factory=Counter)
    delivered: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    _producer: AIOKafkaProducer | None = None
    _partitions: dict[str, int] = field(default_factory=dict)
    _open: dict[tuple[str, int], _Open] = field(default_factory=dict)
    # (submitted at, monotonic; the batch's ack future)
    _in_flight: list[tuple[float, asyncio.Future[object]]] = field(default_factory=list)
    _quiet: contextlib.ExitStack = field(default_factory=contextlib.ExitStack)
    _acked_at: float = 0.0  # monotonic time of the last acknowledgement
    _waiting_reported: bool = False
    _failed: bool = False

    async def start(self) -> None:
        # aiokafka logs each failed connection attempt; the publisher reports outages itself
        self._quiet.enter_context(quiet_kafka_logs())
        self._producer = make_producer(self.bootstrap, self.tuning)
        try:
            await start_or_report(self._producer, self.bootstrap)
        except BaseException:
            self._quiet.close()
            raise

    @property
    def waiting(self) -> int:
        """Messages sent and not acknowledged yet."""
        return sum(self.sent.values()) - sum(self.delivered.values())

    @property
    def failed(self) -> bool:
        """True once the publisher gave up on the broker (it sends nothing more)."""
        return self._failed

    @property
    def resuming(self) -> bool:
        """True while some partition still has messages to skip."""
        return any(n > 0 for n in self.skip.values())

    async def _partition_count(self, topic: str) -> int:
        count = self._partitions.get(topic)
        if count is None:
            assert self._producer is not None
            parts = await self._watched(self._producer.partitions_for(topic))
            count = self._partitions[topic] = len(parts)
        return count

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes,
        timestamp_ms: int | None,
        partition: int | None = None,
    ) -> None:
        """Queue one message on ``partition`` (None: the key's, by murmur2); full batches go out
        as they fill, and a partition's messages go out in the order they were queued. While
        ``skip`` holds a count for the partition, the message is counted as skipped instead."""
        assert self._producer is not None, "start() first"
        count = await self._partition_count(topic)
        if partition is None:
            if key is None:
                # a client would pick a partition at random: runs would not be reproducible
                raise ValueError(f"a message for {topic} without a key needs a partition")
            partition = partition_for(key, count)
        elif not 0 <= partition < count:
            raise ValueError(f"{topic} has no partition {partition} (it has {count})")
        if self.skip.get((topic, partition), 0) > 0:
            self.skip[(topic, partition)] -= 1
            self.skipped[topic] += 1
            return
        slot = self._open.get((topic, partition))
        if slot is None:
            slot = self._open[(topic, partition)] = _Open(self._producer.create_batch())
        if slot.builder.append(key=key, value=value, timestamp=timestamp_ms) is None:  # type: ignore[attr-defined]
            await self._submit(topic, partition)
            slot = self._open[(topic, partition)] = _Open(self._producer.create_batch())
            if slot.builder.append(key=key, value=value, timestamp=timestamp_ms) is None:  # type: ignore[attr-defined]
                raise ValueError(f"a message of {len(value)} bytes does not fit in a batch")
        slot.count += 1
        self.sent[topic] += 1

    async def _submit(self, topic: str, partition: int) -> None:
        assert self._producer is not None
        slot = self._open.pop((topic, partition), None)
        if slot is None or slot.count == 0:
            return
        submitted = time.monotonic()
        # aiokafka holds one batch per partition: this waits while the previous one is undelivered
        future = await self._watched(
            self._producer.send_batch(slot.builder, topic, partition=partition)
        )
        future.add_done_callback(lambda f: self._acked(topic, slot.count, f))
        self._in_flight.append((submitted, future))
        if len(self._in_flight) >= self.max_in_flight_batches:
            await self._settle(len(self._in_flight) // 2)

    def _acked(self, topic: str, count: int, future: asyncio.Future[object]) -> None:
        # also retrieves every failure, so none is left "never retrieved"
        if future.cancelled() or future.exception() is not None:
            return
        self.delivered[topic] += count
        self._acked_at = time.monotonic()
        if self._waiting_reported:
            self._waiting_reported = False
            if self.on_wait is not None:
                self.on_wait(None)

    def stalled_s(self) -> float:
        """Wall seconds the publisher has waited for an acknowledgement: since the oldest batch
        not acknowledged yet was submitted, or since the last acknowledgement if that came later
        (0 when no batch waits)."""
        pending = [at for at, future in self._in_flight if not future.done()]
        if not pending:
            return 0.0
        return time.monotonic() - max(min(pending), self._acked_at)

    async def _watched(self, step: Awaitable[T]) -> T:
        """Await ``step``, reporting each second the publisher is stalled; past the delivery
        timeout, cancel it and raise BrokerUnavailable."""
        task = asyncio.ensure_future(step)
        try:
            while True:
                done, _ = await asyncio.wait({task}, timeout=WATCH_EVERY_S)
                if done:
                    return task.result()
                self._watch()
        except BaseException:
            task.cancel()
            raise

    def _watch(self) -> None:
        stalled = self.stalled_s()
        timeout = self.tuning.delivery_timeout_s
        if stalled >= timeout:
            self._failed = True
            raise BrokerUnavailable(
                f"the broker at {self.bootstrap} acknowledged nothing for {timeout:.0f} s "
                f"(the delivery timeout, setting delivery_timeout_s): {self.waiting:,} "
                "messages are not confirmed delivered."
            )
        if stalled >= STALL_REPORT_S and self.on_wait is not None:
            self._waiting_reported = True
            self.on_wait(BrokerWait(self.bootstrap, stalled, self.waiting, timeout))

    async def submit_open(self) -> None:
        """Send every open batch now, without waiting for acks (paced runs call it each step)."""
        for topic, partition in list(self._open):
            await self._submit(topic, partition)

    async def flush(self) -> None:
        """Send every open batch and wait until the broker acknowledged all of them."""
        await self.submit_open()
        await self._settle(len(self._in_flight))

    async def _settle(self, how_many: int) -> None:
        """Wait for the acks of the ``how_many`` oldest batches in flight; each leaves the list
        once acknowledged (the watch measures the stall over the batches still in it)."""
        for _ in range(min(how_many, len(self._in_flight))):
            _at, future = self._in_flight[0]
            try:
                await self._watched(asyncio.shield(future))
                self._in_flight.pop(0)
            except KafkaError as exc:
                self._failed = True
                raise BrokerUnavailable(
                    f"the broker at {self.bootstrap} refused or lost a batch "
                    f"({type(exc).__name__}): {self.waiting:,} messages are not confirmed "
                    "delivered."
                ) from None

    async def close(self) -> None:
        """Flush, then stop the producer. When flushing failed, the producer is stopped without
        waiting for what the broker never acknowledged."""
        if self._failed:
            await self.abort()
            return
        try:
            await self.flush()
        except BaseException:
            await self.abort()
            raise
        finally:
            if self._producer is not None:
                await self._producer.stop()
                self._producer = None
            self._quiet.close()

    async def abort(self) -> None:
        """Stop the producer without waiting for what the broker never acknowledged: the stop
        gets :data:`ABORT_WAIT_S`, then goes on in the background.

        aiokafka has no public way to drop undelivered batches: its ``stop()`` waits for every
        batch to be acknowledged or to fail. A batch the broker never takes fails at its request
        timeout, at most :data:`~fraudlab.kafka_io.REQUEST_TIMEOUT_MARGIN_S` past the delivery
        timeout the publisher gives up at, and the stop then ends by itself, its connections
        closed; a process that ends first cancels it with its event loop. aiokafka's retries
        stay unlogged until then."""
        producer, self._producer = self._producer, None
        if producer is None:
            return
        stopping = asyncio.ensure_future(producer.stop())
        _STOPPING.add(stopping)
        stopping.add_done_callback(_forget_stop)
        quiet, self._quiet = self._quiet, contextlib.ExitStack()
        stopping.add_done_callback(lambda _: quiet.close())
        await asyncio.wait({stopping}, timeout=ABORT_WAIT_S)


# Wall seconds an aborted publisher's producer gets to stop before it is left to stop alone.
ABORT_WAIT_S = 5.0
# producers left stopping by an abort, kept so that their stops run to their end
_STOPPING: set[asyncio.Future[None]] = set()


def _forget_stop(stopping: asyncio.Future[None]) -> None:
    _STOPPING.discard(stopping)
    if not stopping.cancelled():
        stopping.exception()  # retrieved: a failed stop of an aborted producer says nothing new
