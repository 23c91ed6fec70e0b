"""One Kafka session per process: an admin client, a producer and the consumers that follow
topics, opened once at the edge and passed in, through aiokafka's public API only.

:class:`KafkaSession` is the session for async code. :class:`BlockingKafka` is the same session
for code that is not a coroutine (the engine's control loop, a supervisor): its event loop runs
on a thread of its own, entered once for the process, and each call waits for its answer, so no
call opens clients of its own or an event loop of its own. :class:`TopicFollower` keeps its
place in a topic: each poll returns what arrived since the last (the one consumer loop).

A broker that does not answer is one :class:`~fraudlab.errors.BrokerUnavailable` sentence
(:func:`fraudlab.kafka_io.start_or_report`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Coroutine, Iterable
from typing import Any, NamedTuple, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from fraudlab.errors import BrokerUnavailable
from fraudlab.kafka_io import (
    create_missing_topics,
    make_consumer,
    make_producer,
    on_a_live_node,
    quiet_kafka_logs,
    start_or_report,
)

T = TypeVar("T")


class Message(NamedTuple):
    """One message of a topic as a follower reads it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int


class TopicFollower:
    """Reads a topic from its beginning and keeps its place: :meth:`poll` returns the messages
    that arrived since the last poll, up to the end offsets of the moment, by partition and
    offset. A topic that does not exist yet is picked up once it does."""

    def __init__(self, session: KafkaSession, consumer: AIOKafkaConsumer, topic: str) -> None:
        self._session = session
        self._consumer = consumer
        self.topic = topic
        self._partitions: list[TopicPartition] = []
        # where each partition's next poll starts (assigning partitions anew resets them)
        self._positions: dict[TopicPartition, int] = {}

    async def _assign(self) -> None:
        found = (await self._session.partitions([self.topic])).get(self.topic, [])
        if len(found) > len(self._partitions):
            new = [TopicPartition(self.topic, p) for p in sorted(found)]
            self._consumer.assign(new)
            for tp in new:
                self._consumer.seek(tp, self._positions.get(tp, 0))
            self._partitions = new

    async def poll(self) -> list[Message]:
        """The messages that arrived since the last poll (every message at the first)."""
        await self._assign()
        if not self._partitions:
            return []
        with quiet_kafka_logs():
            ends = await self._consumer.end_offsets(self._partitions)
            found: list[Message] = []
            pending = {tp for tp in self._partitions if await self._position(tp) < ends[tp]}
            while pending:
                batches = await self._consumer.getmany(*pending, timeout_ms=1_000)
                for tp, records in batches.items():
                    for m in records:
                        if m.offset < ends[tp]:
                            found.append(
                                Message(
                                    tp.topic, tp.partition, m.offset, m.key, m.value, m.timestamp
                                )
                            )
                for tp in list(pending):
                    if await self._position(tp) >= ends[tp]:
                        pending.discard(tp)
        for tp in self._partitions:
            self._positions[tp] = await self._position(tp)
        return sorted(found, key=lambda m: (m.partition, m.offset))

    async def _position(self, tp: TopicPartition) -> int:
        return int(await self._consumer.position(tp))

    async def close(self) -> None:
        await self._consumer.stop()


