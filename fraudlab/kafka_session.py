"""One Kafka session per process: an admin client, a producer and the consumers that follow
topics, opened once at the edge and passed in, through aiokafka's public API only.

:class:`KafkaSession` is the session for async code (``async with KafkaSession(bootstrap) as
kafka``); :class:`fraudlab.blocking_kafka.BlockingKafka` is the same session for code that is
not a coroutine.

:class:`TopicFollower` is the one consumer loop: it keeps its place in a topic, and each poll
returns what arrived since the last. :meth:`KafkaSession.read_to_end` is a follower's first
poll. A loop that must read differently (the archiver's large fetches, the live view's one
consumer of many topics) keeps its own consumer, and asks the session for partitions and end
offsets.

Admin requests go to a random node of the admin client's metadata; a node that has just died
stays there for seconds (until the controller fences it). A request that meets such a node is
asked again, after :data:`ADMIN_BACKOFF`, through a fresh admin client bootstrapped from the
session's servers (fresh metadata), up to :data:`ADMIN_ATTEMPTS` times. A broker that does not
answer is one :class:`~fraudlab.errors.BrokerUnavailable` sentence
(:func:`fraudlab.kafka_io.start_or_report`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import NamedTuple, TypeVar

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    NodeNotReadyError,
    RequestTimedOutError,
    TopicAlreadyExistsError,
)

from fraudlab.backoff import Backoff
from fraudlab.errors import BrokerUnavailable
from fraudlab.kafka_io import (
    RUN_TOPIC_CONFIG,
    make_consumer,
    make_producer,
    quiet_kafka_logs,
    start_or_report,
)

T = TypeVar("T")

# Attempts of an admin request that met a node that does not answer, and the waits between
# them: about 12 s in all, beyond a broker's default session timeout (9 s), after which the
# controller has fenced a dead node and fresh metadata leaves it out.
ADMIN_ATTEMPTS = 8
ADMIN_BACKOFF = Backoff(0.25, 2.0)
# Errors of a request that reached no live node (another node may answer it)
_NODE_ERRORS = (NodeNotReadyError, KafkaConnectionError, RequestTimedOutError)


def no_broker(bootstrap: str) -> str:
    """The sentence of a cluster that does not answer at ``bootstrap``."""
    return (
        f"no Kafka broker answers at {bootstrap}: start one with `make kafka-up` "
        "or set FRAUDLAB_BOOTSTRAP_SERVERS."
    )


class Message(NamedTuple):
    """One message of a topic as a follower reads it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int


