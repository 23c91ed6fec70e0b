"""Reading a run's topics back in tests: raw messages, decoded results, the alert set."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from fraudlab.blocking_kafka import BlockingKafka
from fraudlab.kafka_io import end_offsets, make_consumer, start_or_report
from fraudlab.records import RunEvent
from fraudlab.run_events import read_run_events
from fraudlab.settings import Settings
from fraudlab.topics import topic_name


async def topic_values(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes]]:
    """Every (key, value) of ``topic``, partition by partition in offset order."""
    total = sum((await end_offsets(bootstrap, [topic])).values())
    consumer = make_consumer(bootstrap, topic)
    await start_or_report(consumer, bootstrap)
    got: list[tuple[bytes | None, bytes]] = []
    try:
        while len(got) < total:
            batch = await consumer.getmany(timeout_ms=5000)
            assert batch, f"{topic}: {len(got)} of {total} within 5 s"
            for messages in batch.values():
                got.extend((m.key, m.value) for m in messages)
    finally:
        await consumer.stop()
    return got


async def partition_logs(bootstrap: str, topic: str) -> dict[int, list[tuple[bytes, bytes]]]:
    """Each partition's (key, value) messages of ``topic``, in offset order (keyless ones
    have the key b"")."""
    logs: dict[int, list[tuple[bytes, bytes]]] = {}
    for partition, _offset, key, value in await read_with_keys(bootstrap, topic):
        logs.setdefault(partition, []).append((key, value))
    return logs


async def read_with_keys(bootstrap: str, topic: str) -> list[tuple[int, int, bytes, bytes]]:
    """(partition, offset, key, value) of every message of ``topic``, by partition and offset."""
    total = sum((await end_offsets(bootstrap, [topic])).values())
    consumer = make_consumer(bootstrap, topic)
    await start_or_report(consumer, bootstrap)
    got: list[tuple[int, int, bytes, bytes]] = []
    try:
        while len(got) < total:
            batch = await consumer.getmany(timeout_ms=5000)
            assert batch, f"{topic}: {len(got)} of {total} within 5 s"
            for tp, messages in batch.items():
                got.extend((tp.partition, m.offset, m.key or b"", m.value) for m in messages)
    finally:
        await consumer.stop()
    return sorted(got)


def run_events(bootstrap: str, run_id: str) -> list[RunEvent]:
    """Every run-event of ``run_id`` the broker holds now, in log order."""
    with BlockingKafka(bootstrap) as kafka:
        return kafka.call(read_run_events(kafka.session, run_id))


RESULTS = ("scores", "fraud-alerts", "top-products", "inventory-forecast", "dead-letter")


def read(bootstrap: str, run_id: str, stream: str) -> list[dict[str, Any]]:
    """Every value of a run's stream, decoded; results deduplicated by key (a re-emission)."""
    by_key: dict[bytes | None, dict[str, Any]] = {}
    rows = []
    for key, value in asyncio.run(topic_values(bootstrap, topic_name(run_id, stream))):
        try:
            decoded = orjson.loads(value)
        except orjson.JSONDecodeError:
            continue
        if key is None or stream not in RESULTS:
            rows.append(decoded)
        else:
            by_key.setdefault(key, decoded)
    return rows + list(by_key.values())


def forecasts(bootstrap: str, run_id: str) -> dict[tuple[int, str], bytes]:
    """Each inventory-forecast row by (window start, product), as the bytes of its JSON; a
    (window, product) the topic holds twice fails the test (a window is written once per run)."""
    rows: dict[tuple[int, str], bytes] = {}
    for _, value in asyncio.run(topic_values(bootstrap, topic_name(run_id, "inventory-forecast"))):
        row = orjson.loads(value)
        where = (row["window_start"], row["product_id"])
        assert where not in rows, f"run {run_id} wrote the forecast of {where} twice"
        rows[where] = orjson.dumps(row, option=orjson.OPT_SORT_KEYS)
    return rows


def alert_set(bootstrap: str, run_id: str) -> set[tuple[int, str]]:
    """(window start, transaction id) of every potential fraud reported."""
    return {
        (a["window_start"], t["transaction_id"])
        for a in read(bootstrap, run_id, "fraud-alerts")
        for t in a["transactions"]
    }


def archived_alert_set(settings: Settings, run_id: str) -> set[tuple[int, str]]:
    """Archive the run as it stands now (into ``settings.archive_dir``); the (window start,
    transaction id) pairs of its archived fraud alerts."""
    import duckdb

    from archive.archiver import ArchiveOptions, Mode, archive_run

    result = asyncio.run(archive_run(settings, run_id, ArchiveOptions(mode=Mode.SNAPSHOT)))
    con = duckdb.connect(str(result.path), read_only=True)
    try:
        rows = con.execute(
            "SELECT f.window_start, a.transaction_id "
            "FROM fraud_alerts AS f, unnest(f.transactions) AS u(a)"
        ).fetchall()
    finally:
        con.close()
    return {(int(w), str(t)) for w, t in rows}
