"""The delivery part against a real broker and a real local HTTP server (no Spark: the
fraud-alerts topic is written here as the engine writes it, in window-end order).

- a webhook that fails each alert's first two attempts receives every alert exactly once, in
  window-end order, and the delivery log shows two retries and a send for each; run again, the
  part sends nothing twice;
- a webhook that is down past the last retry leaves every alert in the delivery dead letter with
  its payload, while a Kafka sink beside it receives them all;
- a receiver's refusal (a 4xx) is not retried.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import pytest

from delivery.alerts import alert_id
from delivery.sending import DeliveryStatus, deliver_run
from fraudlab import codec
from fraudlab.blocking_kafka import BlockingKafka
from fraudlab.kafka_io import create_topics, read_to_end
from fraudlab.kafka_session import KafkaSession
from fraudlab.net import free_port
from fraudlab.publisher import Publisher
from fraudlab.records import (
    AlertDelivery,
    AlertedTransaction,
    DeliveryDeadLetter,
    FraudAlerts,
    message_key,
)
from fraudlab.run_events import announce, announce_now, run_event
from fraudlab.settings import KafkaSink, Settings, WebhookSink
from fraudlab.topics import topic_name
from tests.delivery.webhook_receiver import WebhookReceiver

pytestmark = pytest.mark.kafka

T0 = 1_767_571_200  # 2026-01-05T00:00:00Z
# (ts, transaction id, reasons) of the potential frauds, in no particular order
FRAUDS = [
    (T0 + 5, "t-05", "model"),
    (T0 + 3, "t-03", "model,burst"),
    (T0 + 31, "t-31", "burst"),
    (T0 + 72, "t-72", "model"),
    (T0 + 65, "t-65", "model"),
    (T0 + 200, "t-200", "model"),
]


def _windows() -> list[FraudAlerts]:
    """The sliding 2-minute windows every 10 s that hold frauds, in window-end order, each
    listing its frauds sorted as Spark's sort_array does (by transaction id first)."""
    windows = []
    for end in range(T0 + 10, T0 + 340, 10):
        inside = sorted(
            (
                AlertedTransaction(tid, f"s-{tid}", f"c-{tid}", ts, 10.0, -6.2, 106.8, 0.9, why)
                for ts, tid, why in FRAUDS
                if end - 120 <= ts < end
            ),
            key=lambda t: t.transaction_id,
        )
        if inside:
            windows.append(FraudAlerts(end - 120, end, len(inside), tuple(inside)))
    return windows


