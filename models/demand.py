"""The demand model: units a product will sell over the next horizon, from browsing and sales.

Gradient-boosted trees (xgboost) with the Poisson objective ``count:poisson``: the target is a
count of units, often 0 or 1, whose spread grows with its mean, and the trees add up in log space,
so that a product's popularity (its share of the shop's views and units) and the shop's traffic
(its totals over 1, 5 and 30 minutes) multiply, as they do in a shop. The features are
:data:`features.demand.DEMAND_FEATURES`, computed by :class:`features.demand.DemandState` in
training and in the engine alike.

A dataset in the assignment's layout names no product in its browsing, so its product-level
browsing features are NaN (:data:`features.demand.PRODUCT_BROWSING_FEATURES`); :func:`fit_demand`
trains on every row twice, once as it is and once with those features missing, so that the same
trees forecast there from the shop's browsing and the product's own sales.

The model is judged against two forecasts it must beat (:func:`forecast_quality`): the *naive*
one, the product's units over the past horizon carried forward, and a *sales-only* model, the same
trees without any browsing signal, which says what browsing adds. The saved model is
``demand.ubj`` (the booster) and ``demand.json`` (features, horizon, training figures) in a model
folder, beside the fraud model's booster.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
import xgboost

from features.demand import (
    DEFAULT_HORIZON_MINUTES,
    DEMAND_FEATURES,
    PRODUCT_BROWSING_FEATURES,
    SALES_ONLY_FEATURES,
)
from fraudlab.errors import UsageError

BOOSTER_FILE = "demand.ubj"
METADATA_FILE = "demand.json"
# the file stems of the demand model and of its sales-only baseline in a model folder
DEMAND, SALES_ONLY = "demand", "demand-sales-only"
# one thread: the same trees, byte for byte, on every machine; and on a busy driver two OpenMP
# threads made a small fit 30 times slower (7.2 s against 0.22 s for 3,000 rows, 200 rounds)
NTHREAD = 1
PARAMS: dict[str, Any] = {
    "objective": "count:poisson",
    "tree_method": "hist",
    "max_depth": 5,
    "learning_rate": 0.1,
    "min_child_weight": 5.0,
    "reg_lambda": 1.0,
    "subsample": 1.0,
    "colsample_bytree": 1.0,
    "max_bin": 256,
    "nthread": NTHREAD,
}
ROUNDS = 200


@dataclass(frozen=True, eq=False)
class DemandModel:
    """A fitted demand booster: the features it reads, in order, and its horizon."""

    booster: xgboost.Booster
    features: tuple[str, ...]
    horizon_s: int
    training: dict[str, Any] = field(default_factory=dict)

    def predict(self, features: pd.DataFrame) -> npt.NDArray[np.float64]:
        """The expected units of each row's product over the horizon (>= 0), in row order."""
        if len(features) == 0:
            return np.zeros(0, dtype=np.float64)
        matrix = features[list(self.features)].to_numpy(dtype=np.float32)
        predicted = self.booster.inplace_predict(matrix, validate_features=False)
        return np.clip(np.asarray(predicted, dtype=np.float64), 0.0, None)

    def save(self, folder: Path, stem: str = DEMAND) -> None:
        """Write ``<stem>.ubj`` and ``<stem>.json`` (``demand.ubj`` and ``demand.json``) into the
        model folder ``folder``."""
        folder.mkdir(parents=True, exist_ok=True)
        booster = bytes(self.booster.save_raw("ubj"))
        (folder / f"{stem}.ubj").write_bytes(booster)
        metadata = {
            "features": list(self.features),
            "horizon_s": self.horizon_s,
            "horizon_minutes": self.horizon_s / 60,
            "digest": hashlib.sha256(booster).hexdigest(),
            "xgboost": xgboost.__version__,
            "training": self.training,
        }
        text = json.dumps(metadata, indent=2, sort_keys=True) + "\n"
        (folder / f"{stem}.json").write_text(text)

    @staticmethod
    def load(folder: Path, stem: str = DEMAND) -> DemandModel | None:
        """The demand model saved in ``folder`` as ``stem``; None when the folder holds none.
        A file that does not match its recorded digest is a UsageError naming it."""
        path = folder / f"{stem}.ubj"
        if not path.is_file():
            return None
        metadata = json.loads((folder / f"{stem}.json").read_text())
        raw = path.read_bytes()
        if hashlib.sha256(raw).hexdigest() != metadata.get("digest"):
            raise UsageError(
                f"{path} does not match the digest in {stem}.json: the model folder is damaged; "
                "train the model again."
            )
        booster = xgboost.Booster(params={"nthread": 1})
        booster.load_model(bytearray(raw))
        return DemandModel(
            booster,
            tuple(metadata["features"]),
            int(metadata["horizon_s"]),
            dict(metadata.get("training", {})),
        )


