"""The 30 s report reads a score's product_metadata through the LineItem record's schema."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from engine.reports import product_quantities, top_products
from features.definition import line_items_json

pytestmark = pytest.mark.spark

T0 = 1_767_600_000  # a multiple of 30 s: the first window starts here


def _at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC).replace(tzinfo=None)


def test_top_products_count_quantity_and_sales_of_legitimate_line_items(spark: Any) -> None:
    scores = spark.createDataFrame(
        [
            # the assignment's literal form and JSON, as the fold writes both: the same list
            (
                _at(T0 + 1),
                0,
                line_items_json("[{'product_id': 7, 'quantity': 2, 'item_price': 10}]"),
            ),
            (
                _at(T0 + 5),
                0,
                line_items_json(
                    '[{"product_id": "7", "quantity": "1", "item_price": "10"},'
                    ' {"product_id": "8", "quantity": 3, "item_price": 2.5}]'
                ),
            ),
            (
                _at(T0 + 9),
                1,
                line_items_json("[{'product_id': 8, 'quantity': 50, 'item_price': 1}]"),
            ),
            (_at(T0 + 12), 0, line_items_json("not metadata")),
        ],
        "event_timestamp timestamp, prediction int, product_metadata string",
    )
    products = spark.createDataFrame(
        [("7", "Shirt"), ("8", "Socks")], "id string, productDisplayName string"
    )
    top = top_products(product_quantities(scores, products)).orderBy("rank").collect()
    assert [tuple(r) for r in top] == [
        (T0, T0 + 30, 1, "7", "Shirt", 3, 30.0),
        (T0, T0 + 30, 2, "8", "Socks", 3, 7.5),
    ]