class TopicFollower:
    """Reads a topic and keeps its place: :meth:`poll` returns the messages that arrived since
    the last poll (every message from ``start`` at the first: partition -> offset, the
    beginning for a partition it does not name), by partition and offset. Each poll reads at
    least up to the end offsets of its moment. A topic that does not exist yet, or partitions
    added to it, are picked up once they exist."""

    def __init__(
        self,
        session: KafkaSession,
        consumer: AIOKafkaConsumer,
        topic: str,
        start: Mapping[int, int] | None = None,
    ) -> None:
        self._session = session
        self._consumer = consumer
        self.topic = topic
        self._partitions: list[TopicPartition] = []
        # where each partition's next poll starts (assigning partitions anew resets them)
        self._positions = {TopicPartition(topic, p): at for p, at in (start or {}).items()}

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
        found: list[Message] = []
        with quiet_kafka_logs():
            ends = await self._consumer.end_offsets(self._partitions)
            pending = {tp for tp in self._partitions if await self._position(tp) < ends[tp]}
            while pending:
                batches = await self._consumer.getmany(*pending, timeout_ms=1_000)
                # every message fetched is kept, those past the end offsets too: the next poll
                # starts where this one's fetches left the consumer
                for tp, records in batches.items():
                    found.extend(
                        Message(tp.topic, tp.partition, m.offset, m.key, m.value, m.timestamp)
                        for m in records
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
        """Stop the follower's consumer (a follower of a session leaves it)."""
        with contextlib.suppress(ValueError):
            self._session._followers.remove(self)
        await self._consumer.stop()


class KafkaSession:
    """The Kafka clients of one process: an admin client and an acks=all idempotent producer,
    each started on first use, and the consumers of its followers; :meth:`close` (or leaving
    ``async with``) stops them all."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self._admin: AIOKafkaAdminClient | None = None
        self._producer: AIOKafkaProducer | None = None
        self._metadata: AIOKafkaConsumer | None = None
        self._followers: list[TopicFollower] = []
        # two coroutines asking for a client at once start one, not two
        self._starting = asyncio.Lock()

    async def __aenter__(self) -> KafkaSession:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    async def _consumer(self) -> AIOKafkaConsumer:
        consumer = make_consumer(self.bootstrap)
        await start_or_report(consumer, self.bootstrap)
        return consumer

    async def _start_admin(self) -> AIOKafkaAdminClient:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await start_or_report(admin, self.bootstrap)
        return admin

    async def admin(self) -> AIOKafkaAdminClient:
        """The session's admin client, started on first use."""
        async with self._starting:
            if self._admin is None:
                self._admin = await self._start_admin()
            return self._admin

    async def _drop_admin(self) -> None:
        admin, self._admin = self._admin, None
        if admin is not None:
            with contextlib.suppress(Exception), quiet_kafka_logs():
                await admin.close()

    async def on_a_live_node(
        self, request: Callable[[AIOKafkaAdminClient], Awaitable[T]], what: str
    ) -> T:
        """Await ``request(admin)``, again through a fresh admin client while it meets a node
        that does not answer (see the module); BrokerUnavailable, naming ``what`` was asked,
        when no attempt reached a live node."""
        last: Exception | None = None
        for attempt in range(ADMIN_ATTEMPTS):
            admin = await self.admin()
            try:
                with quiet_kafka_logs():
                    return await request(admin)
            except _NODE_ERRORS as exc:
                last = exc
                await self._drop_admin()
                if attempt + 1 < ADMIN_ATTEMPTS:
                    await asyncio.sleep(ADMIN_BACKOFF.delay(attempt))
        raise BrokerUnavailable(
            f"the Kafka cluster at {self.bootstrap} did not answer {what} "
            f"({type(last).__name__}) in {ADMIN_ATTEMPTS} attempts."
        )

    async def answers(self, timeout_s: float) -> bool:
        """Whether the cluster answers within ``timeout_s``: a bootstrap server starts an admin
        client, and the cluster describes itself (a cluster with a node down still answers)."""
        try:
            with quiet_kafka_logs():
                return await asyncio.wait_for(self._cluster_size(), timeout_s) > 0
        except (BrokerUnavailable, KafkaError, OSError, TimeoutError):
            await self._drop_admin()
            return False

    async def _cluster_size(self) -> int:
        try:
            cluster = await (await self.admin()).describe_cluster()
            return max(1, len(cluster["brokers"]))
        except KafkaError:
            # DescribeCluster met a node that has just died: a fresh admin client starts only
            # if a bootstrap server answers, and then the cluster counts as at least one broker
            await self._drop_admin()
            await self.admin()
            return 1

    async def require_answer(self, timeout_s: float = 5.0) -> None:
        """BrokerUnavailable, in one sentence, unless the cluster answers in ``timeout_s``."""
        if not await self.answers(timeout_s):
            raise BrokerUnavailable(no_broker(self.bootstrap))

    async def topics(self) -> list[str]:
        """Every topic on the cluster, sorted."""
        return sorted(await self.on_a_live_node(lambda a: a.list_topics(), "ListTopics"))

    async def create_topics(
        self, topics: Iterable[str], partitions: int, replication: int | None = None
    ) -> list[str]:
        """Create those of ``topics`` that do not exist, with ``partitions`` partitions and
        ``replication`` replicas (None: the cluster's default, :meth:`default_replication`),
        kept until deleted (:data:`~fraudlab.kafka_io.RUN_TOPIC_CONFIG`); the names created."""
        existing = set(await self.topics())
        wanted = [t for t in dict.fromkeys(topics) if t not in existing]
        if wanted:
            if replication is None:
                replication = await self.default_replication()
            new = [
                NewTopic(t, partitions, replication, topic_configs=RUN_TOPIC_CONFIG) for t in wanted
            ]
            with contextlib.suppress(TopicAlreadyExistsError):
                await self.on_a_live_node(lambda a: a.create_topics(new), "CreateTopics")
        return wanted

    async def default_replication(self) -> int:
        """The cluster's ``default.replication.factor``, as its controller (or first broker) has
        it: 1 on a single broker, 3 on a cluster of ``fraudlab broker up --brokers 3``; 1 when it
        cannot be read. (aiokafka's CreateTopics needs the factor itself: it cannot ask for the
        cluster's default.)"""
        from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

        try:
            cluster = await self.on_a_live_node(lambda a: a.describe_cluster(), "DescribeCluster")
            ids = [b["node_id"] for b in cluster["brokers"]]
            node = cluster.get("controller_id") if cluster.get("controller_id") in ids else ids[0]
            resource = ConfigResource(ConfigResourceType.BROKER, str(node))
            responses = await self.on_a_live_node(
                lambda a: a.describe_configs([resource]), "DescribeConfigs"
            )
            for response in responses:
                for described in response.resources:
                    for entry in described[4]:
                        if entry[0] == "default.replication.factor":
                            return max(1, int(entry[1]))
        except (KafkaError, IndexError, KeyError, TypeError, ValueError):
            pass
        return 1

    async def delete_topics(self, topics: Iterable[str]) -> list[str]:
        """Delete those of ``topics`` that exist; their names."""
        existing = set(await self.topics())
        doomed = [t for t in dict.fromkeys(topics) if t in existing]
        if doomed:
            await self.on_a_live_node(lambda a: a.delete_topics(doomed), "DeleteTopics")
        return doomed

    async def partitions(self, topics: Iterable[str]) -> dict[str, list[int]]:
        """The partitions of those ``topics`` that exist now, by topic (fresh metadata)."""
        wanted = set(topics)
        if not wanted:
            return {}
        # the metadata of every topic: asked for by name, a topic that does not exist would be
        # created by a broker that creates topics on first use (aiokafka's admin client asks
        # for that, and has no option against it)
        described = await self.on_a_live_node(lambda a: a.describe_topics(), "DescribeTopics")
        return {
            t["topic"]: sorted(p["partition"] for p in t["partitions"])
            for t in described
            if t["topic"] in wanted and t["error_code"] == 0 and t["partitions"]
        }

    async def end_offsets(self, topics: Iterable[str]) -> dict[tuple[str, int], int]:
        """The end offset of every partition of those ``topics`` that exist (aiokafka's retries
        unlogged: a broker whose partitions have no leader yet, just started, is waited for)."""
        found = await self.partitions(topics)
        partitions = [TopicPartition(t, p) for t, parts in found.items() for p in parts]
        if not partitions:
            return {}
        async with self._starting:
            if self._metadata is None:
                self._metadata = await self._consumer()
        with quiet_kafka_logs():
            ends = await self._metadata.end_offsets(partitions)
        return {(tp.topic, tp.partition): int(offset) for tp, offset in ends.items()}

    async def send(
        self, topic: str, key: bytes | None, value: bytes, partition: int | None = None
    ) -> tuple[str, int, int]:
        """Send one message and wait for the broker's acknowledgement; (topic, partition,
        offset) of where it landed."""
        async with self._starting:
            if self._producer is None:
                producer = make_producer(self.bootstrap)
                await start_or_report(producer, self.bootstrap)
                self._producer = producer
        sent = await self._producer.send_and_wait(topic, value, key=key, partition=partition)
        return sent.topic, sent.partition, sent.offset

    async def follow(self, topic: str, start: Mapping[int, int] | None = None) -> TopicFollower:
        """A follower of ``topic`` from ``start`` (partition -> offset; the beginning of every
        partition it does not name), closed with the session (see :class:`TopicFollower`)."""
        follower = TopicFollower(self, await self._consumer(), topic, start)
        self._followers.append(follower)
        return follower

    async def read_to_end(
        self, topic: str, start: Mapping[int, int] | None = None
    ) -> list[Message]:
        """Every message ``topic`` holds now from ``start`` (as :meth:`follow` takes it), by
        partition then offset: a follower's first poll, its consumer closed after it; [] when
        the topic does not exist (yet)."""
        follower = TopicFollower(self, await self._consumer(), topic, start)
        try:
            return await follower.poll()
        finally:
            await follower.close()

    async def close(self) -> None:
        """Stop every client of the session."""
        for follower in list(self._followers):
            await follower.close()
        if self._metadata is not None:
            await self._metadata.stop()
            self._metadata = None
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
        await self._drop_admin()


__all__ = [
    "ADMIN_ATTEMPTS",
    "ADMIN_BACKOFF",
    "KafkaSession",
    "Message",
    "TopicFollower",
    "no_broker",
]
