"""The one shim over aiokafka's internals (fraudlab.kafka_io.back_off_metadata_refreshes): what
it wraps must still be there and still be called by the producer's sender, and it must wait
by the backoff policy between failed refreshes.

When aiokafka changes the method wrapped, or stops calling it from the sender, the first two
tests fail: read the new release's sender, then keep, change or drop the shim before raising
the ``aiokafka<0.15`` pin.
"""

from __future__ import annotations

import asyncio
import inspect

import pytest
from aiokafka import AIOKafkaClient
from aiokafka.producer.sender import Sender

from fraudlab import kafka_io
from fraudlab.kafka_io import METADATA_BACKOFF, back_off_metadata_refreshes, make_producer
from fraudlab.net import free_port


def test_aiokafka_still_has_the_refresh_the_shim_wraps() -> None:
    refresh = AIOKafkaClient.force_metadata_update
    assert list(inspect.signature(refresh).parameters) == ["self"], (
        "AIOKafkaClient.force_metadata_update takes other arguments now: see the shim"
    )
    assert not inspect.iscoroutinefunction(refresh), (
        "AIOKafkaClient.force_metadata_update is a coroutine function now (the shim returns a "
        "future from a plain call)"
    )


def test_the_sender_still_refreshes_without_a_wait_of_its_own() -> None:
    routine = inspect.getsource(Sender._sender_routine)
    assert "self.client.force_metadata_update()" in routine, (
        "aiokafka's sender no longer refreshes metadata through the client's "
        "force_metadata_update: the shim may be wrapping nothing (see its docstring)"
    )


class _Client:
    """A client whose refreshes answer, in turn, as ``answers`` says."""

    def __init__(self, answers: list[bool]) -> None:
        self.answers = answers

    def force_metadata_update(self) -> asyncio.Future[bool]:
        done = asyncio.get_running_loop().create_future()
        done.set_result(self.answers.pop(0))
        return done


def test_failed_refreshes_wait_by_the_policy_and_a_success_starts_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waited: list[float] = []

    async def recorded(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr(kafka_io.asyncio, "sleep", recorded)
    answers = [False, False, False, True, False]
    client = _Client(list(answers))
    back_off_metadata_refreshes(client)  # type: ignore[arg-type]

    async def refresh_all() -> list[bool]:
        return [await client.force_metadata_update() for _ in answers]

    assert asyncio.run(refresh_all()) == answers
    assert waited == [*METADATA_BACKOFF.delays(3), METADATA_BACKOFF.delay(0)]


async def test_every_producer_gets_the_shim() -> None:
    producer = make_producer(f"127.0.0.1:{free_port()}")
    try:
        refresh = producer.client.force_metadata_update
        assert "back_off_metadata_refreshes" in refresh.__qualname__
    finally:
        await producer.stop()
