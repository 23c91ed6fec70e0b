"""The process's Kafka session against a real broker: topics, partitions and end offsets through
the admin client's public API, the follower that keeps its place (the one consumer loop), and a
cluster that does not answer in one sentence."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import pytest

from fraudlab.blocking_kafka import BlockingKafka
from fraudlab.errors import BrokerUnavailable
from fraudlab.kafka_session import KafkaSession
from fraudlab.net import free_port

pytestmark = pytest.mark.kafka


async def test_topics_are_created_described_and_deleted(bootstrap: str) -> None:
    name = f"test.session.{uuid.uuid4().hex[:8]}"
    async with KafkaSession(bootstrap) as kafka:
        assert await kafka.partitions([name]) == {}
        assert await kafka.create_topics([name, name], 3) == [name]
        assert await kafka.create_topics([name], 3) == []
        assert name in await kafka.topics()
        assert await kafka.partitions([name, "test.session.none"]) == {name: [0, 1, 2]}
        assert await kafka.end_offsets([name]) == {(name, p): 0 for p in range(3)}
        assert await kafka.delete_topics([name, "test.session.none"]) == [name]


async def test_a_follower_keeps_its_place(
    bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory(partitions=2)
    async with KafkaSession(bootstrap) as kafka:
        follower = await kafka.follow(topic)
        assert await follower.poll() == []
        for i in range(6):
            await kafka.send(topic, None, f"a{i}".encode(), partition=i % 2)
        first = await follower.poll()
        assert [(m.partition, m.value) for m in first] == [
            (0, b"a0"),
            (0, b"a2"),
            (0, b"a4"),
            (1, b"a1"),
            (1, b"a3"),
            (1, b"a5"),
        ]
        assert await follower.poll() == []
        await kafka.send(topic, b"k", b"b0", partition=1)
        (later,) = await follower.poll()
        assert (later.partition, later.offset, later.key, later.value) == (1, 3, b"k", b"b0")
        # a whole read from where each partition's last message is
        last = await kafka.read_to_end(topic, {0: 2, 1: 3})
        assert [m.value for m in last] == [b"a4", b"b0"]


async def test_what_arrives_while_a_follower_polls_is_read_once(
    bootstrap: str, topic_factory: Callable[..., str]
) -> None:
    topic = topic_factory(partitions=1)
    sent = [f"m{i}".encode() for i in range(300)]
    async with KafkaSession(bootstrap) as kafka:
        follower = await kafka.follow(topic)

        async def send_all() -> None:
            for value in sent:
                await kafka.send(topic, None, value, partition=0)

        sending = asyncio.create_task(send_all())
        read: list[bytes | None] = []
        while not sending.done():
            read.extend(m.value for m in await follower.poll())
        await sending
        read.extend(m.value for m in await follower.poll())
    assert read == sent


async def test_a_follower_picks_up_a_topic_once_it_exists(bootstrap: str) -> None:
    name = f"test.session.later.{uuid.uuid4().hex[:8]}"
    async with KafkaSession(bootstrap) as kafka:
        follower = await kafka.follow(name)
        assert await follower.poll() == []
        await kafka.create_topics([name], 1)
        await kafka.send(name, None, b"first", partition=0)
        assert [m.value for m in await follower.poll()] == [b"first"]
        await kafka.delete_topics([name])


def test_a_blocking_session_answers_or_says_in_one_sentence_that_nothing_does(
    bootstrap: str,
) -> None:
    with BlockingKafka(bootstrap) as kafka:
        assert kafka.answers(5.0)
        kafka.require_answer()
    nowhere = f"127.0.0.1:{free_port()}"
    with BlockingKafka(nowhere) as kafka:
        assert not kafka.answers(2.0)
        with pytest.raises(BrokerUnavailable) as raised:
            kafka.require_answer(2.0)
    assert str(raised.value) == (
        f"no Kafka broker answers at {nowhere}: start one with `make kafka-up` "
        "or set FRAUDLAB_BOOTSTRAP_SERVERS."
    )
