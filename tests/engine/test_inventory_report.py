"""The inventory report's driver side, fed with window counts built from lists: the same rows
however the windows are handed over, a window handed over twice written once, a restart that
goes on where it left off, and the stock arithmetic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pytest

from engine.inventory_report import ForecastWriter
from features.demand_counts import WINDOW_COUNT_COLUMNS

T0 = 1_700_000_010 - 1_700_000_010 % 30


@dataclass
class UnitsPerView:
    """A stand-in demand model: one unit over the horizon per view in the last 5 minutes."""

    horizon_s: int = 1800

    def predict(self, features: pd.DataFrame) -> np.ndarray:
        return features["views_5m"].fillna(0).to_numpy(dtype=np.float64)


def counts(rows: list[tuple[Any, ...]]) -> pd.DataFrame:
    """Window counts of (window index, product, views, carts, checkouts, units, stock_outs,
    stock level, on order, lead minutes) rows."""
    return pd.DataFrame(
        [(T0 + 30 * w, *rest) for w, *rest in rows], columns=list(WINDOW_COUNT_COLUMNS)
    )


NONE = (None, None, None)
WINDOWS = counts(
    [
        (0, "p1", 0, 0, 0, 0, 0, 10, 0, 15.0),
        (0, "p2", 0, 0, 0, 0, 0, 500, 0, 60.0),
        (1, "p1", 4, 1, 0, 0, 0, *NONE),
        (1, "", 0, 0, 2, 0, 0, *NONE),
        (2, "p1", 6, 2, 0, 2, 0, 8, 0, 15.0),
        (2, "p2", 1, 0, 0, 1, 0, 499, 0, 60.0),
        (4, "p1", 2, 0, 0, 1, 0, 7, 0, 15.0),
        (5, "p2", 3, 1, 0, 0, 0, *NONE),
    ]
)


def writer() -> ForecastWriter:
    return ForecastWriter(UnitsPerView(), {"p1": "Kaos", "p2": "Sepatu"})  # type: ignore[arg-type]


def by_window(frame: pd.DataFrame, windows: list[int]) -> pd.DataFrame:
    return frame[frame["window_start"].isin([T0 + 30 * w for w in windows])]


def test_windows_handed_over_in_any_micro_batches_give_the_same_rows() -> None:
    whole = writer().forecast(WINDOWS)
    for cuts in ([[0, 1, 2], [4, 5]], [[0], [1], [2], [4], [5]], [[0, 1], [2, 4, 5]]):
        w = writer()
        rows = [r for part in cuts for r in w.forecast(by_window(WINDOWS, part))]
        assert rows == whole
    assert [r["window_start"] for r in whole] == sorted(r["window_start"] for r in whole)


def test_a_window_handed_over_again_is_not_forecast_twice() -> None:
    w = writer()
    first = w.forecast(by_window(WINDOWS, [0, 1, 2]))
    again = w.forecast(by_window(WINDOWS, [1, 2, 4]))
    assert {r["window_start"] for r in again} == {T0 + 120}
    assert first + again + w.forecast(by_window(WINDOWS, [5])) == writer().forecast(WINDOWS)


def test_a_restarted_writer_seeded_with_what_it_wrote_goes_on_alike() -> None:
    whole = writer().forecast(WINDOWS)
    resumed = writer()
    resumed.seed(by_window(WINDOWS, [0, 1, 2]))
    assert resumed.forecast(WINDOWS) == [r for r in whole if r["window_start"] >= T0 + 120]


def test_cover_restock_and_the_naive_forecast() -> None:
    rows = {(r["window_start"], r["product_id"]): r for r in writer().forecast(WINDOWS)}
    p1 = rows[(T0 + 60, "p1")]
    # 10 views in 5 minutes: 10 units over 30 minutes, a third of a unit a minute; 8 in stock
    assert p1["forecast_units"] == pytest.approx(10.0)
    assert p1["cover_minutes"] == pytest.approx(24.0)
    # 15 minutes of lead time need 5 units: 8 on the shelf suffice
    assert p1["stock"] == 8 and p1["restock"] == 0
    assert p1["naive_units"] == 2 and p1["sales_only_units"] == 2  # no sales-only model: naive
    assert (p1["views"], p1["carts"], p1["units"], p1["product_name"]) == (6, 2, 2, "Kaos")
    # the shop's check-outs name no product: no row of their own
    assert not any(product == "" for _, product in rows)
    p2 = rows[(T0 + 150, "p2")]
    assert p2["stock"] == 499 and p2["restock"] == 0
    assert p2["views"] == 3 and p2["units"] == 0 and p2["naive_units"] == 1


def test_a_run_without_stock_has_none() -> None:
    bare = WINDOWS[WINDOWS["stock_level"].isna()]
    rows = writer().forecast(bare)
    assert rows and all(
        r["stock"] is None and r["cover_minutes"] is None and r["restock"] is None for r in rows
    )


def test_restock_when_the_lead_time_needs_more_than_there_is() -> None:
    short = counts(
        [
            (0, "p1", 40, 0, 0, 0, 0, 5, 2, 30.0),
        ]
    )
    (row,) = writer().forecast(short)
    # 40 units over 30 minutes, 40 over the 30-minute lead time: more than 5 + 2
    assert row["forecast_units"] == pytest.approx(40.0)
    assert row["restock"] == 1 and row["cover_minutes"] == pytest.approx(3.8, abs=0.05)