def _expected(run_id: str) -> list[str]:
    """Alert ids in delivery order: by the first window that lists each, then by event time."""
    first_end = {tid: (ts // 10 + 1) * 10 for ts, tid, _ in FRAUDS}
    ordered = sorted(FRAUDS, key=lambda f: (first_end[f[1]], f[0], f[1]))
    return [alert_id(run_id, tid) for _, tid, _ in ordered]


async def _play_engine(settings: Settings, run_id: str) -> None:
    """Write the run's fraud-alerts topic (partition 0, window-end order) and the engine's end."""
    bootstrap = settings.bootstrap_servers
    alerts_topic = topic_name(run_id, FraudAlerts.STREAM)
    await create_topics(bootstrap, [alerts_topic], 2)
    await create_topics(bootstrap, [topic_name(run_id, "run-events")], 1)
    publisher = Publisher(bootstrap)
    await publisher.start()
    try:
        for window in _windows():
            await publisher.send(
                alerts_topic, message_key(window, run_id), codec.encode(window), None, 0
            )
        await announce(publisher, run_event(run_id, "engine", "finished", {}))
    finally:
        await publisher.close()


def _log(settings: Settings, run_id: str) -> list[AlertDelivery]:
    found = asyncio.run(
        read_to_end(settings.bootstrap_servers, topic_name(run_id, AlertDelivery.STREAM))
    )
    return [codec.decode(AlertDelivery, value) for _, _, value in found]


def _deliver(
    settings: Settings, run_id: str, retry_dead_letters: bool = False
) -> tuple[bool, DeliveryStatus]:
    status = DeliveryStatus()

    async def deliver() -> bool:
        async with KafkaSession(settings.bootstrap_servers) as kafka:
            return await deliver_run(
                kafka,
                settings,
                run_id,
                until_engine_ends=True,
                should_stop=lambda: False,
                status=status,
                retry_dead_letters=retry_dead_letters,
            )

    done = asyncio.run(asyncio.wait_for(deliver(), 120))
    return done, status


def _webhook(url: str, **options: Any) -> WebhookSink:
    return WebhookSink(kind="webhook", name="oncall", url=url, **options)


def test_a_webhook_failing_twice_gets_each_alert_once_in_window_end_order(
    settings: Settings,
) -> None:
    run_id = "deliver-retry"
    asyncio.run(_play_engine(settings, run_id))
    with WebhookReceiver(fail_first=2) as receiver:
        sink = _webhook(receiver.url, attempts=4, backoff_s=0.05, backoff_max_s=0.2)
        ran = settings.model_copy(update={"alert_sinks": (sink,)})
        done, status = _deliver(ran, run_id)
        assert done
        taken = [body["alert_id"] for body in receiver.received.taken]
        assert taken == _expected(run_id)
        assert set(receiver.received.attempts.values()) == {3}
        assert receiver.received.repeats == 0
        first = receiver.received.taken[0]
        assert first["format"] == "fraudlab.alert.v2"
        assert (first["transaction_id"], first["reasons"]) == ("t-03", ["model", "burst"])
        assert (first["window_start"], first["window_end"]) == (T0 + 10 - 120, T0 + 10)
        assert status.sent["oncall"] == len(FRAUDS) and status.retried["oncall"] == 2 * len(FRAUDS)

        log = _log(settings, run_id)
        per_alert = {a: [e.outcome for e in log if e.alert_id == a] for a in taken}
        assert all(outcomes == ["retried", "retried", "sent"] for outcomes in per_alert.values())
        assert [e.detail for e in log[:3]] == ["HTTP 503", "HTTP 503", "HTTP 200"]
        assert all(e.at_ms >= e.reported_ms > 0 for e in log)
        dead = read_to_end(settings.bootstrap_servers, topic_name(run_id, "delivery-dead-letter"))
        assert asyncio.run(dead) == []

        # run again (a restarted part): what the log shows as sent is not sent again
        again_done, again = _deliver(ran, run_id)
        assert again_done and again.skipped["oncall"] == len(FRAUDS)
        assert sum(receiver.received.attempts.values()) == 3 * len(FRAUDS)


def test_a_webhook_down_past_the_last_retry_leaves_every_alert_in_the_dead_letter(
    settings: Settings, topic_factory: Any
) -> None:
    run_id = "deliver-down"
    asyncio.run(_play_engine(settings, run_id))
    down = _webhook(
        f"http://127.0.0.1:{free_port()}/alerts", attempts=3, backoff_s=0.02, timeout_s=2
    )
    queue = KafkaSink(kind="kafka", name="queue", topic=topic_factory(partitions=1))
    ran = settings.model_copy(update={"alert_sinks": (down, queue)})
    done, status = _deliver(ran, run_id)
    assert done
    assert status.failed["oncall"] == len(FRAUDS) and status.sent["oncall"] == 0

    found = asyncio.run(
        read_to_end(settings.bootstrap_servers, topic_name(run_id, "delivery-dead-letter"))
    )
    letters = [codec.decode(DeliveryDeadLetter, value) for _, _, value in found]
    assert [d.alert_id for d in letters] == _expected(run_id)
    assert {(d.sink, d.attempts, d.reason) for d in letters} == {("oncall", 3, "could not connect")}
    assert [json.loads(d.payload)["alert_id"] for d in letters] == _expected(run_id)
    outcomes = Counter((e.sink, e.outcome) for e in _log(settings, run_id))
    assert outcomes == Counter(
        {
            ("oncall", "retried"): 2 * len(FRAUDS),
            ("oncall", "failed"): len(FRAUDS),
            ("queue", "sent"): len(FRAUDS),
        }
    )

    # the Kafka sink beside it took every alert, in order, keyed by its alert id
    found = asyncio.run(read_to_end(settings.bootstrap_servers, queue.topic))
    values = [json.loads(value) for _, _, value in found]
    assert [v["alert_id"] for v in values] == _expected(run_id)


def test_a_refusal_is_dead_lettered_without_retrying_and_sent_again_when_asked(
    settings: Settings,
) -> None:
    run_id = "deliver-refused"
    asyncio.run(_play_engine(settings, run_id))
    with WebhookReceiver(refuse_with=422) as receiver:
        sink = _webhook(receiver.url, attempts=5, backoff_s=0.01)
        ran = settings.model_copy(update={"alert_sinks": (sink,)})
        done, status = _deliver(ran, run_id)
        assert done and status.failed["oncall"] == len(FRAUDS) and status.retried["oncall"] == 0
        log = _log(settings, run_id)
        assert {(e.attempt, e.outcome, e.detail) for e in log} == {
            (1, "failed", "refused: HTTP 422")
        }
        assert sum(receiver.received.attempts.values()) == len(FRAUDS)
        # the receiver fixed: run again, the dead letters stay done; asked to, they are sent
        receiver.refuse_with = None
        _, again = _deliver(ran, run_id)
        assert again.skipped["oncall"] == len(FRAUDS) and receiver.received.taken == []
        _, retried = _deliver(ran, run_id, retry_dead_letters=True)
        assert retried.sent["oncall"] == len(FRAUDS) and retried.waiting["oncall"] == 0
        assert [b["alert_id"] for b in receiver.received.taken] == _expected(run_id)


def test_deliver_without_sinks_says_how_to_name_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Any
) -> None:
    from lab.cli import main

    settings_file = tmp_path / "fraudlab.toml"
    settings_file.write_text("")
    with pytest.raises(SystemExit) as done:
        main(["--settings", str(settings_file), "deliver", "some-run"])
    err = capsys.readouterr().err
    assert done.value.code == 2
    assert err == (
        "fraudlab: the settings name no alert sinks: add an [[alert_sinks]] table (a webhook or "
        "a Kafka topic) to the settings file.\n"
    )


def test_a_run_whose_engine_reported_nothing_ends_the_delivery_at_once(settings: Settings) -> None:
    run_id = "deliver-nothing"
    with BlockingKafka(settings.bootstrap_servers) as kafka:
        ended = run_event(run_id, "engine", "interrupted", {"scored": 0})
        kafka.call(announce_now(kafka.session, 1, ended))
    with WebhookReceiver() as receiver:
        ran = settings.model_copy(update={"alert_sinks": (_webhook(receiver.url),)})
        done, status = _deliver(ran, run_id)
    assert done and status.alerts == 0 and receiver.received.taken == []


def test_deliver_for_a_run_not_on_kafka_is_one_sentence(
    capsys: pytest.CaptureFixture[str], settings: Settings, tmp_path: Any
) -> None:
    from fraudlab.settings import settings_toml
    from lab.cli import main

    hook = _webhook(f"http://127.0.0.1:{free_port()}/alerts")
    settings_file = tmp_path / "fraudlab.toml"
    settings_file.write_text(settings_toml(settings.model_copy(update={"alert_sinks": (hook,)})))
    with pytest.raises(SystemExit) as done:
        main(["--settings", str(settings_file), "deliver", "no-such-run"])
    err = capsys.readouterr().err
    assert done.value.code == 2
    assert err.startswith("fraudlab: run no-such-run is not on Kafka at ")
    assert err.count("\n") == 1
