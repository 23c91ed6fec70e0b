"""One reader of product_metadata for every form the datasets write it in."""

from __future__ import annotations

import csv
from pathlib import Path

import orjson
import pytest

from fraudlab import codec
from fraudlab.product_metadata import parse_items, read_items
from fraudlab.records import LineItem

CASES = Path(__file__).resolve().parents[1] / "simulator" / "data" / "cases" / "csv"


def metadata_of(case: str) -> list[str]:
    with (CASES / case / "transactions.csv").open(newline="", encoding="utf-8") as handle:
        return [row["product_metadata"] for row in csv.DictReader(handle)]


def test_single_and_double_quoted_forms_give_the_same_items() -> None:
    single = metadata_of("assignment-layout")
    double = metadata_of("bom-session")  # the same transactions, written as JSON
    assert len(single) == len(double) == 4
    assert [read_items(s) for s in single] == [read_items(d) for d in double]
    assert read_items(single[1]) == (LineItem("58296", 2, 278120.0),)


def test_the_quoted_metadata_case_reads_two_items_and_refuses_a_negative_quantity() -> None:
    first, two_items, negative, _ = metadata_of("quoted-metadata")
    assert read_items(first) == (LineItem("28999", 1, 184929.0),)
    assert read_items(two_items) == (LineItem("58296", 4, 145843.0), LineItem("53921", 1, 332825.0))
    assert parse_items(negative) == "item 1: quantity -2 is negative"
    with pytest.raises(ValueError, match="quantity -2 is negative"):
        read_items(negative)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("[{'product_id': 1, 'quantity': 'one', 'item_price': 5}]", "is not a whole number"),
        ("[{'product_id': 1, 'quantity': 1.5, 'item_price': 5}]", "is not a whole number"),
        ("[{'product_id': 1, 'quantity': 1, 'item_price': '5,5'}]", "is not a number"),
        ("[{'product_id': 1, 'quantity': 1, 'item_price': -5}]", "item_price -5 is negative"),
        ("[{'product_id': True, 'quantity': 1, 'item_price': 5}]", "is not an id"),
        ("{'product_id': 1, 'quantity': 1, 'item_price': 5}", "is not a list of items"),
        ("[1, 2]", "item 1 is not a"),
        ("[{'product_id': 1, 'quantity': 1, 'item_price': 5}", "neither JSON nor a Python"),
        ("(lambda: 1)()", "neither JSON nor a Python"),
        ("", "neither JSON nor a Python"),
    ],
)
def test_unreadable_metadata_has_a_reason(text: str, reason: str) -> None:
    found = parse_items(text)
    assert isinstance(found, str) and reason in found, found


def test_numbers_may_be_strings_or_numbers_and_ids_keep_their_text() -> None:
    assert parse_items('[{"product_id": 7, "quantity": "2.0", "item_price": 1.5e3}]') == (
        LineItem("7", 2, 1500.0),
    )


def test_the_fold_writes_line_items_as_the_codec_does_and_as_before() -> None:
    """A score's product_metadata is the codec's JSON list of LineItem records, byte for byte
    the list of {product_id, quantity, item_price} objects it always was (archived scores and
    the regression goldens hold it)."""
    from features.definition import line_items_json

    for text in metadata_of("quoted-metadata")[:2] + metadata_of("bom-session"):
        items = read_items(text)
        written = line_items_json(text)
        assert written == codec.encode_list(items).decode()
        as_before = [
            {"product_id": i.product_id, "quantity": i.quantity, "item_price": i.item_price}
            for i in items
        ]
        assert written == orjson.dumps(as_before).decode()
        assert [codec.decode(LineItem, orjson.dumps(o)) for o in orjson.loads(written)] == list(
            items
        )
