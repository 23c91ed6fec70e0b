"""The process's Kafka session for code that is not a coroutine (the engine's control loop, a
supervisor, a command's checks, a notebook): :class:`BlockingKafka` runs a
:class:`~fraudlab.kafka_session.KafkaSession`'s event loop on a thread of its own, entered once
for the process, and each call waits for its answer, so no call opens clients of its own or an
event loop of its own.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Coroutine, Iterable, Mapping
from typing import Any, TypeVar

from fraudlab.errors import BrokerUnavailable
from fraudlab.kafka_session import KafkaSession, Message, TopicFollower

__all__ = ["BlockingFollower", "BlockingKafka"]

T = TypeVar("T")


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

    # each method is the session's method of the same name (see :class:`KafkaSession`)

    def answers(self, timeout_s: float = 2.0) -> bool:
        return self.call(self.session.answers(timeout_s))

    def require_answer(self, timeout_s: float = 5.0) -> None:
        self.call(self.session.require_answer(timeout_s))

    def topics(self) -> list[str]:
        return self.call(self.session.topics())

    def create_topics(self, topics: Iterable[str], partitions: int) -> list[str]:
        return self.call(self.session.create_topics(list(topics), partitions))

    def delete_topics(self, topics: Iterable[str]) -> list[str]:
        return self.call(self.session.delete_topics(list(topics)))

    def partitions(self, topics: Iterable[str]) -> dict[str, list[int]]:
        return self.call(self.session.partitions(list(topics)))

    def end_offsets(self, topics: Iterable[str]) -> dict[tuple[str, int], int]:
        return self.call(self.session.end_offsets(list(topics)))

    def send(self, topic: str, key: bytes | None, value: bytes) -> tuple[str, int, int]:
        return self.call(self.session.send(topic, key, value))

    def follow(self, topic: str, start: Mapping[int, int] | None = None) -> BlockingFollower:
        return BlockingFollower(self, self.call(self.session.follow(topic, start)))

    def read_to_end(self, topic: str, start: Mapping[int, int] | None = None) -> list[Message]:
        return self.call(self.session.read_to_end(topic, start))

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
