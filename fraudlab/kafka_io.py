"""Thin wrappers around aiokafka: delivery settings, keys and admin decided in one place.

Producers are idempotent with ``acks=all``; messages carry the record's key
(:func:`fraudlab.records.message_key`) and its JSON value (:mod:`fraudlab.codec`), so the default
murmur2 partitioner puts a key on the same partition in every run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar

from aiokafka import AIOKafkaClient, AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import (
    KafkaConnectionError,
    KafkaError,
    NodeNotReadyError,
    RequestTimedOutError,
    TopicAlreadyExistsError,
)

from fraudlab.errors import BrokerUnavailable
from fraudlab.settings import DELIVERY_TIMEOUT_S, Settings

# aiokafka fails a batch whose partition has had no leader for its request timeout, whatever
# the batch's place in its partition: batches after it may still be delivered, leaving a gap
# no resume could fill. Its timeout is set this much beyond the delivery timeout, so that a
# fraudlab producer always gives up first (fraudlab.publisher), with every batch still queued.
REQUEST_TIMEOUT_MARGIN_S = 30.0
# Backoff between two failed metadata refreshes while no broker answers (doubling up to the cap,
# as Kafka's reconnect.backoff.ms / reconnect.backoff.max.ms do): without it aiokafka's sender
# retries at once, spinning a core and logging each attempt.
METADATA_BACKOFF_S = (0.1, 1.0)


@dataclass(frozen=True)
class ProducerTuning:
    """How a producer batches (chosen by measurement in the producer benchmark) and how long it
    waits for acknowledgements before it gives up (``delivery_timeout_s``, seconds)."""

    linger_ms: int = 20
    max_batch_size: int = 256 * 1024
    # zstd: about twice aiokafka's lz4 rate here, and smaller (tests/benchmarks/bench_producer.py)
    compression_type: str | None = "zstd"
    delivery_timeout_s: float = DELIVERY_TIMEOUT_S


DEFAULT_TUNING = ProducerTuning()


def producer_tuning(settings: Settings) -> ProducerTuning:
    """The default batching, with the delivery timeout of ``settings``."""
    return ProducerTuning(delivery_timeout_s=settings.delivery_timeout_s)


# Messages carry simulated time (a run may start in the past), so time-based retention would
# delete a run as soon as it is written: run topics are kept until deleted on purpose.
RUN_TOPIC_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1"}


_quiet = {"depth": 0, "level": logging.NOTSET}


@contextlib.contextmanager
def quiet_kafka_logs() -> Iterator[None]:
    """Silence aiokafka's connection-retry chatter (we report a down broker ourselves).

    Nestable, and overlapping uses (a publisher's life beside a client's start) end well: the
    level is restored when the last one ends."""
    logger = logging.getLogger("aiokafka")
    if _quiet["depth"] == 0:
        _quiet["level"] = logger.level
        logger.setLevel(logging.CRITICAL)
    _quiet["depth"] += 1
    try:
        yield
    finally:
        _quiet["depth"] -= 1
        if _quiet["depth"] == 0:
            logger.setLevel(_quiet["level"])


def _back_off_metadata_retries(client: AIOKafkaClient) -> None:
    """Make ``client`` wait between failed metadata refreshes (:data:`METADATA_BACKOFF_S`).

    aiokafka's sender awaits ``force_metadata_update()`` whenever a partition has no known
    leader; with no broker answering, the refresh fails at once and the sender loops: measured
    through a 20 s outage, 143,000 refreshes, each logged twice, and a core busy the whole time.
    With the backoff: 24 refreshes, 0.5 s of CPU, and every message still delivered."""
    refresh = client.force_metadata_update
    first, cap = METADATA_BACKOFF_S
    backoff = {"s": first}

    async def refreshed_or_waited(update: asyncio.Future[bool]) -> bool:
        ok = await update
        if ok:
            backoff["s"] = first
        else:
            await asyncio.sleep(backoff["s"])
            backoff["s"] = min(cap, backoff["s"] * 2)
        return ok

    def force_metadata_update() -> asyncio.Future[bool]:
        return asyncio.ensure_future(refreshed_or_waited(refresh()))

    client.force_metadata_update = force_metadata_update


def make_producer(bootstrap: str, tuning: ProducerTuning = DEFAULT_TUNING) -> AIOKafkaProducer:
    """An idempotent, acks=all producer of raw key/value bytes (not started), whose failed
    metadata refreshes back off, and whose batches outlive ``tuning.delivery_timeout_s``."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=tuning.linger_ms,
        max_batch_size=tuning.max_batch_size,
        compression_type=tuning.compression_type,
        request_timeout_ms=int((tuning.delivery_timeout_s + REQUEST_TIMEOUT_MARGIN_S) * 1000),
    )
    _back_off_metadata_retries(producer.client)
    return producer


