"""Streaming assignment-layout CSV files to Kafka as a run: ``fraudlab produce-csv``.

The batching rule is :mod:`simulator.csv_batches` and the reading of rows is
:mod:`simulator.csv_rows`; this module publishes a dataset folder as one run, with the lifecycle
of every producer: it announces the run (``started``, with what it streams), sends the static
datasets (customers, categories, products, sessions) whole before the first event, paces one
batch per interval against the wall clock (or sends them back to back with ``fast``), reports
``progress``, and ends with ``finished`` and the counts (or ``interrupted``/``failed``).

Rows travel as JSON with every field as its original string and an integer ``ts``; with
``message_format="batch"`` each batch is one JSON array per topic, as the assignment's consumers
read it. fraud_transaction.csv, when present, becomes the run's truth. A row that cannot be read
goes to the run's ``quarantine`` stream with its file, line, field, reason and raw text, and the
stream goes on; a folder that cannot be streamed at all is refused before anything is sent.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, Literal

import orjson

from fraudlab import codec
from fraudlab.field_values import DEFAULT_TIME_ZONE
from fraudlab.kafka_io import DEFAULT_TUNING, ProducerTuning
from fraudlab.pacing import Pacer, wall_epoch, wall_seconds
from fraudlab.publisher import WaitReport
from fraudlab.records import Quarantined, Record, RunEvent, message_key, record_for_stream
from fraudlab.run_publication import RunPublication, publishing
from fraudlab.topics import topic_name
from simulator.csv_batches import BatchRule, CsvBatch, Row, plan_batches
from simulator.csv_dataset import (
    STATIC_STREAMS,
    CsvDataset,
    FraudLabels,
    locate_dataset,
    set_aside_values,
)
from simulator.csv_rows import Problem
from simulator.producer import ProduceReport

__all__ = ["ASSIGNMENT_RULE", "CSV_STREAMS", "CsvRunOptions", "produce_csv"]

MessageFormat = Literal["record", "batch"]
SHOWN = 5  # quarantined rows the command names (file, line, field, reason); all are sent
ASSIGNMENT_RULE = BatchRule()
# Streams a CSV run writes.
CSV_STREAMS = (
    *STATIC_STREAMS,
    "browsing",
    "transactions",
    "truth",
    Quarantined.STREAM,
    RunEvent.STREAM,
)


@dataclass(frozen=True)
class CsvRunOptions:
    """How a dataset folder is streamed.

    ``first_ts`` fixes the ts of the first batch (a reproducible run); without it a paced run
    starts at the wall clock, and a ``fast`` one stamps each batch with the moment it is sent.
    ``topics`` names the topics of some streams (stream -> topic) instead of the run's own.
    """

    rule: BatchRule = ASSIGNMENT_RULE
    message_format: MessageFormat = "record"
    seed: int = 0
    first_ts: int | None = None
    fast: bool = False
    time_zone: str = DEFAULT_TIME_ZONE
    encoding: str = "utf-8"
    topics: Mapping[str, str] = field(default_factory=dict)


def csv_run_details(dataset: CsvDataset, options: CsvRunOptions, first_ts: int) -> dict[str, Any]:
    """The producer's part of a CSV run's metadata."""
    return {
        "source": "csv",
        "scenario": f"csv:{dataset.folder.name}",
        "data_dir": str(dataset.folder.resolve()),
        "files": {stream: path.name for stream, path in dataset.files.items()},
        "seed": options.seed,
        "first_ts": first_ts,
        "speed": "fast" if options.fast else 1.0,
        "batch_rows": [options.rule.min_rows, options.rule.max_rows],
        "interval_s": options.rule.interval_s,
        "message_format": options.message_format,
        "time_zone": dataset.zone,
        "encoding": dataset.encoding,
        "topics": dict(options.topics),
    }


class _Sender:
    """Publishes the rows and quarantined rows of one CSV run."""

    def __init__(self, publication: RunPublication) -> None:
        self.publication = publication
        self.quarantined = 0
        self.first_problems: list[str] = []  # the first SHOWN, as the command prints them

    async def rows(
        self, stream: str, rows: list[Row], message_format: MessageFormat, batch: int = 0
    ) -> None:
        if not rows:
            return
        if message_format == "batch":
            key = f"batch-{batch}".encode()
            await self.publication.send(stream, key, orjson.dumps(rows), None)
            return
        key_column = record_for_stream(stream).KEY[0]
        for row in rows:
            key = str(row.get(key_column, "")).encode()
            await self.publication.send(stream, key, orjson.dumps(row), None)

    async def record(self, record: Record) -> None:
        """Send one record, written by the codec, as one message."""
        await self.publication.send(record.STREAM, message_key(record), codec.encode(record), None)

    async def problems(self, problems: list[Problem], ts: int) -> None:
        self.first_problems.extend(str(p) for p in problems[: SHOWN - len(self.first_problems)])
        for p in problems:
            await self.record(Quarantined(p.file, p.line, p.field, p.reason, p.raw, ts))
        self.quarantined += len(problems)
        self.publication.end_details["quarantined"] = self.quarantined
        problems.clear()


async def produce_csv(
    data_dir: Path,
    run_id: str,
    bootstrap: str,
    partitions: int,
    options: CsvRunOptions = CsvRunOptions(),
    *,
    progress: Callable[[CsvBatch], None] | None = None,
    tuning: ProducerTuning = DEFAULT_TUNING,
    on_wait: WaitReport | None = None,
) -> ProduceReport:
    """Stream the dataset in ``data_dir`` to the run's topics, one batch per interval.

    ``on_wait`` hears the broker's outages (see :class:`fraudlab.publisher.Publisher`); past the
    delivery timeout, BrokerUnavailable, and the run is announced ``interrupted`` with what
    was acknowledged, if the broker takes that."""
    dataset = locate_dataset(data_dir, encoding=options.encoding, zone=options.time_zone)
    start_ts = int(wall_epoch()) if options.first_ts is None else options.first_ts
    stamp_now = options.fast and options.first_ts is None
    topics = {s: topic_name(run_id, s) for s in CSV_STREAMS} | dict(options.topics)
    started = wall_seconds()
    hint = (
        f"Run {run_id} stopped: a CSV run cannot be resumed (its batches are cut at random and "
        "may be stamped with the moment they are sent); produce it again under a new run id."
    )
    async with publishing(
        bootstrap,
        run_id,
        topics,
        partitions,
        csv_run_details(dataset, options, start_ts),
        tuning=tuning,
        on_wait=on_wait,
        resume_hint=hint,
    ) as publication:
        sender = _Sender(publication)
        publication.end_details["quarantined"] = 0
        with ExitStack() as stack:
            problems: list[Problem] = []
            sessions = await _send_static(sender, dataset, stack, problems, start_ts)
            # static data is complete in Kafka before the first event: an engine that sees an
            # event can read customers and products whole
            await publication.publisher.flush()
            truth = FraudLabels.read(dataset, stack, problems.append)
            await sender.problems(problems, start_ts)
            pacer = Pacer(None if options.fast else 1.0)
            await publication.pace_by_requests(pacer)
            batches = plan_batches(
                dataset.rows(stack, "browsing", problems.append),
                dataset.rows(stack, "transactions", problems.append),
                sessions,
                options.rule,
                start_ts,
                random.Random(f"{options.seed}:csv-batches"),
                zone=dataset.zone,
                now=(lambda: int(wall_epoch())) if stamp_now else None,
            )
            transaction_ids: set[str] = set()  # read or set aside: what labels may name
            transactions_file = dataset.files["transactions"].name
            last_ts = start_ts
            for batch in batches:
                await pacer.wait_until(batch.number * options.rule.interval_s)
                await _send_batch(sender, batch, truth, options.message_format)
                transaction_ids.update(str(tx["transaction_id"]) for tx in batch.transactions)
                transaction_ids.update(set_aside_values(problems, transactions_file))
                await sender.problems(problems, batch.ts)
                await publication.publisher.submit_open()
                if progress is not None:
                    progress(batch)
                await publication.progress(partial(_progress_details, sender, batch, options.rule))
                last_ts = batch.ts
            # rows set aside once the last batch was cut (none when the batches read ahead)
            transaction_ids.update(set_aside_values(problems, transactions_file))
            await sender.problems(problems, last_ts)
            if truth is not None:  # a label no transaction met is counted, never dropped
                await sender.problems(truth.unmatched(transaction_ids), last_ts)
        delivered = await publication.finish({})
    return ProduceReport(
        run_id,
        delivered,
        0.0,
        wall_seconds() - started,
        quarantined=sender.quarantined,
        quarantined_first=sender.first_problems,
    )


async def _send_static(
    sender: _Sender,
    dataset: CsvDataset,
    stack: ExitStack,
    problems: list[Problem],
    ts: int,
) -> dict[str, str]:
    """Send the static datasets; session_id -> customer_id of customer_session.csv."""
    sessions: dict[str, str] = {}
    for stream in STATIC_STREAMS:
        for row in dataset.rows(stack, stream, problems.append):
            if stream == "customer_session":
                sessions[row["session_id"]] = row["customer_id"]
            await sender.rows(stream, [{**row, "ts": ts}], "record")
        await sender.problems(problems, ts)
    return sessions


async def _send_batch(
    sender: _Sender,
    batch: CsvBatch,
    truth: FraudLabels | None,
    message_format: MessageFormat,
) -> None:
    await sender.rows("browsing", batch.browsing, message_format, batch.number)
    await sender.rows("transactions", batch.transactions, message_format, batch.number)
    if truth is not None:
        for tx in batch.transactions:
            await sender.record(truth.truth_of(str(tx["transaction_id"]), int(tx["ts"])))


def _progress_details(sender: _Sender, batch: CsvBatch, rule: BatchRule) -> dict[str, Any]:
    """Where the producer stands: batches sent, the event time reached (everything before it
    is in Kafka: the engine's frontier moves on idle partitions by it)."""
    return {
        "batches": batch.number + 1,
        "simulated_s": (batch.number + 1) * rule.interval_s,
        "event_time": batch.ts,
        "quarantined": sender.quarantined,
    }
