"""Thin wrappers around aiokafka: delivery settings, keys and client construction decided in one
place.

Producers are idempotent with ``acks=all``; messages carry the record's key
(:func:`fraudlab.records.message_key`) and its JSON value (:mod:`fraudlab.codec`), so the default
murmur2 partitioner puts a key on the same partition in every run.

A process talks to Kafka through one :class:`fraudlab.kafka_session.KafkaSession`. The module's
topic functions (:func:`create_topics`, :func:`list_topics`, :func:`delete_topics`,
:func:`end_offsets`, :func:`read_to_end`) are one-shot wrappers over such a session, for code that
asks one question and holds no session: each opens its own clients and closes them.

The one place fraudlab reaches past aiokafka's public API is :func:`back_off_metadata_refreshes`,
with its reason and the test that guards it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from aiokafka import AIOKafkaClient, AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaConnectionError, KafkaError

from fraudlab.backoff import Backoff
from fraudlab.errors import BrokerUnavailable
from fraudlab.settings import DELIVERY_TIMEOUT_S, Settings

# aiokafka fails a batch whose partition has had no leader for its request timeout, whatever
# the batch's place in its partition: batches after it may still be delivered, leaving a gap
# no resume could fill. Its timeout is set this much beyond the delivery timeout, so that a
# fraudlab producer always gives up first (fraudlab.publisher), with every batch still queued.
REQUEST_TIMEOUT_MARGIN_S = 30.0
# Backoff between two failed metadata refreshes of a producer while no broker answers: without
# it aiokafka's sender retries at once, spinning a core and logging each attempt.
METADATA_BACKOFF = Backoff(0.1, 1.0)


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


def back_off_metadata_refreshes(client: AIOKafkaClient, policy: Backoff = METADATA_BACKOFF) -> None:
    """Make ``client`` wait between failed metadata refreshes, by ``policy``: after the n-th
    failure in a row a refresh answers only once ``policy.delay(n - 1)`` seconds have passed;
    a refresh that succeeds starts the count again.

    The one shim over aiokafka's internals in fraudlab, and why. aiokafka's sender (as read in
    0.14: ``Sender._sender_routine`` in ``aiokafka/producer/sender.py``) awaits
    ``client.force_metadata_update()`` whenever a partition has no known leader, with no wait of
    its own, and aiokafka has no setting for one (Kafka's Java client waits ``retry.backoff.ms``
    there). With no broker answering, the refresh fails at once and the sender loops: measured
    through a 20 s outage, 143,000 refreshes, each logged twice, and a core busy the whole time;
    with the backoff, 24 refreshes, 0.5 s of CPU, and every message still delivered. The shim
    replaces that one method on the producer's own client, keeping its contract (a call returns
    a future of whether the metadata was updated).

    ``tests/fraudlab/test_metadata_backoff.py`` fails loudly when aiokafka changes the method
    wrapped or stops calling it from the sender. The ``aiokafka<0.15`` pin in pyproject.toml is
    raised only after that test passes on the new release (or the release waits between
    refreshes by itself and the shim goes).
    """
    refresh = client.force_metadata_update
    failures = 0

    async def refreshed_or_waited(update: asyncio.Future[bool]) -> bool:
        nonlocal failures
        ok = await update
        if ok:
            failures = 0
        else:
            await asyncio.sleep(policy.delay(failures))
            failures += 1
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
    back_off_metadata_refreshes(producer.client)
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
    """Start a client; a broker that does not answer becomes one BrokerUnavailable sentence.
    A client that did not start (that error, or a start cancelled) is closed: nothing is left
    to warn about at exit."""
    try:
        with quiet_kafka_logs():
            await client.start()
    except BaseException as exc:
        with contextlib.suppress(Exception), quiet_kafka_logs():
            if isinstance(client, AIOKafkaAdminClient):
                await client.close()
            else:
                await client.stop()
        if not isinstance(exc, KafkaConnectionError | KafkaError | OSError):
            raise
        raise BrokerUnavailable(
            f"no Kafka broker answers at {bootstrap} ({type(exc).__name__}): "
            "start one with `make kafka-up` or set FRAUDLAB_BOOTSTRAP_SERVERS."
        ) from None


# ---- one-shot wrappers over a session (they import it where they are called: the session is
# built on this module) -------------------------------------------------------------------------


async def create_topics(
    bootstrap: str, topics: Iterable[str], partitions: int, replication: int | None = None
) -> list[str]:
    """One-shot :meth:`~fraudlab.kafka_session.KafkaSession.create_topics`: the topics that did
    not exist and were created."""
    from fraudlab.kafka_session import KafkaSession

    async with KafkaSession(bootstrap) as kafka:
        return await kafka.create_topics(topics, partitions, replication)


async def list_topics(bootstrap: str) -> list[str]:
    """One-shot :meth:`~fraudlab.kafka_session.KafkaSession.topics`: every topic, sorted."""
    from fraudlab.kafka_session import KafkaSession

    async with KafkaSession(bootstrap) as kafka:
        return await kafka.topics()


async def delete_topics(bootstrap: str, topics: Iterable[str]) -> None:
    """One-shot :meth:`~fraudlab.kafka_session.KafkaSession.delete_topics`."""
    from fraudlab.kafka_session import KafkaSession

    async with KafkaSession(bootstrap) as kafka:
        await kafka.delete_topics(topics)


async def end_offsets(bootstrap: str, topics: Iterable[str]) -> dict[tuple[str, int], int]:
    """One-shot :meth:`~fraudlab.kafka_session.KafkaSession.end_offsets`: (topic, partition)
    -> end offset, for the partitions of those ``topics`` that exist."""
    from fraudlab.kafka_session import KafkaSession

    async with KafkaSession(bootstrap) as kafka:
        return await kafka.end_offsets(topics)


async def read_to_end(bootstrap: str, topic: str) -> list[tuple[int, int, bytes]]:
    """One-shot read of every message ``topic`` holds now (see
    :meth:`~fraudlab.kafka_session.KafkaSession.read_to_end`), as (partition, offset, value) by
    partition then offset; [] when the topic does not exist (yet). Messages without a value
    are left out."""
    from fraudlab.kafka_session import KafkaSession

    async with KafkaSession(bootstrap) as kafka:
        found = await kafka.read_to_end(topic)
    return [(m.partition, m.offset, m.value) for m in found if m.value is not None]
