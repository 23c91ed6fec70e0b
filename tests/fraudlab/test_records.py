"""The record contract: keys, streams, assignment columns and the JSON codec."""

from __future__ import annotations

import orjson
import pyarrow as pa
import pytest
from label_texts import LABELS

from fraudlab import codec
from fraudlab.field_values import fraud_label, fraud_labels
from fraudlab.records import (
    STREAM_RECORDS,
    STREAMS,
    Browsing,
    Category,
    Customer,
    CustomerSession,
    DeadLetter,
    Product,
    Transaction,
    Truth,
    assignment_columns,
    field_names,
    fields_of,
    message_key,
    record_for_stream,
)


def test_every_stream_record_has_a_ts_or_a_window_and_a_key_of_its_own_fields() -> None:
    for cls in STREAM_RECORDS:
        names = field_names(cls)
        assert cls.KEY and set(cls.KEY) <= set(names), cls
        assert "ts" in names or "window_start" in names, cls


def test_streams_are_unique_and_resolvable() -> None:
    assert len(set(STREAMS)) == len(STREAMS)
    assert all(s == record_for_stream(s).STREAM for s in STREAMS)
    with pytest.raises(KeyError, match="unknown stream"):
        record_for_stream("nope")


def test_input_records_carry_strings_but_ts() -> None:
    for cls in (Browsing, Transaction):
        for f in fields_of(cls):
            assert f.type is (int if f.name == "ts" else str)


def test_only_fraudlab_s_extras_are_optional_and_the_assignment_s_columns_are_not() -> None:
    optional = {
        cls.__name__: [f.name for f in fields_of(cls) if f.optional]
        for cls in (Customer, Category, Product, CustomerSession, Browsing, Transaction)
    }
    assert optional == {
        "Customer": ["home_location", "home_city", "home_location_lat", "home_location_long"],
        "Category": [],
        "Product": ["price"],
        "CustomerSession": [],
        "Browsing": ["customer_id", "product_id", "quantity", "event_id"],
        "Transaction": [],
    }
    for cls in (Customer, Product, Browsing):
        assert not set(assignment_columns(cls)) & set(optional[cls.__name__])


def test_assignment_columns_come_first_in_the_assignments_order() -> None:
    assert assignment_columns(Browsing) == (
        "session_id",
        "event_type",
        "event_time",
        "traffic_source",
        "device_type",
    )
    assert assignment_columns(Transaction)[:4] == (
        "created_at",
        "customer_id",
        "transaction_id",
        "session_id",
    )
    assert assignment_columns(Transaction)[-1] == "clear_payment"


def test_message_key_is_stable_and_joins_key_fields() -> None:
    letter = DeadLetter(b"\xff{", "invalid UTF-8", "fraudlab.r.browsing", 1, 42, 0, 5)
    assert message_key(letter) == b"fraudlab.r.browsing|1|42|0"


def test_bytes_survive_the_json_codec() -> None:
    letter = DeadLetter(b"\xff\x00{not json", "invalid UTF-8", "t", 0, 7, 0, 9)
    assert codec.decode(DeadLetter, codec.encode(letter)) == letter


def test_decode_rejects_non_objects_and_missing_fields() -> None:
    with pytest.raises(ValueError):
        codec.decode(DeadLetter, b"[1, 2]")
    with pytest.raises(KeyError):
        codec.decode(DeadLetter, b'{"raw": ""}')


def test_a_bool_field_travels_as_1_or_0_as_it_always_did() -> None:
    assert codec.encode(Truth("t1", True, "p", 5)) == (
        b'{"transaction_id":"t1","is_fraud":"1","pattern":"p","ts":5}'
    )
    assert codec.encode(Truth("t1", False, "", 5)) == (
        b'{"transaction_id":"t1","is_fraud":"0","pattern":"","ts":5}'
    )
    assert codec.to_dict(Truth("t1", True, "p", 5))["is_fraud"] == "1"
    with pytest.raises(TypeError, match="field is_fraud is a bool, not '1'"):
        codec.encode(Truth("t1", "1", "p", 5))  # type: ignore[arg-type]


@pytest.mark.parametrize(("text", "flag"), LABELS.items())
def test_a_bool_field_is_read_from_any_label_the_project_accepts(
    text: str, flag: bool | None
) -> None:
    assert fraud_label(text) is flag
    value = orjson.dumps({"transaction_id": "t", "is_fraud": text, "pattern": "", "ts": 1})
    if flag is None:
        with pytest.raises(ValueError, match=r"field is_fraud is .*, not a label"):
            codec.decode(Truth, value)
    else:
        assert codec.decode(Truth, value).is_fraud is flag


@pytest.mark.parametrize("value", [True, 1, ["1"]])
def test_a_bool_field_that_is_not_text_is_malformed(value: object) -> None:
    with pytest.raises(ValueError, match="not a label"):
        codec.decode(
            Truth, orjson.dumps({"transaction_id": "t", "is_fraud": value, "pattern": "", "ts": 1})
        )


def test_arrow_reads_labels_by_the_same_rule() -> None:
    texts = pa.chunked_array([list(LABELS)[:7], [*list(LABELS)[7:], None]])
    assert fraud_labels(texts).to_pylist() == [*LABELS.values(), None]
