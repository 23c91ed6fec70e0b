"""The demand forecast's window counts on a real Spark session, from records built by hand."""

from __future__ import annotations

from typing import Any

import pytest

from features.demand_counts import (
    WINDOW_COUNT_COLUMNS,
    browsing_signals,
    inventory_signals,
    sales_signals,
    window_counts,
)

pytestmark = [pytest.mark.spark]

T0 = 1_700_000_010 - 1_700_000_010 % 30


def test_views_carts_checkouts_sales_and_the_last_stock_of_each_window(spark: Any) -> None:
    browsing = spark.createDataFrame(
        [
            (T0 + 1, "VI", "p1", "1"),
            (T0 + 2, "ATC", "p1", "3"),
            (T0 + 3, "ATC", "p2", None),  # no quantity: one unit
            (T0 + 4, "CO", None, None),
            (T0 + 5, "HP", None, None),  # not a demand signal
            (T0 + 31, "VI", "p2", "1"),
            (T0 + 32, "VI", None, None),  # a view that names no product (assignment layout)
        ],
        "ts bigint, event_type string, product_id string, quantity string",
    )
    sales = spark.createDataFrame(
        [
            (T0 + 6, '[{"product_id": "p1", "quantity": 2, "item_price": 1000.0}]'),
            (
                T0 + 33,
                '[{"product_id": "p1", "quantity": 1, "item_price": 1000.0},'
                ' {"product_id": "p2", "quantity": 4, "item_price": 50.0}]',
            ),
        ],
        "ts bigint, product_metadata string",
    )
    inventory = spark.createDataFrame(
        [
            ("p1", "opening", 10, 10, 0, 3, 15.0, "", "", T0, 0),
            ("p1", "sale", 2, 8, 0, 3, 15.0, "S1", "T1", T0 + 6, 1),
            ("p1", "stock_out", 9, 8, 0, 3, 15.0, "S2", "", T0 + 6, 2),
            ("p1", "restock_order", 20, 8, 20, 3, 15.0, "", "", T0 + 6, 3),
        ],
        "product_id string, change string, quantity bigint, level bigint, on_order bigint, "
        "reorder_point bigint, lead_minutes double, session_id string, transaction_id string, "
        "ts bigint, offset bigint",
    )
    signals = (
        browsing_signals(browsing)
        .unionByName(sales_signals(sales))
        .unionByName(inventory_signals(inventory))
    )
    got = {
        (r["window_start"] - T0, r["product_id"]): tuple(r[c] for c in WINDOW_COUNT_COLUMNS[2:])
        for r in window_counts(signals).collect()
    }
    assert got == {
        # views, carts, checkouts, units, stock_outs, stock level, on order, lead minutes
        (0, "p1"): (1, 3, 0, 2, 9, 8, 20, 15.0),
        (0, "p2"): (0, 1, 0, 0, 0, None, None, None),
        (0, ""): (0, 0, 1, 0, 0, None, None, None),
        (30, "p1"): (0, 0, 0, 1, 0, None, None, None),
        (30, "p2"): (1, 0, 0, 4, 0, None, None, None),
        (30, ""): (1, 0, 0, 0, 0, None, None, None),
    }
