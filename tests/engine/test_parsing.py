"""Kafka values to records or dead letters, with one reason each (real Spark, batch frames)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import pytest

from engine.parsing import MAX_VALUE_BYTES, parse_records
from fraudlab import codec
from fraudlab.records import Browsing, DeadLetter, Transaction, field_names

pytestmark = pytest.mark.spark

GOOD = Browsing(
    "s1", "VP", "2026-01-05T00:00:01Z", "WEB", "Android", "c1", "p1", "1", "e1", 1767571201
)


def _kafka_rows(spark: Any, values: list[bytes | None], topic: str) -> Any:
    rows = [(v, topic, 0, i, datetime(2026, 1, 5)) for i, v in enumerate(values)]
    return spark.createDataFrame(
        rows, "value binary, topic string, partition int, offset long, timestamp timestamp"
    )


CASES = [
    (codec.encode(GOOD), None),
    (b'\xff\xfe{"ts": 1}', "invalid UTF-8"),
    (b'{"session_id": "s1", "ts": ', "not JSON"),
    (b"[1, 2, 3]", "not a JSON object"),
    (orjson.dumps({"session_id": "s1", "customer_id": "c1", "event_type": "VP"}), "missing ts"),
    (orjson.dumps({**codec.to_dict(GOOD), "ts": "soon"}), "ts is not an integer"),
    (orjson.dumps({**codec.to_dict(GOOD), "ts": 1.5}), "ts is not an integer"),
    (orjson.dumps({**codec.to_dict(GOOD), "ts": "1767571201"}), "ts is not an integer"),
    (orjson.dumps({**codec.to_dict(GOOD), "customer_id": ""}), "missing customer_id"),
    (
        b'{"pad": "' + b"x" * MAX_VALUE_BYTES + b'", "ts": 1}',
        f"oversized: more than {MAX_VALUE_BYTES} bytes",
    ),
    (None, "empty value"),
]


def test_each_bad_value_becomes_a_dead_letter_with_its_reason(spark: Any) -> None:
    raw = _kafka_rows(spark, [v for v, _ in CASES], "fraudlab.r.browsing")
    good, dead = parse_records(raw, Browsing)
    records = good.collect()
    assert len(records) == 1
    assert Browsing(*(records[0][n] for n in field_names(Browsing))) == GOOD
    assert records[0]["event_timestamp"] == datetime(2026, 1, 5, 0, 0, 1)
    letters = sorted(dead.collect(), key=lambda r: r["source_offset"])
    assert list(dead.columns) == list(field_names(DeadLetter))
    expected = [(i, reason) for i, (_, reason) in enumerate(CASES) if reason]
    assert [(r["source_offset"], r["reason"]) for r in letters] == expected
    assert letters[0]["raw"] == CASES[1][0] and letters[0]["source_topic"] == "fraudlab.r.browsing"


def test_transactions_need_their_ids(spark: Any) -> None:
    tx = Transaction(
        "2026-01-05T00:00:01Z",
        "c1",
        "",
        "s1",
        "[]",
        "OVO",
        "Success",
        "0",
        "",
        "0",
        "-6.2",
        "106.8",
        "10",
        "1",
        1767571201,
    )
    _, dead = parse_records(_kafka_rows(spark, [codec.encode(tx)], "t"), Transaction)
    assert [r["reason"] for r in dead.collect()] == ["missing transaction_id"]
