"""Streaming assignment-layout CSV files to Kafka: ``fraudlab produce-csv``.

The batching rule is :mod:`simulator.csv_batches`; this module reads the files, paces one
batch per interval against the wall clock (or sends them back to back with ``fast``), and
publishes rows as JSON with every field as its original string and an integer ``ts``. With
``message_format="batch"`` each batch is one JSON array per topic, as the assignment's consumers
read it. The static datasets (customers, categories, products, sessions) travel with the run,
and fraud_transaction.csv, when present, becomes the run's truth.
"""

from __future__ import annotations

import csv
import random
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Literal

import orjson

from fraudlab.errors import UsageError
from fraudlab.kafka_io import create_topics
from fraudlab.publisher import Publisher
from fraudlab.records import Category, Customer, CustomerSession, Product, Record
from fraudlab.topics import topic_name
from simulator.csv_batches import BatchRule, CsvBatch, Row, plan_batches
from simulator.pacing import Pacer, wall_epoch, wall_seconds
from simulator.producer import ProduceReport

MessageFormat = Literal["record", "batch"]
ASSIGNMENT_RULE = BatchRule()
REQUIRED = ("browsing_behaviour.csv", "transactions.csv")
STATIC_FILES: dict[str, type[Record]] = {
    "customer.csv": Customer,
    "category.csv": Category,
    "product.csv": Product,
    "customer_session.csv": CustomerSession,
}


def _rows(stack: ExitStack, path: Path) -> Iterator[dict[str, str]]:
    handle = stack.enter_context(path.open(newline="", encoding="utf-8"))
    reader = csv.DictReader(handle)
    if not reader.fieldnames:
        raise UsageError(f"{path} has no header row.")
    return reader


def check_dataset(data_dir: Path) -> None:
    """A UsageError naming the first required file that is missing or lacks a needed column."""
    if not data_dir.is_dir():
        raise UsageError(f"{data_dir} is not a folder of assignment CSV files.")
    needed = {
        "browsing_behaviour.csv": ("session_id", "event_time"),
        "transactions.csv": ("created_at", "transaction_id"),
    }
    for name in REQUIRED:
        path = data_dir / name
        if not path.is_file():
            raise UsageError(f"{path} is missing: produce-csv needs {' and '.join(REQUIRED)}.")
        with path.open(newline="", encoding="utf-8") as handle:
            header = next(csv.reader(handle), [])
        for column in needed[name]:
            if column not in header:
                raise UsageError(f"{path}: the header lacks the column {column!r}.")


def _key(row: Row, column: str) -> bytes:
    return str(row.get(column, "")).encode()


async def produce_csv(
    data_dir: Path,
    run_id: str,
    bootstrap: str,
    partitions: int,
    *,
    rule: BatchRule = ASSIGNMENT_RULE,
    message_format: MessageFormat = "record",
    seed: int = 0,
    first_ts: int | None = None,
    fast: bool = False,
    progress: Callable[[CsvBatch], None] | None = None,
) -> ProduceReport:
    """Stream the dataset in ``data_dir`` to the run's topics, one batch per interval."""
    check_dataset(data_dir)
    start_ts = int(wall_epoch()) if first_ts is None else first_ts
    streams = ["browsing", "transactions", "truth", *(r.STREAM for r in STATIC_FILES.values())]
    topics = {s: topic_name(run_id, s) for s in streams}
    await create_topics(bootstrap, topics.values(), partitions)
    publisher = Publisher(bootstrap)
    await publisher.start()
    started = wall_seconds()
    try:
        with ExitStack() as stack:
            sessions: dict[str, str] = {}
            for name, record in STATIC_FILES.items():
                path = data_dir / name
                if not path.is_file():
                    continue
                for row in _rows(stack, path):
                    if record is CustomerSession:
                        sessions[row["session_id"]] = row["customer_id"]
                    await _publish_rows(
                        publisher,
                        topics[record.STREAM],
                        [{**row, "ts": start_ts}],
                        record.KEY[0],
                        "record",
                    )
            truth = _fraud_labels(data_dir / "fraud_transaction.csv")
            pacer = Pacer(None if fast else 1.0)
            batches = plan_batches(
                _rows(stack, data_dir / "browsing_behaviour.csv"),
                _rows(stack, data_dir / "transactions.csv"),
                sessions,
                rule,
                start_ts,
                random.Random(f"{seed}:csv-batches"),
            )
            for batch in batches:
                await pacer.wait_until(batch.number * rule.interval_s)
                await _publish_rows(
                    publisher,
                    topics["browsing"],
                    batch.browsing,
                    "customer_id",
                    message_format,
                    batch.number,
                )
                await _publish_rows(
                    publisher,
                    topics["transactions"],
                    batch.transactions,
                    "customer_id",
                    message_format,
                    batch.number,
                )
                if truth is not None:
                    labels: list[Row] = [
                        {
                            "transaction_id": str(tx["transaction_id"]),
                            "is_fraud": truth.get(str(tx["transaction_id"]), ("0", ""))[0],
                            "pattern": truth.get(str(tx["transaction_id"]), ("0", ""))[1],
                            "ts": tx["ts"],
                        }
                        for tx in batch.transactions
                    ]
                    await _publish_rows(
                        publisher, topics["truth"], labels, "transaction_id", "record"
                    )
                await publisher.submit_open()
                if progress is not None:
                    progress(batch)
        await publisher.flush()
    finally:
        await publisher.close()
    delivered = {t.rsplit(".", 1)[1]: n for t, n in sorted(publisher.delivered.items())}
    return ProduceReport(run_id, delivered, 0.0, wall_seconds() - started)


async def _publish_rows(
    publisher: Publisher,
    topic: str,
    rows: list[Row],
    key_column: str,
    message_format: MessageFormat,
    batch_number: int = 0,
) -> None:
    if not rows:
        return
    if message_format == "batch":
        await publisher.send(topic, f"batch-{batch_number}".encode(), orjson.dumps(rows), None)
        return
    for row in rows:
        await publisher.send(topic, _key(row, key_column), orjson.dumps(row), None)


def _fraud_labels(path: Path) -> dict[str, tuple[str, str]] | None:
    """transaction_id -> (is_fraud, pattern) from fraud_transaction.csv, if the dataset has it."""
    if not path.is_file():
        return None
    with path.open(newline="", encoding="utf-8") as handle:
        return {
            row["transaction_id"]: (row.get("is_fraud", "1"), row.get("pattern", ""))
            for row in csv.DictReader(handle)
        }