def make_consumer(
    bootstrap: str, *topics: str, group_id: str | None = None, **options: object
) -> AIOKafkaConsumer:
    """A consumer of raw bytes reading from the earliest offset, committing nothing by itself."""
    return AIOKafkaConsumer(
        *topics,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        **options,
    )


async def start_or_report(
    client: AIOKafkaProducer | AIOKafkaConsumer | AIOKafkaAdminClient, bootstrap: str
) -> None:
    """Start a client; a broker that does not answer becomes one BrokerUnavailable sentence
    (and the client is closed: nothing is left to warn about at exit)."""
    try:
        with quiet_kafka_logs():
            await client.start()
    except (KafkaConnectionError, KafkaError, OSError) as exc:
        with contextlib.suppress(Exception), quiet_kafka_logs():
            if isinstance(client, AIOKafkaAdminClient):
                await client.close()
            else:
                await client.stop()
        raise BrokerUnavailable(
            f"no Kafka broker answers at {bootstrap} ({type(exc).__name__}): "
            "start one with `make kafka-up` or set FRAUDLAB_BOOTSTRAP_SERVERS."
        ) from None


# Attempts of an admin request that met a node that does not answer. aiokafka's admin client
# sends each request to a random node of its metadata, and a node that has just died stays in
# the metadata for seconds (until the controller fences it): each attempt refreshes the metadata
# and may meet a live node. About 12 s in all, beyond a broker's default session timeout (9 s).
ADMIN_ATTEMPTS = 8
T = TypeVar("T")


async def on_a_live_node(
    admin: AIOKafkaAdminClient, bootstrap: str, request: Callable[[], Awaitable[T]], what: str
) -> T:
    """Await ``request()`` (an admin request), again while it meets a node that does not answer;
    BrokerUnavailable, naming ``what`` was asked, when no attempt reached a live node."""
    last: Exception | None = None
    for attempt in range(ADMIN_ATTEMPTS):
        try:
            with quiet_kafka_logs():
                return await request()
        except (NodeNotReadyError, KafkaConnectionError, RequestTimedOutError) as exc:
            last = exc
            with contextlib.suppress(Exception), quiet_kafka_logs():
                await admin._client.force_metadata_update()
            await asyncio.sleep(min(0.25 * 2**attempt, 2.0))
    raise BrokerUnavailable(
        f"the Kafka cluster at {bootstrap} did not answer {what} "
        f"({type(last).__name__}) in {ADMIN_ATTEMPTS} attempts."
    )


async def default_replication(admin: AIOKafkaAdminClient, bootstrap: str = "") -> int:
    """The cluster's ``default.replication.factor``, as its controller (or first broker) has
    it: 1 on a single broker, 3 on a cluster of ``fraudlab broker up --brokers 3``; 1 when it
    cannot be read. (aiokafka's CreateTopics needs the factor itself: it cannot ask for the
    cluster's default.)"""
    from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

    where = bootstrap or "the bootstrap servers"
    try:
        cluster = await on_a_live_node(admin, where, admin.describe_cluster, "DescribeCluster")
        ids = [b["node_id"] for b in cluster["brokers"]]
        node = cluster.get("controller_id") if cluster.get("controller_id") in ids else ids[0]
        resource = ConfigResource(ConfigResourceType.BROKER, str(node))
        responses = await on_a_live_node(
            admin, where, lambda: admin.describe_configs([resource]), "DescribeConfigs"
        )
        for response in responses:
            for resource in response.resources:
                for entry in resource[4]:
                    if entry[0] == "default.replication.factor":
                        return max(1, int(entry[1]))
    except (KafkaError, IndexError, KeyError, TypeError, ValueError):
        pass
    return 1


