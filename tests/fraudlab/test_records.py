"""The record contract: keys, streams, assignment columns and the JSON codec."""

from __future__ import annotations

import pytest

from fraudlab import codec
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
