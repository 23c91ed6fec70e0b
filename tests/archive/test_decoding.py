"""Message values to Arrow rows: what the codec encodes comes back field for field; bad values
are set aside with a reason, whatever batch they arrive in."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sample_run import make_sample_run

from archive.decoding import decode_values
from fraudlab import codec
from fraudlab.malformed import malformed_value
from fraudlab.records import (
    STREAM_RECORDS,
    DeadLetter,
    FraudAlerts,
    Record,
    Score,
    Truth,
    fields_of,
)

SAMPLE = make_sample_run("decoding", transactions=60)


def _values_of(cls: type[Record]) -> list[bytes]:
    return [m.value for m in SAMPLE.messages if m.stream == cls.STREAM and m.key[:3] != b"bad"]


@pytest.mark.parametrize("cls", STREAM_RECORDS, ids=lambda c: c.__name__)
def test_every_record_decodes_to_what_the_codec_reads(cls: type[Record]) -> None:
    values = _values_of(cls)
    assert values, f"the sample run has no {cls.STREAM} records"
    table, good, bad = decode_values(cls, values)
    assert bad == []
    assert good == list(range(len(values)))
    assert table.to_pylist() == [_as_stored(cls, v) for v in values]


def _as_stored(cls: type[Record], value: bytes) -> dict[str, Any]:
    # to_dict gives the JSON's values: bytes as base64 text and bools as label text, where the
    # table holds the bytes and the bools themselves
    record = codec.decode(cls, value)
    own = {f.name for f in fields_of(cls) if f.type in (bytes, bool)}
    return codec.to_dict(record) | {name: getattr(record, name) for name in own}


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b"", "empty value"),
        (None, "empty value"),
        (b"   ", "empty value"),
        (b"not json", "Invalid value"),
        (b'["a"]', "changed from object to array"),
        (b'{"transaction_id": "t", "is_fraud": "1", "pattern": "x"}', "field ts is missing"),
        (b'{"transaction_id": "t", "is_fraud": 1, "pattern": "x", "ts": 1}', "is_fraud"),
        (b'{"transaction_id": "t", "is_fraud": true, "pattern": "x", "ts": 1}', "is_fraud"),
        (
            b'{"transaction_id": "t", "is_fraud": "maybe", "pattern": "x", "ts": 1}',
            "field is_fraud is not a label (1 or 0, true or false, yes or no)",
        ),
        (b'{"transaction_id": "t", "is_fraud": "1", "pattern": "x", "ts": 1.5}', "int64"),
        (b'{"transaction_id": "t", "is_fraud": "1", "pattern": null, "ts": 1}', "pattern"),
        (b'{"transaction_id": "t",\n "is_fraud": "1", "pattern": "x", "ts": "1"}', "ts"),
        (b'{"transaction_id": "t"\n', "not JSON"),
        (b'{"transaction_id": "t", "is_fraud": "1", "pattern": "x", "ts": 1} {}', "one JSON"),
        (b'{"transaction_id": "\xff\xfet", "is_fraud": "1", "pattern": "x", "ts": 1}', "UTF-8"),
        (b'{"transaction_id": "t", "is_fraud": "1", "pattern": "\xc3", "ts": 1}', "UTF-8"),
        (b'{"transaction_id": "t",\n "is_fraud": "\xe9", "pattern": "x", "ts": 1}', "UTF-8"),
        # JSON text is UTF-8 throughout, also where the record has no field
        (
            b'{"transaction_id": "t", "is_fraud": "1", "pattern": "x", "ts": 1, "n": "\xff"}',
            "UTF-8",
        ),
    ],
)
def test_a_bad_value_is_set_aside_with_its_reason(value: bytes | None, reason: str) -> None:
    good_value = codec.encode(Truth("t1", False, "", 5))
    table, good, bad = decode_values(Truth, [good_value, value, good_value])
    assert good == [0, 2]
    assert table.num_rows == 2
    assert len(bad) == 1 and bad[0][0] == 1
    assert reason in bad[0][1]


def test_a_value_over_several_lines_is_still_a_record() -> None:
    value = b'{\n  "transaction_id": "t9",\n  "is_fraud": "1",\n  "pattern": "ato",\n  "ts": 7\n}'
    table, good, bad = decode_values(Truth, [value])
    assert (table.to_pylist(), good, bad) == (
        [{"transaction_id": "t9", "is_fraud": True, "pattern": "ato", "ts": 7}],
        [0],
        [],
    )


def test_a_value_that_is_not_utf8_is_set_aside_and_the_rest_of_its_batch_decoded() -> None:
    values = [codec.encode(Truth(f"t{i}", False, "", i)) for i in range(6)]
    values.insert(2, malformed_value("invalid_utf8", values[2], random.Random(0)))
    values.insert(5, codec.encode(Truth("t\u00e9\u20ac\U0001f600", True, "ato", 9)))
    table, good, bad = decode_values(Truth, values)
    assert bad == [(2, "not valid UTF-8: invalid start byte at byte 19")]
    assert good == [0, 1, 3, 4, 5, 6, 7]
    assert table.column("transaction_id").to_pylist() == [
        "t0",
        "t1",
        "t2",
        "t3",
        "t\u00e9\u20ac\U0001f600",
        "t4",
        "t5",
    ]
    # nothing that is not UTF-8 reaches a string column: DuckDB refuses such a table whole
    table.validate(full=True)


def test_nested_items_must_be_complete() -> None:
    broken = b'{"window_start": 0, "window_end": 120, "count": 1, "transactions": [{"ts": 1}]}'
    values = [*_values_of(FraudAlerts)[:3], broken]
    table, good, bad = decode_values(FraudAlerts, values)
    assert good == [0, 1, 2] and table.num_rows == 3
    assert bad == [(3, "field transactions holds an incomplete item")]


def test_bytes_that_are_not_base64_are_set_aside() -> None:
    ok = codec.encode(DeadLetter(b"\x00\x01", "why", "topic", 0, 1, 0, 2))
    broken = ok.replace(b'"AAE="', b'"%%%"')
    table, good, bad = decode_values(DeadLetter, [broken, ok])
    assert table.column("raw").to_pylist() == [b"\x00\x01"]
    assert (good, bad) == ([1], [(0, "field raw is not base64")])


def test_the_verdict_on_each_value_does_not_depend_on_its_batch() -> None:
    rng = random.Random(3)
    values: list[bytes | None] = list(_values_of(Score))
    for _ in range(12):
        broken = [b"", b"{", b'{"ts": 1}', None, b'{"ts": 1, "x": "\xff"}']
        values.insert(rng.randrange(len(values)), rng.choice(broken))
    whole, good, bad = decode_values(Score, values)
    rows, good_parts, bad_parts = [], [], []
    start = 0
    while start < len(values):
        size = rng.randint(1, 40)
        table, g, b = decode_values(Score, values[start : start + size])
        rows += table.to_pylist()
        good_parts += [start + i for i in g]
        bad_parts += [(start + i, why) for i, why in b]
        start += size
    assert rows == whole.to_pylist()
    assert good_parts == good
    assert bad_parts == bad
    assert len(bad) == 12


def test_records_in_the_assignment_s_own_columns_are_whole_with_nulls() -> None:
    from fraudlab.records import Browsing, Customer, Product

    customer = (
        b'{"customer_id":"10000","first_name":"Ana","last_name":"Putri","username":"u",'
        b'"email":"u@example.invalid","gender":"M","birthdate":"1990-01-01",'
        b'"first_join_date":"2022-03-01","ts":5}'
    )
    table, good, bad = decode_values(Customer, [customer])
    assert (good, bad) == ([0], [])
    assert table.to_pylist()[0]["home_location_lat"] is None
    product = (
        b'{"id":"28999","gender":"Men","baseColour":"Navy Blue","season":"Fall","year":"2011",'
        b'"usage":"Casual","productDisplayName":"Shirt","category_id":"1","ts":5}'
    )
    assert decode_values(Product, [product])[1:] == ([0], [])
    browsing = (
        b'{"session_id":"s1","event_type":"HP","event_time":"2024-05-09 10:00:01.210",'
        b'"traffic_source":"MOBILE","device_type":"Android","ts":5}'
    )
    table, good, bad = decode_values(Browsing, [browsing, browsing.replace(b'"s1"', b"null")])
    assert good == [0] and bad == [(1, "field session_id is missing or null")]
    assert table.to_pylist()[0]["customer_id"] is None


def test_a_json_array_of_records_is_stored_record_by_record() -> None:
    # the assignment's consumers write one JSON array of records per message
    from archive.writer import TopicMessages, decode_topic

    values = _values_of(Truth)[:4]
    array = b"[" + b", ".join(values[1:3]) + b', {"transaction_id": "x"}]'
    m = TopicMessages(
        "fraudlab.r.truth", "truth", [0, 0, 0, 1], [5, 6, 7, 2], [values[0], array, b"[]", None],
        [1000, 2000, 3000, 4000],
    )  # fmt: skip
    _, rows, rejected = decode_topic(m)
    ids = [codec.decode(Truth, v).transaction_id for v in values[:3]]
    assert rows.column("transaction_id").to_pylist() == ids
    assert rows.column("kafka_offset").to_pylist() == [5, 6, 6]
    letters = [
        (r["source_offset"], r["source_element"], r["reason"].split(":")[0])
        for r in rejected.to_pylist()
    ]
    assert letters == [
        (6, 2, "field is_fraud is missing or null"),
        (7, 0, "empty JSON array"),
        (2, 0, "empty value"),
    ]
    assert rejected.column("raw").to_pylist()[:2] == [b'{"transaction_id":"x"}', b"[]"]
