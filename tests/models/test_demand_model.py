"""The demand model: it reads views ahead of sales, saves and loads, and WAPE by hand."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from demand_data import simulated_counts

from features.demand import (
    COUNT_COLUMNS,
    PRODUCT_BROWSING_FEATURES,
    SALES_ONLY_FEATURES,
    WINDOW_S,
    demand_rows,
)
from models.demand import (
    BOOSTER_FILE,
    METADATA_FILE,
    DemandModel,
    ForecastQuality,
    fit_demand,
    forecast_quality,
    naive_forecast,
    wape,
)

T0 = 1_767_571_200
HORIZON_S = 1800
LAG = 10  # windows between a product's views and its sales (5 minutes)


def _world(seed: int, windows: int = 480, products: int = 30) -> pd.DataFrame:
    """A shop where each product's popularity jumps now and then; its views follow at once,
    its sales LAG windows later, so browsing tells what the last half hour of sales cannot."""
    rng = np.random.default_rng(seed)
    level = rng.uniform(0.02, 0.4, products)
    rows = []
    history = []
    for k in range(windows):
        jump = rng.random(products) < 1 / 60
        level = np.where(jump, rng.uniform(0.02, 0.4, products), level)
        history.append(level)
        selling = history[max(k - LAG, 0)]
        views = rng.poisson(10 * level)
        carts = rng.poisson(2 * level)
        units = rng.poisson(selling)
        for p in range(products):
            if views[p] or carts[p] or units[p]:
                rows.append((T0 + k * WINDOW_S, f"p{p:02d}", views[p], carts[p], 0, units[p]))
        rows.append((T0 + k * WINDOW_S, "", 0, 0, int(rng.poisson(3)), 0))
    return pd.DataFrame(rows, columns=list(COUNT_COLUMNS))


def _rows(seed: int, windows: int = 480) -> pd.DataFrame:
    return demand_rows(_world(seed, windows), HORIZON_S, T0, T0 + windows * WINDOW_S)


@pytest.fixture(scope="module")
def fitted() -> tuple[DemandModel, DemandModel]:
    rows = _rows(0)
    return fit_demand(rows), fit_demand(rows, SALES_ONLY_FEATURES)


def test_views_ahead_of_sales_beat_the_naive_forecast(
    fitted: tuple[DemandModel, DemandModel],
) -> None:
    model, sales_only = fitted
    held_out = _rows(1)
    assert len(held_out) > 5000
    quality = forecast_quality(model, sales_only, held_out)
    assert quality.rows == len(held_out)
    assert quality.model_vs_naive < 0.8
    assert quality.model_wape < quality.sales_only_wape
    assert model.horizon_s == HORIZON_S
    predicted = model.predict(held_out)
    assert (predicted >= 0).all() and np.isfinite(predicted).all()
    # without product browsing (the assignment's layout) it still forecasts, as well as sales do
    blind = held_out.copy()
    blind[list(PRODUCT_BROWSING_FEATURES)] = np.nan
    assert wape(blind["future_units"], model.predict(blind)) < quality.naive_wape


def test_save_and_load_give_the_same_predictions(
    fitted: tuple[DemandModel, DemandModel], tmp_path: Path
) -> None:
    model, _ = fitted
    assert DemandModel.load(tmp_path) is None
    model.save(tmp_path)
    assert (tmp_path / BOOSTER_FILE).is_file() and (tmp_path / METADATA_FILE).is_file()
    loaded = DemandModel.load(tmp_path)
    assert loaded is not None
    assert loaded.features == model.features and loaded.horizon_s == model.horizon_s
    assert loaded.training["rows"] == model.training["rows"]
    rows = _rows(2, 200)
    np.testing.assert_array_equal(loaded.predict(rows), model.predict(rows))
    assert loaded.predict(rows.iloc[:0]).shape == (0,)


def test_fitting_is_deterministic() -> None:
    rows = _rows(3, 160)
    first, again = fit_demand(rows, seed=5), fit_demand(rows, seed=5)
    assert bytes(first.booster.save_raw("ubj")) == bytes(again.booster.save_raw("ubj"))


def test_wape_by_hand() -> None:
    assert wape([4, 0, 6], [2, 1, 6]) == pytest.approx(3 / 10)
    assert wape([1, 1], [1, 1]) == 0.0
    assert wape([0, 0], [0, 0]) == 0.0
    assert wape([0, 0], [0, 2]) == math.inf
    assert wape(np.array([2.0]), np.array([5.0])) == pytest.approx(1.5)


def test_naive_forecast_and_the_ratios() -> None:
    rows = pd.DataFrame({"past_units": [3, 0], "future_units": [1, 2]})
    np.testing.assert_array_equal(naive_forecast(rows), [3.0, 0.0])
    quality = ForecastQuality(
        rows=2, units=3.0, model_wape=0.3, naive_wape=0.6, sales_only_wape=0.45
    )
    assert quality.model_vs_naive == pytest.approx(0.5)
    assert quality.sales_only_vs_naive == pytest.approx(0.75)
    assert quality.to_dict()["model_vs_naive"] == pytest.approx(0.5)
    perfect = ForecastQuality(
        rows=1, units=0.0, model_wape=0.0, naive_wape=0.0, sales_only_wape=0.0
    )
    assert perfect.model_vs_naive == 1.0


def test_a_simulated_run_counts_as_the_engine_would() -> None:
    counts, start, end = simulated_counts("baseline", 101, minutes=3)
    assert end - start == 180 and len(counts) > 100
    assert list(counts.columns) == list(COUNT_COLUMNS)
    assert counts["window_start"].between(start, end - WINDOW_S).all()
    shop = counts[counts["product_id"] == ""]
    assert shop["checkouts"].sum() > 0 and shop["views"].sum() == 0
    assert counts["units"].sum() > 0
    assert not counts.duplicated(["window_start", "product_id"]).any()
