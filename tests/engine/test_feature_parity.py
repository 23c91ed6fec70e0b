"""Training and scoring compute the same features: batch and streaming paths agree."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import pytest

from engine.feature_frames import (
    batch_features,
    customer_events,
    streaming_features,
    watermarked,
)
from engine.features import FEATURES
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
                "-7.25" if n == 7 else "-6.2",
                "112.75" if n == 7 else "106.8",
                str(60000 + n),
                "1",
                start + 85,
            )
        )
    return customers, browsing, transactions


def _write(path: Path, records: list[Any], span_s: int = 1200) -> None:
    """One file per ``span_s`` of event time, so each micro-batch (one file of each stream)
    brings browsing and transactions of the same time span, in arrival order, and the stream
    carries state across micro-batches."""
    path.mkdir(parents=True)
    for i in range(5):
        chunk = [r for r in records if T0 + i * span_s <= r.ts < T0 + (i + 1) * span_s]
        file = path / f"part-{i}.json"
        file.write_text("\n".join(json.dumps(dataclasses.asdict(r)) for r in chunk))
        os.utime(file, (1_700_000_000 + i, 1_700_000_000 + i))  # the file source reads by mtime


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

    _write(tmp_path / "b", browsing)
    _write(tmp_path / "t", transactions)
    _write(tmp_path / "c", customers)
    b_stream = (
        spark.readStream.schema(spark_schema(Browsing))
        .option("maxFilesPerTrigger", 1)
        .json(str(tmp_path / "b"))
    )
    t_stream = (
        spark.readStream.schema(spark_schema(Transaction))
        .option("maxFilesPerTrigger", 1)
        .json(str(tmp_path / "t"))
    )
    c_stream = (
        spark.readStream.schema(spark_schema(Customer))
        .option("maxFilesPerTrigger", 1)
        .json(str(tmp_path / "c"))
    )
    stream = streaming_features(watermarked(customer_events(b_stream, t_stream, c_stream)))
    query = (
        stream.writeStream.format("memory")
        .queryName("parity_features")
        .option("checkpointLocation", str(tmp_path / "chk"))
        .outputMode("append")
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination(180)
    assert query.exception() is None
    out = spark.sql("select * from parity_features").collect()
    assert {r["outcome"] for r in out} == {"scored"}
    got = {r["transaction_id"]: r.asDict() for r in out}
    assert got.keys() == expected.keys()
    differences = {
        (tid, name, got[tid][name], row[name])
        for tid, row in expected.items()
        for name in FEATURES
        if got[tid][name] != pytest.approx(row[name])
    }
    assert not differences
    # the features see what they should
    assert expected["t7"]["new_device"] == 1.0 and expected["t7"]["distance_km"] > 600
    assert expected["t5"]["failed_payment"] == 1.0
    assert expected["t9"]["purchases_before"] == 2.0
