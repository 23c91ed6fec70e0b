"""The demand features: windows, gaps, lookbacks, products never named, and one definition."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from features.demand import (
    COUNT_COLUMNS,
    DEMAND_FEATURES,
    LOOKBACKS_S,
    PRODUCT_BROWSING_FEATURES,
    SALES_ONLY_FEATURES,
    WINDOW_S,
    DemandState,
    demand_rows,
)

T0 = 1_767_571_200  # a multiple of 30 s

Row = tuple[int, str, int, int, int, int]  # window index, product, views, carts, checkouts, units


def _counts(rows: list[Row]) -> pd.DataFrame:
    return pd.DataFrame(
        [(T0 + k * WINDOW_S, *rest) for k, *rest in rows], columns=list(COUNT_COLUMNS)
    )


def _state(rows: list[Row]) -> DemandState:
    counts = _counts(rows)
    state = DemandState()
    for start, window in counts.groupby("window_start", sort=True):
        state.add_window(int(start), window)
    return state


def _at(frame: pd.DataFrame, product: str, column: str) -> float:
    return float(frame.set_index("product_id").loc[product, column])


def test_the_sales_only_features_hold_no_browsing() -> None:
    assert set(SALES_ONLY_FEATURES) < set(DEMAND_FEATURES)
    assert len(set(DEMAND_FEATURES)) == len(DEMAND_FEATURES)
    browsing = ("views", "carts", "checkouts")
    assert not [f for f in SALES_ONLY_FEATURES if any(b in f for b in browsing)]
    assert LOOKBACKS_S == (60, 300, 1800)


def test_lookbacks_count_the_windows_that_started_inside_them() -> None:
    # window 0 is 35 minutes before t = window 70's start, window 55 is 7.5 minutes before
    rows: list[Row] = [
        (0, "a", 100, 0, 0, 100),
        (15, "a", 10, 1, 0, 1),
        (55, "a", 5, 2, 0, 3),
        (61, "a", 1, 0, 0, 0),
        (69, "a", 2, 3, 0, 1),
        (69, "b", 4, 0, 0, 0),
        (69, "", 0, 0, 7, 0),
    ]
    features = _state(rows).features(T0 + 70 * WINDOW_S)
    assert features["product_id"].tolist() == ["a", "b"]  # the "" row is not a product
    assert _at(features, "a", "views_1m") == 2  # windows 68 and 69
    assert _at(features, "a", "carts_1m") == 3
    assert _at(features, "a", "units_1m") == 1
    assert _at(features, "a", "views_5m") == 3  # windows 60..69
    assert _at(features, "a", "views_30m") == 10 + 5 + 1 + 2  # windows 10..69
    assert _at(features, "a", "carts_30m") == 6
    assert _at(features, "a", "units_5m") == 1
    assert _at(features, "a", "units_30m") == 5
    assert _at(features, "b", "shop_views_5m") == 7
    assert _at(features, "b", "shop_checkouts_30m") == 7
    assert _at(features, "b", "shop_units_30m") == 5
    assert _at(features, "a", "units_share_30m") == 1.0
    assert _at(features, "b", "views_share_30m") == pytest.approx(4 / 22)
    assert _at(features, "a", "history_minutes") == 30.0
    assert _at(features, "a", "units_per_minute") == pytest.approx(5 / 30)
    assert list(features.columns) == ["product_id", *DEMAND_FEATURES]


def test_a_gap_is_windows_without_activity_and_old_products_drop_out() -> None:
    state = _state([(0, "a", 1, 0, 0, 1), (1, "b", 2, 0, 0, 0), (80, "c", 1, 0, 0, 0)])
    features = state.features(T0 + 81 * WINDOW_S)
    assert features["product_id"].tolist() == ["c"]  # a and b were 40 minutes ago
    assert _at(features, "c", "shop_views_30m") == 1
    assert _at(features, "c", "shop_units_30m") == 0
    assert math.isnan(_at(features, "c", "units_share_30m"))  # the shop sold nothing
    # a later end with no new window: the same windows, seen from further on
    later = state.features(T0 + 100 * WINDOW_S)
    assert _at(later, "c", "views_5m") == 0 and _at(later, "c", "views_30m") == 1
    assert state.features(T0 + 200 * WINDOW_S).empty


def test_the_start_of_a_run_is_history_minutes_short() -> None:
    features = _state([(0, "a", 2, 0, 0, 1), (3, "a", 4, 0, 0, 1)]).features(T0 + 4 * WINDOW_S)
    assert _at(features, "a", "history_minutes") == 2.0
    assert _at(features, "a", "units_per_minute") == 1.0
    assert _at(features, "a", "views_per_minute") == 3.0


def test_product_browsing_is_nan_until_browsing_names_a_product() -> None:
    rows: list[Row] = [(0, "", 40, 6, 3, 0), (0, "a", 0, 0, 0, 2), (1, "b", 0, 0, 0, 1)]
    state = _state(rows)
    assert not state.products_named
    features = state.features(T0 + 2 * WINDOW_S)
    assert features["product_id"].tolist() == ["a", "b"]
    assert features[list(PRODUCT_BROWSING_FEATURES)].isna().all().all()
    assert _at(features, "a", "shop_views_5m") == 40
    assert _at(features, "a", "units_5m") == 2
    state.add_window(T0 + 2 * WINDOW_S, _counts([(2, "b", 1, 0, 0, 0)]))
    named = state.features(T0 + 3 * WINDOW_S)
    assert state.products_named
    assert _at(named, "a", "views_5m") == 0 and _at(named, "b", "views_5m") == 1


def test_the_state_keeps_only_the_longest_lookback() -> None:
    state = DemandState()
    for k in range(500):
        state.add_window(T0 + k * WINDOW_S, _counts([(k, f"p{k % 7}", 1, 0, 0, 1)]))
        assert state.windows <= LOOKBACKS_S[-1] // WINDOW_S
    assert state.windows == LOOKBACKS_S[-1] // WINDOW_S


def test_windows_come_in_order() -> None:
    state = _state([(5, "a", 1, 0, 0, 0)])
    with pytest.raises(ValueError, match="comes after"):
        state.add_window(T0 + 5 * WINDOW_S, _counts([(5, "a", 1, 0, 0, 0)]))
    with pytest.raises(ValueError, match="has not ended"):
        state.features(T0 + 5 * WINDOW_S)
    with pytest.raises(ValueError, match="multiple"):
        state.add_window(T0 + 301, _counts([]))


def _world(seed: int, windows: int = 240) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows: list[Row] = []
    for k in range(windows):
        for p in rng.choice(12, 4, replace=False):
            rows.append((k, f"p{p:02d}", *map(int, rng.poisson([2, 0.5, 0, 0.4]))))
        rows.append((k, "", 0, 0, int(rng.poisson(1)), 0))
    counts = _counts(rows)
    return counts[counts[["views", "carts", "checkouts", "units"]].to_numpy().any(axis=1)]


def test_demand_rows_are_the_state_window_by_window_plus_the_horizon() -> None:
    counts = _world(1, 200)
    start, end, horizon = T0, T0 + 200 * WINDOW_S, 600
    rows = demand_rows(counts, horizon, start, end)
    assert rows.attrs["horizon_s"] == horizon
    ends = sorted(rows["window_end"].unique())
    assert ends[0] == T0 + WINDOW_S and ends[-1] == end - horizon
    state = DemandState()
    windows = dict(list(counts.groupby("window_start")))
    checked = 0
    for t in range(start + WINDOW_S, end - horizon + 1, WINDOW_S):
        if t - WINDOW_S in windows:
            state.add_window(t - WINDOW_S, windows[t - WINDOW_S])
        expected = state.features(t)
        got = rows[rows["window_end"] == t].drop(columns=["window_end"])
        got = got[["product_id", *DEMAND_FEATURES]].reset_index(drop=True)
        pd.testing.assert_frame_equal(got, expected)
        checked += 1
    assert checked == len(ends) == 180


def test_future_and_past_units_by_hand() -> None:
    rows: list[Row] = [(0, "a", 1, 0, 0, 2), (1, "a", 0, 0, 0, 3), (2, "a", 0, 0, 0, 4)]
    rows += [(3, "a", 0, 0, 0, 5), (5, "b", 1, 0, 0, 0), (6, "a", 0, 0, 0, 100)]
    table = demand_rows(_counts(rows), 60, T0, T0 + 6 * WINDOW_S)  # window 6 is outside the span
    a = table[table["product_id"] == "a"].set_index("window_end")
    assert a["future_units"].tolist() == [3 + 4, 4 + 5, 5 + 0, 0]
    assert a["past_units"].tolist() == [2, 2 + 3, 3 + 4, 4 + 5]
    assert a.index.tolist() == [T0 + k * WINDOW_S for k in (1, 2, 3, 4)]
    b = table[table["product_id"] == "b"]
    assert b.empty  # b first shows in window 5, whose end is past the last t (4)


def test_demand_rows_are_deterministic_whatever_the_row_order() -> None:
    counts = _world(2, 120)
    shuffled = counts.sample(frac=1.0, random_state=3)
    first = demand_rows(counts, 300, T0, T0 + 120 * WINDOW_S)
    again = demand_rows(shuffled, 300, T0, T0 + 120 * WINDOW_S)
    assert len(first) > 0
    pd.testing.assert_frame_equal(first, again)
