"""Where alerts go: a webhook (an HTTP POST of the alert's JSON) or a Kafka topic.

A sink is configured in the settings (:class:`fraudlab.settings.WebhookSink`,
:class:`fraudlab.settings.KafkaSink`; ``[[alert_sinks]]`` tables) and sends one alert per
attempt. :mod:`delivery.sending` decides when to try again (after the sink's backoff,
:class:`fraudlab.backoff.Backoff`); a sink only says how an attempt went.

- **webhook**: ``POST <url>`` with the payload of :mod:`delivery.alerts` as its JSON body, and the
  headers ``Idempotency-Key: <alert_id>`` (the same on every attempt, so that a receiver can
  drop a repeat after a timed-out attempt that did reach it) and ``Content-Type:
  application/json``. Any 2xx is taken; 408, 429 and 5xx, a timeout or a failed connection may
  pass on another attempt; any other status is a refusal, not tried again.
- **kafka**: the payload as the message value (UTF-8 JSON) and the alert id as its key, with
  acks=all and an idempotent producer; the topic is created (one partition, so that alerts keep
  their order) when it does not exist.

>>> retryable_status(503), retryable_status(429), retryable_status(404)
(True, True, False)
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Protocol

import httpx
import orjson
from aiokafka.errors import KafkaError

from delivery.alerts import Alert
from fraudlab.errors import FraudlabError
from fraudlab.kafka_io import create_topics, make_producer, start_or_report
from fraudlab.settings import AlertSink, KafkaSink, WebhookSink
from fraudlab.version import code_version

__all__ = ["Attempt", "Sender", "retryable_status", "sender_for"]


@dataclass(frozen=True)
class Attempt:
    """How one attempt went: taken (``ok``), or not, and then whether another attempt may
    pass (``retry``); ``detail`` in a few words ("HTTP 503", "timed out after 5 s")."""

    ok: bool
    retry: bool
    detail: str


def retryable_status(status: int) -> bool:
    """Whether an HTTP status that is not a success may pass on another attempt: 408 Request
    Timeout, 429 Too Many Requests and the 5xx server errors (RFC 9110, section 15)."""
    return status in (408, 429) or status >= 500


class Sender(Protocol):
    """One configured sink, ready to send."""

    @property
    def config(self) -> AlertSink: ...

    async def start(self) -> None: ...

    async def send(self, alert: Alert) -> Attempt: ...

    async def close(self) -> None: ...


class WebhookSender:
    """A webhook sink: one HTTP client, kept open, one POST per attempt."""

    def __init__(self, config: WebhookSink) -> None:
        self.config = config
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(self.config.timeout_s),
            headers={"User-Agent": f"fraudlab/{code_version()}"},
        )

    async def send(self, alert: Alert) -> Attempt:
        assert self._client is not None
        body = orjson.dumps(alert.payload())
        headers = {"Content-Type": "application/json", "Idempotency-Key": alert.alert_id}
        try:
            response = await self._client.post(self.config.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return Attempt(False, True, f"timed out after {self.config.timeout_s:g} s")
        except httpx.ConnectError:
            return Attempt(False, True, "could not connect")
        except httpx.HTTPError as exc:
            return Attempt(False, True, type(exc).__name__)
        status = response.status_code
        if 200 <= status < 300:
            return Attempt(True, False, f"HTTP {status}")
        return Attempt(False, retryable_status(status), f"HTTP {status}")

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()


class KafkaSender:
    """A Kafka topic sink: one idempotent producer, one acknowledged message per attempt."""

    def __init__(self, config: KafkaSink, lab_bootstrap: str, timeout_s: float) -> None:
        self.config = config
        self.bootstrap = config.bootstrap_servers or lab_bootstrap
        self.timeout_s = timeout_s
        self._producer = make_producer(self.bootstrap)

    async def start(self) -> None:
        try:
            await create_topics(self.bootstrap, [self.config.topic], 1)
            await start_or_report(self._producer, self.bootstrap)
        except FraudlabError:
            await self._producer.stop()
            raise FraudlabError(f"no Kafka broker answers at {self.bootstrap}") from None

    async def send(self, alert: Alert) -> Attempt:
        value = orjson.dumps(alert.payload())
        try:
            await asyncio.wait_for(
                self._producer.send_and_wait(
                    self.config.topic, value, key=alert.alert_id.encode(), partition=0
                ),
                self.timeout_s,
            )
        except TimeoutError:
            return Attempt(False, True, f"not acknowledged within {self.timeout_s:g} s")
        except KafkaError as exc:
            return Attempt(False, True, type(exc).__name__)
        return Attempt(True, False, "acknowledged")

    async def close(self) -> None:
        await self._producer.stop()


def sender_for(config: AlertSink, lab_bootstrap: str, kafka_timeout_s: float) -> Sender:
    """The sender of a configured sink."""
    if isinstance(config, WebhookSink):
        return WebhookSender(config)
    return KafkaSender(config, lab_bootstrap, kafka_timeout_s)
