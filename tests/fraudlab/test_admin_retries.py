"""Admin requests that meet a node of the cluster that has just died: asked again, in one
sentence when no live node answers (fed with a stand-in admin client; the node-loss fault test
meets the real thing)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka.errors import NodeNotReadyError

from fraudlab import kafka_io
from fraudlab.errors import BrokerUnavailable
from fraudlab.kafka_io import ADMIN_ATTEMPTS, on_a_live_node


class _Client:
    def __init__(self) -> None:
        self.refreshed = 0

    async def force_metadata_update(self) -> bool:
        self.refreshed += 1
        return True


class _Admin:
    def __init__(self) -> None:
        self._client = _Client()


@pytest.fixture(autouse=True)
def no_waiting(monkeypatch: pytest.MonkeyPatch) -> None:
    async def instantly(_: float) -> None:
        return None

    monkeypatch.setattr(kafka_io.asyncio, "sleep", instantly)


def _failing(times: int) -> Any:
    calls = {"n": 0}

    async def request() -> list[str]:
        calls["n"] += 1
        if calls["n"] <= times:
            raise NodeNotReadyError("node 2 is not ready")
        return ["topic"]

    return request, calls


def test_a_request_that_meets_a_dead_node_is_asked_again_with_fresh_metadata() -> None:
    admin = _Admin()
    request, calls = _failing(2)
    got = asyncio.run(on_a_live_node(admin, "b:9092", request, "ListTopics"))  # type: ignore[arg-type]
    assert got == ["topic"] and calls["n"] == 3 and admin._client.refreshed == 2


def test_no_live_node_in_every_attempt_is_one_sentence() -> None:
    request, calls = _failing(ADMIN_ATTEMPTS)
    with pytest.raises(BrokerUnavailable) as raised:
        asyncio.run(on_a_live_node(_Admin(), "b:9092", request, "ListTopics"))  # type: ignore[arg-type]
    assert str(raised.value) == (
        f"the Kafka cluster at b:9092 did not answer ListTopics (NodeNotReadyError) in "
        f"{ADMIN_ATTEMPTS} attempts."
    )
    assert calls["n"] == ADMIN_ATTEMPTS
