"""Training and scoring compute the same features: batch and streaming paths agree, bit for bit."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest

from engine.frontier import close_out_report
from engine.scoring import INPUT_STREAMS, scoring_rows
from engine.verdicts import ModelStamp
from features.definition import FEATURES
from features.frames import batch_features, customer_events
from fraudlab import codec
from fraudlab.records import Browsing, Customer, Transaction
from fraudlab.schemas import spark_schema

pytestmark = pytest.mark.spark

T0 = 1_767_600_000


def _records() -> tuple[list[Customer], list[Browsing], list[Transaction]]:
    customers = [
        Customer(
            f"c{i}",
            "A",
            "B",
            f"u{i}",
            f"u{i}@x.id",
            "F" if i % 2 else "M",
            "1990-04-01",
            "2025-06-01",
            "DKI Jakarta",
            "Jakarta",
            "-6.2",
            "106.8",
            T0,
        )
        for i in range(3)
    ]
    browsing, transactions = [], []
    for n in range(12):
        c = f"c{n % 3}"
        s = f"s{n}"
        start = T0 + n * 400
        device = "iOS" if n in (7, 10) else "Android"
        for k, event in enumerate(("HP", "VP", "VP", "ATC", "CO")):
            browsing.append(
                Browsing(s, event, "", "MOBILE", device, c, "", "", f"e{n}-{k}", start + 20 * k)
            )
        status = "Failed" if n % 5 == 0 else "Success"
        meta = json.dumps([{"product_id": "p1", "quantity": 1 + n % 3, "item_price": 50000}])
        transactions.append(
            Transaction(
                "",
                c,
                f"t{n}",
                s,
                meta,
                "OVO",
                status,
                "0",
                "",
                "10000",
                "-7.25" if n in (7, 8, 10) else "-6.2",
                "112.75" if n in (7, 8, 10) else "106.8",
                str(60000 + n),
                "1",
                start + 85,
            )
        )
    return customers, browsing, transactions


def _fingerprints() -> Any:
    """A scorer whose "probability" changes with any feature of a row: the features compared
    bit for bit (everything it uses is local, so that Spark's Python workers can unpickle it)."""
    names = list(FEATURES)

    def build() -> Any:
        import json
        import zlib

        def fingerprint(row: dict[str, Any]) -> float:
            return zlib.crc32(json.dumps([row[n] for n in names]).encode()) / 2**32

        return lambda rows: [fingerprint(r) for r in rows]

    return build


def _write(path: Path, records: list[Any], cls: type, span_s: int = 1200) -> None:
    """Kafka-like rows (value, topic, partition, offset, timestamp), one file per ``span_s`` of
    event time, so that each micro-batch (one file) brings browsing, transactions and
    customers of the same time span, in arrival order, and the stream carries state across
    micro-batches."""
    path.mkdir(parents=True, exist_ok=True)
    for i in range(5):
        chunk = [
            {
                "value": base64.b64encode(codec.encode(r)).decode(),
                "topic": f"fraudlab.parity.{cls.STREAM}",
                "partition": 0,
                "offset": n,
                "timestamp": "2026-01-05T00:00:00Z",
            }
            for n, r in enumerate(records)
            if T0 + i * span_s <= r.ts < T0 + (i + 1) * span_s
        ]
        file = path / f"part-{i}-{cls.STREAM}.json"
        file.write_text("\n".join(json.dumps(c) for c in chunk))
        os.utime(file, (1_700_000_000 + i, 1_700_000_000 + i))  # the file source reads by mtime


KAFKA_LIKE = "value binary, topic string, partition int, offset long, timestamp timestamp"


def test_batch_and_streaming_features_agree(spark: Any, tmp_path: Path) -> None:
    customers, browsing, transactions = _records()

    def frame(records: list[Any], cls: type) -> Any:
        return spark.createDataFrame([dataclasses.astuple(r) for r in records], spark_schema(cls))

    customers_df = frame(customers, Customer)
    batch = batch_features(
        customer_events(frame(browsing, Browsing), frame(transactions, Transaction), customers_df)
    )
    expected = {r["transaction_id"]: r.asDict() for r in batch.collect()}
    assert len(expected) == len(transactions)

    for records, cls in ((browsing, Browsing), (transactions, Transaction), (customers, Customer)):
        _write(tmp_path / "in", records, cls)
    raw = (
        spark.readStream.schema(KAFKA_LIKE)
        .option("maxFilesPerTrigger", 3)
        .json(str(tmp_path / "in"))
    )
    (tmp_path / "reports").mkdir()
    reports = spark.readStream.schema(KAFKA_LIKE).json(str(tmp_path / "reports"))
    names = (*INPUT_STREAMS, "scores", "dead-letter", "frontier")
    topics = {s: f"fraudlab.parity.{s}" for s in names}
    stamp = ModelStamp("fingerprint", "0" * 64, 2.0)
    # with the location state: the customer fold, then the location fold keyed by cell
    rows = scoring_rows(raw, topics, stamp, _fingerprints(), 4, reports, [], cells=True)
    out: list[Any] = []
    for run in ("input", "close-out"):
        if run == "close-out":  # as the engine ends a run: nothing stays held
            close = {"value": base64.b64encode(close_out_report()).decode(), "topic": "r"}
            (tmp_path / "reports" / "close-out.json").write_text(
                json.dumps({**close, "partition": 0, "offset": 0})
            )
        query = (
            rows.writeStream.foreachBatch(lambda batch, _: out.extend(batch.collect()))
            .option("checkpointLocation", str(tmp_path / "chk"))
            .outputMode("append")
            .trigger(availableNow=True)
            .start()
        )
        query.awaitTermination(180)
        assert query.exception() is None
    out = [r for r in out if r["topic"] != topics["frontier"]]
    assert len(out) == len(transactions)
    assert {r["topic"] for r in out} == {topics["scores"]}
    got = {r["key"]: json.loads(r["value"])["probability"] for r in out}
    fingerprint = _fingerprints()()
    assert got == {tid: fingerprint([row])[0] for tid, row in expected.items()}
    # the features see what they should
    assert expected["t7"]["new_device"] == 1.0 and expected["t7"]["distance_km"] > 600
    assert expected["t5"]["failed_payment"] == 1.0
    assert expected["t9"]["purchases_before"] == 2.0
    # and what other accounts shipped to the same cell before
    assert expected["t0"]["cell_customers_1h"] == 0.0
    assert expected["t11"]["cell_customers_24h"] == 3.0
    assert expected["t8"]["cell_far_customers_1h"] == 1.0  # t7's, shipped there 400 s before
    assert expected["t10"]["cell_far_share_1h"] == 1.0