async def create_topics(
    bootstrap: str, topics: Iterable[str], partitions: int, replication: int | None = None
) -> list[str]:
    """Create the topics that do not exist yet, with ``replication`` replicas (None: the
    cluster's default, :func:`default_replication`); the names it created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await start_or_report(admin, bootstrap)
    try:
        return await create_missing_topics(admin, bootstrap, topics, partitions, replication)
    finally:
        await admin.close()


async def create_missing_topics(
    admin: AIOKafkaAdminClient,
    bootstrap: str,
    topics: Iterable[str],
    partitions: int,
    replication: int | None = None,
) -> list[str]:
    """:func:`create_topics` through an admin client that is started already."""
    existing = set(await on_a_live_node(admin, bootstrap, admin.list_topics, "ListTopics"))
    wanted = [t for t in topics if t not in existing]
    if wanted:
        if replication is None:
            replication = await default_replication(admin, bootstrap)
        new = [NewTopic(t, partitions, replication, topic_configs=RUN_TOPIC_CONFIG) for t in wanted]
        with contextlib.suppress(TopicAlreadyExistsError):
            await on_a_live_node(admin, bootstrap, lambda: admin.create_topics(new), "CreateTopics")
    return wanted


async def list_topics(bootstrap: str) -> list[str]:
    """Every topic name on the cluster, sorted."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await start_or_report(admin, bootstrap)
    try:
        return sorted(await on_a_live_node(admin, bootstrap, admin.list_topics, "ListTopics"))
    finally:
        await admin.close()


async def delete_topics(bootstrap: str, topics: Iterable[str]) -> None:
    """Delete the given topics (those that exist)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await start_or_report(admin, bootstrap)
    try:
        existing = set(await on_a_live_node(admin, bootstrap, admin.list_topics, "ListTopics"))
        doomed = [t for t in topics if t in existing]
        if doomed:
            await on_a_live_node(
                admin, bootstrap, lambda: admin.delete_topics(doomed), "DeleteTopics"
            )
    finally:
        await admin.close()


async def end_offsets(bootstrap: str, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    """The end offset of every partition of ``topics`` (aiokafka's retries unlogged: a broker
    whose partitions have no leader yet, just started, is waited for)."""
    from aiokafka import TopicPartition

    consumer = make_consumer(bootstrap)
    await start_or_report(consumer, bootstrap)
    try:
        with quiet_kafka_logs():
            known = await existing_partitions(consumer, topics)
            partitions = [TopicPartition(t, p) for t, parts in known.items() for p in parts]
            ends = await consumer.end_offsets(partitions)
            return {(tp.topic, tp.partition): off for tp, off in ends.items()}
    finally:
        await consumer.stop()


async def existing_partitions(
    consumer: AIOKafkaConsumer, topics: Iterable[str]
) -> dict[str, list[int]]:
    """The partitions of those ``topics`` that exist now, by topic, from fresh cluster metadata."""
    # the consumer's own metadata covers only topics it already knows; ask for all of them
    cluster = await consumer._client.fetch_all_metadata()
    found = {t: cluster.partitions_for_topic(t) for t in topics}
    return {t: sorted(parts) for t, parts in found.items() if parts}


async def read_to_end(bootstrap: str, topic: str) -> list[tuple[int, int, bytes]]:
    """(partition, offset, value) of every message ``topic`` holds now, up to its end offsets of
    the moment, by partition then offset; [] when the topic does not exist (yet). Messages
    without a value are left out."""
    return [
        (partition, offset, value)
        for partition, offset, _, value in await _read_messages(bootstrap, topic)
        if value is not None
    ]


async def _read_messages(
    bootstrap: str, topic: str
) -> list[tuple[int, int, bytes | None, bytes | None]]:
    from aiokafka import TopicPartition

    consumer = make_consumer(bootstrap)
    await start_or_report(consumer, bootstrap)
    try:
        with quiet_kafka_logs():
            known = await existing_partitions(consumer, [topic])
            partitions = [TopicPartition(topic, p) for p in known.get(topic, [])]
            if not partitions:
                return []
            consumer.assign(partitions)
            ends = await consumer.end_offsets(partitions)
            await consumer.seek_to_beginning(*partitions)
            pending = {tp for tp in partitions if ends[tp] > 0}
            found: list[tuple[int, int, bytes | None, bytes | None]] = []
            while pending:
                batches = await consumer.getmany(*pending, timeout_ms=1_000)
                for tp, messages in batches.items():
                    for m in messages:
                        if m.offset < ends[tp]:
                            found.append((tp.partition, m.offset, m.key, m.value))
                        if m.offset >= ends[tp] - 1:
                            pending.discard(tp)
            return sorted(found, key=lambda f: (f[0], f[1]))
    finally:
        await consumer.stop()
