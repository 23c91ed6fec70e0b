"""Kafka values to records or dead letters, with one reason each (real Spark, batch frames)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import orjson
import pytest
from pyspark.sql import functions as F

from fraudlab import codec
from fraudlab.record_parsing import MAX_VALUE_BYTES, parse_records
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
    (b"7", "not a JSON object"),
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
    assert {r["source_element"] for r in letters} == {0}
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


def test_each_record_of_a_json_array_is_classified_on_its_own(spark: Any) -> None:
    # the assignment's consumers write one JSON array of records per message
    other = Browsing(*(codec.to_dict(GOOD) | {"event_id": "e2", "ts": 1767571205}).values())
    oversized = {**codec.to_dict(GOOD), "pad": "x" * MAX_VALUE_BYTES}
    array = orjson.dumps([codec.to_dict(GOOD), 7, codec.to_dict(other), oversized])
    big_but_fine = orjson.dumps([codec.to_dict(GOOD)] * (MAX_VALUE_BYTES // 100))
    raw = _kafka_rows(spark, [array, b"[]", b" [1, 2", big_but_fine], "fraudlab.r.browsing")
    good, dead = parse_records(raw, Browsing)
    records = sorted((r["offset"], r["element"], r["event_id"]) for r in good.collect())
    assert records[:2] == [(0, 0, "e1"), (0, 2, "e2")]
    # the size limit applies per record: a long array of small records is whole
    assert [r[:2] for r in records[2:]] == [(3, i) for i in range(MAX_VALUE_BYTES // 100)]
    letters = sorted(
        (r["source_offset"], r["source_element"], r["reason"], r["raw"]) for r in dead.collect()
    )
    assert [r[:3] for r in letters] == [
        (0, 1, "not a JSON object"),
        (0, 3, f"oversized: more than {MAX_VALUE_BYTES} bytes"),
        (1, 0, "empty JSON array"),
        (2, 0, "not JSON"),
    ]
    # an element's dead letter keeps the element itself; an unreadable message stays whole
    assert letters[0][3] == b"7" and orjson.loads(letters[1][3])["pad"] == oversized["pad"]
    assert letters[2][3] == b"[]" and letters[3][3] == b" [1, 2"


def test_a_browsing_record_without_customer_id_takes_its_session_s(spark: Any) -> None:
    from fraudlab.record_parsing import classify, session_customers

    sessions = session_customers(
        _kafka_rows(
            spark,
            [b'{"session_id": "s1", "customer_id": "c7", "ts": 1}', b'{"session_id": "s2"}'],
            "fraudlab.r.customer_session",
        )
    )
    assert sorted(tuple(r) for r in sessions.collect()) == [("s1", "c7")]
    five = {k: v for k, v in codec.to_dict(GOOD).items() if k != "customer_id"}
    values: list[bytes | None] = [
        orjson.dumps(five),
        orjson.dumps({**five, "session_id": "s9"}),
        codec.encode(GOOD),
    ]
    rows = classify(_kafka_rows(spark, values, "b"), F.lit("browsing"), sessions).collect()
    found = sorted((r["offset"], r["customer_id"], r["reason"]) for r in rows)
    # a session customer_session does not name leaves the record without its customer
    assert found == [(0, "c7", None), (1, None, "missing customer_id"), (2, "c1", None)]