class KafkaSession:
    """The Kafka clients of one process: an acks=all idempotent producer, started on first use,
    and the consumers of its followers; :meth:`close` stops them all."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self._admin: AIOKafkaAdminClient | None = None
        self._producer: AIOKafkaProducer | None = None
        self._metadata: AIOKafkaConsumer | None = None
        self._followers: list[TopicFollower] = []

    async def _consumer(self) -> AIOKafkaConsumer:
        consumer = make_consumer(self.bootstrap)
        await start_or_report(consumer, self.bootstrap)
        return consumer

    async def admin(self) -> AIOKafkaAdminClient:
        """The session's admin client, started on first use."""
        if self._admin is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            await start_or_report(admin, self.bootstrap)
            self._admin = admin
        return self._admin

    async def topics(self) -> list[str]:
        """Every topic on the cluster, sorted."""
        admin = await self.admin()
        return sorted(await on_a_live_node(admin, self.bootstrap, admin.list_topics, "ListTopics"))

    async def create_topics(self, topics: Iterable[str], partitions: int) -> list[str]:
        """Create those of ``topics`` that do not exist (the cluster's replication factor)."""
        return await create_missing_topics(await self.admin(), self.bootstrap, topics, partitions)

    async def partitions(self, topics: Iterable[str]) -> dict[str, list[int]]:
        """The partitions of those ``topics`` that exist now, by topic (fresh metadata)."""
        admin = await self.admin()
        wanted = list(topics)
        described = await on_a_live_node(
            admin, self.bootstrap, lambda: admin.describe_topics(wanted), "DescribeTopics"
        )
        return {
            t["topic"]: sorted(p["partition"] for p in t["partitions"])
            for t in described
            if t["error_code"] == 0 and t["partitions"]
        }

    async def end_offsets(self, topics: Iterable[str]) -> dict[tuple[str, int], int]:
        """The end offset of every partition of those ``topics`` that exist."""
        if self._metadata is None:
            self._metadata = await self._consumer()
        found = await self.partitions(topics)
        partitions = [TopicPartition(t, p) for t, parts in found.items() for p in parts]
        if not partitions:
            return {}
        with quiet_kafka_logs():
            ends = await self._metadata.end_offsets(partitions)
        return {(tp.topic, tp.partition): int(offset) for tp, offset in ends.items()}

    async def send(
        self, topic: str, key: bytes | None, value: bytes, partition: int | None = None
    ) -> tuple[str, int, int]:
        """Send one message and wait for the broker's acknowledgement; (topic, partition,
        offset) of where it landed."""
        if self._producer is None:
            producer = make_producer(self.bootstrap)
            await start_or_report(producer, self.bootstrap)
            self._producer = producer
        sent = await self._producer.send_and_wait(topic, value, key=key, partition=partition)
        return sent.topic, sent.partition, sent.offset

    async def follow(self, topic: str) -> TopicFollower:
        """A follower of ``topic`` from its beginning (see :class:`TopicFollower`)."""
        follower = TopicFollower(self, await self._consumer(), topic)
        self._followers.append(follower)
        return follower

    async def close(self) -> None:
        """Stop every client of the session."""
        for follower in self._followers:
            await follower.close()
        self._followers = []
        if self._metadata is not None:
            await self._metadata.stop()
            self._metadata = None
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        if self._admin is not None:
            await self._admin.close()
            self._admin = None


class BlockingKafka:
    """A :class:`KafkaSession` for code that is not a coroutine: the session's event loop runs
    on a thread of its own for the life of this object, and each call waits for its answer."""

    def __init__(self, bootstrap: str) -> None:
        self.session = KafkaSession(bootstrap)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="fraudlab-kafka", daemon=True
        )
        self._thread.start()

    def call(self, work: Coroutine[Any, Any, T] | Awaitable[T], timeout_s: float = 60.0) -> T:
        """Run ``work`` on the session's loop and wait for its result (or its error); a
        BrokerUnavailable sentence when the cluster has not answered in ``timeout_s``."""
        future = asyncio.run_coroutine_threadsafe(_awaited(work), self._loop)
        try:
            return future.result(timeout_s)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise BrokerUnavailable(
                f"the Kafka cluster at {self.session.bootstrap} did not answer in "
                f"{timeout_s:.0f} s."
            ) from None

    def topics(self) -> list[str]:
        return self.call(self.session.topics())

    def create_topics(self, topics: Iterable[str], partitions: int) -> list[str]:
        return self.call(self.session.create_topics(list(topics), partitions))

    def end_offsets(self, topics: Iterable[str]) -> dict[tuple[str, int], int]:
        return self.call(self.session.end_offsets(list(topics)))

    def send(self, topic: str, key: bytes | None, value: bytes) -> tuple[str, int, int]:
        return self.call(self.session.send(topic, key, value))

    def follow(self, topic: str) -> BlockingFollower:
        return BlockingFollower(self, self.call(self.session.follow(topic)))

    def close(self) -> None:
        """Stop the session's clients, then its loop and thread."""
        try:
            self.call(self.session.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=10)
            if not self._loop.is_running():
                self._loop.close()

    def __enter__(self) -> BlockingKafka:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


class BlockingFollower:
    """A :class:`TopicFollower` of a :class:`BlockingKafka` session."""

    def __init__(self, kafka: BlockingKafka, follower: TopicFollower) -> None:
        self._kafka = kafka
        self._follower = follower

    def poll(self) -> list[Message]:
        return self._kafka.call(self._follower.poll())


async def _awaited(work: Awaitable[T]) -> T:
    return await work


__all__ = ["BlockingFollower", "BlockingKafka", "KafkaSession", "Message", "TopicFollower"]