def fit_demand(
    rows: pd.DataFrame,
    features: tuple[str, ...] = DEMAND_FEATURES,
    seed: int = 0,
    horizon_s: int | None = None,
) -> DemandModel:
    """Poisson trees from :func:`features.demand.demand_rows` rows (``future_units`` is the
    target), deterministic for a seed; the horizon is ``horizon_s`` or the rows' own."""
    horizon = horizon_s or rows.attrs.get("horizon_s") or int(DEFAULT_HORIZON_MINUTES * 60)
    matrix = rows[list(features)].to_numpy(dtype=np.float32)
    target = rows["future_units"].to_numpy(dtype=np.float64)
    hidden = [i for i, name in enumerate(features) if name in PRODUCT_BROWSING_FEATURES]
    if hidden:
        # the assignment's layout: the same rows as if browsing had named no product
        blind = matrix.copy()
        blind[:, hidden] = np.nan
        matrix, target = np.vstack([matrix, blind]), np.concatenate([target, target])
    data = xgboost.DMatrix(matrix, label=target, feature_names=list(features), nthread=NTHREAD)
    booster = xgboost.train({**PARAMS, "seed": seed}, data, num_boost_round=ROUNDS)
    training = {
        "rows": len(rows),
        "units": float(rows["future_units"].sum()),
        "seed": seed,
        "rounds": ROUNDS,
        "params": PARAMS,
        "blind_copy": bool(hidden),
    }
    return DemandModel(booster, tuple(features), int(horizon), training)


def save_demand(folder: Path, models: tuple[DemandModel, DemandModel]) -> None:
    """Save a demand model and its sales-only baseline into the model folder ``folder``."""
    demand, sales_only = models
    demand.save(folder, DEMAND)
    sales_only.save(folder, SALES_ONLY)


def load_demand(folder: Path) -> tuple[DemandModel, DemandModel | None] | None:
    """The demand model of the model folder ``folder`` and its sales-only baseline (None when
    not saved); None when the folder has no demand model."""
    demand = DemandModel.load(folder, DEMAND)
    return None if demand is None else (demand, DemandModel.load(folder, SALES_ONLY))


def naive_forecast(rows: pd.DataFrame) -> npt.NDArray[np.float64]:
    """The naive forecast: each product's units over the past horizon, carried forward."""
    return rows["past_units"].to_numpy(dtype=np.float64)


def wape(actual: npt.ArrayLike, forecast: npt.ArrayLike) -> float:
    """Weighted absolute percentage error, ``sum|a - f| / sum a`` (the MAD/mean ratio of Kolassa
    and Schütz, "Advantages of the MAD/MEAN ratio over the MAPE", Foresight 6, 2007; Hyndman and
    Athanasopoulos, *Forecasting: Principles and Practice*, 3rd ed., section 5.8, on scaled
    errors). With nothing sold (``sum a == 0``) it is 0.0 for a forecast of nothing and infinity
    for any other.

    >>> wape([2, 0, 2], [1, 1, 2]), wape([0, 0], [0, 0]), wape([0], [1])
    (0.5, 0.0, inf)
    """
    a = np.asarray(actual, dtype=np.float64)
    f = np.asarray(forecast, dtype=np.float64)
    error = float(np.abs(a - f).sum())
    total = float(a.sum())
    if total == 0:
        return 0.0 if error == 0 else math.inf
    return error / total


def _ratio(a: float, b: float) -> float:
    if b == 0:
        return 1.0 if a == 0 else math.inf
    return a / b


@dataclass(frozen=True)
class ForecastQuality:
    """How well the demand model forecast some rows, beside the naive and sales-only forecasts;
    a ratio below 1 beats the naive forecast."""

    rows: int
    units: float
    model_wape: float
    naive_wape: float
    sales_only_wape: float

    @property
    def model_vs_naive(self) -> float:
        return _ratio(self.model_wape, self.naive_wape)

    @property
    def sales_only_vs_naive(self) -> float:
        return _ratio(self.sales_only_wape, self.naive_wape)

    def to_dict(self) -> dict[str, float]:
        """The figures, ratios included, as a report or the model's metadata shows them."""
        return {
            "rows": self.rows,
            "units": self.units,
            "model_wape": self.model_wape,
            "naive_wape": self.naive_wape,
            "sales_only_wape": self.sales_only_wape,
            "model_vs_naive": self.model_vs_naive,
            "sales_only_vs_naive": self.sales_only_vs_naive,
        }


def forecast_quality(
    model: DemandModel, sales_only: DemandModel, rows: pd.DataFrame
) -> ForecastQuality:
    """The WAPE of ``model``, of the naive forecast and of ``sales_only`` on ``rows``."""
    actual = rows["future_units"].to_numpy(dtype=np.float64)
    return ForecastQuality(
        rows=len(rows),
        units=float(actual.sum()),
        model_wape=wape(actual, model.predict(rows)),
        naive_wape=wape(actual, naive_forecast(rows)),
        sales_only_wape=wape(actual, sales_only.predict(rows)),
    )


__all__ = [
    "BOOSTER_FILE",
    "DEMAND",
    "METADATA_FILE",
    "SALES_ONLY",
    "SALES_ONLY_FEATURES",
    "DemandModel",
    "ForecastQuality",
    "fit_demand",
    "forecast_quality",
    "load_demand",
    "naive_forecast",
    "save_demand",
    "wape",
]
