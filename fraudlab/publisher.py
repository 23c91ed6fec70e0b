"""Publishing keyed messages to Kafka in per-partition batches, with delivery accounted for.

aiokafka's per-message ``send`` costs a coroutine and a future per message; building the
batches ourselves (``create_batch``/``send_batch``) is several times faster. Partitions are
chosen by murmur2 of the key, as every Kafka client's default partitioner does, so a key lands
on the same partition whoever writes it; a message whose place is known otherwise (a replayed
value that no longer shows its key) can be given its partition. Nothing counts as delivered
until the broker acked it.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field

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


@dataclass
class _Open:
    builder: object
    count: int = 0


@dataclass
class Publisher:
    """Sends (topic, key, value, timestamp) messages in batches; ``close`` awaits every ack."""

    bootstrap: str
    tuning: ProducerTuning = DEFAULT_TUNING
    max_in_flight_batches: int = 64
    sent: Counter[str] = field(default_factory=Counter)
    delivered: Counter[str] = field(default_factory=Counter)
    _producer: AIOKafkaProducer | None = None
    _partitions: dict[str, int] = field(default_factory=dict)
    _open: dict[tuple[str, int], _Open] = field(default_factory=dict)
    _in_flight: list[tuple[str, int, asyncio.Future[object]]] = field(default_factory=list)

    async def start(self) -> None:
        self._producer = make_producer(self.bootstrap, self.tuning)
        await start_or_report(self._producer, self.bootstrap)

    async def _partition_count(self, topic: str) -> int:
        count = self._partitions.get(topic)
        if count is None:
            assert self._producer is not None
            parts = await self._producer.partitions_for(topic)
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
        as they fill, and a partition's messages go out in the order they were queued."""
        assert self._producer is not None, "start() first"
        count = await self._partition_count(topic)
        if partition is None:
            if key is None:
                # a client would pick a partition at random: runs would not be reproducible
                raise ValueError(f"a message for {topic} without a key needs a partition")
            partition = partition_for(key, count)
        elif not 0 <= partition < count:
            raise ValueError(f"{topic} has no partition {partition} (it has {count})")
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
        future = await self._producer.send_batch(slot.builder, topic, partition=partition)
        self._in_flight.append((topic, slot.count, future))
        if len(self._in_flight) >= self.max_in_flight_batches:
            await self._settle(len(self._in_flight) // 2)

    async def submit_open(self) -> None:
        """Send every open batch now, without waiting for acks (paced runs call it each step)."""
        for topic, partition in list(self._open):
            await self._submit(topic, partition)

    async def flush(self) -> None:
        """Send every open batch and wait until the broker acknowledged all of them."""
        await self.submit_open()
        await self._settle(len(self._in_flight))

    async def _settle(self, how_many: int) -> None:
        done, self._in_flight = self._in_flight[:how_many], self._in_flight[how_many:]
        for topic, count, future in done:
            try:
                with quiet_kafka_logs():
                    await future
            except KafkaError as exc:
                undelivered = sum(self.sent.values()) - sum(self.delivered.values())
                raise BrokerUnavailable(
                    f"the broker at {self.bootstrap} stopped acknowledging "
                    f"({type(exc).__name__}): {undelivered} messages are not confirmed delivered."
                ) from None
            self.delivered[topic] += count

    async def close(self) -> None:
        """Flush, then stop the producer (also when flushing failed)."""
        try:
            await self.flush()
        finally:
            if self._producer is not None:
                await self._producer.stop()
                self._producer = None
