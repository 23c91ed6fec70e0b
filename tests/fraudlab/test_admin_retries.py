"""Admin requests that meet a node of the cluster that has just died: asked again through a
fresh admin client (fresh metadata) after the backoff policy's wait, in one sentence when no
live node answers (fed with stand-in admin clients; the node-loss fault test meets the real
thing)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import NodeNotReadyError

from fraudlab import kafka_session
from fraudlab.errors import BrokerUnavailable
from fraudlab.kafka_session import ADMIN_ATTEMPTS, ADMIN_BACKOFF, KafkaSession


class _Admin:
    def __init__(self) -> None:
        self.closed = False

    async def close(self) -> None:
        self.closed = True


class _Session(KafkaSession):
    """A session whose admin clients are stand-ins, each one counted."""

    def __init__(self) -> None:
        super().__init__("b:9092")
        self.started: list[_Admin] = []

    async def _start_admin(self) -> Any:
        self.started.append(_Admin())
        return self.started[-1]


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waited: list[float] = []

    async def instantly(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr(kafka_session.asyncio, "sleep", instantly)
    return waited


def _failing(times: int) -> Any:
    calls = {"n": 0}

    async def request(_admin: Any) -> list[str]:
        calls["n"] += 1
        if calls["n"] <= times:
            raise NodeNotReadyError("node 2 is not ready")
        return ["topic"]

    return request, calls


def test_a_request_that_meets_a_dead_node_is_asked_again_through_a_fresh_admin(
    waits: list[float],
) -> None:
    session = _Session()
    request, calls = _failing(2)
    got = asyncio.run(session.on_a_live_node(request, "ListTopics"))
    assert got == ["topic"] and calls["n"] == 3
    # each failed attempt closed its admin client; the third one answered
    assert [a.closed for a in session.started] == [True, True, False]
    assert waits == ADMIN_BACKOFF.delays(2)


def test_no_live_node_in_every_attempt_is_one_sentence(waits: list[float]) -> None:
    session = _Session()
    request, calls = _failing(ADMIN_ATTEMPTS)
    with pytest.raises(BrokerUnavailable) as raised:
        asyncio.run(session.on_a_live_node(request, "ListTopics"))
    assert str(raised.value) == (
        f"the Kafka cluster at b:9092 did not answer ListTopics (NodeNotReadyError) in "
        f"{ADMIN_ATTEMPTS} attempts."
    )
    assert calls["n"] == ADMIN_ATTEMPTS and len(session.started) == ADMIN_ATTEMPTS
    assert all(a.closed for a in session.started)
    # no wait after the last attempt
    assert waits == ADMIN_BACKOFF.delays(ADMIN_ATTEMPTS - 1)
