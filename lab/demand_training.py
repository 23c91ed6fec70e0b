"""Training the demand forecast of a model from a history: count it per 30 s window and product
with the engine's own counts (:mod:`features.demand_counts`), build the forecast's rows
(:func:`features.demand.demand_rows`) and fit :mod:`models.demand` on them.

Sales are the line items of the transactions the truth calls legitimate; the engine counts the
ones it did not flag. The demand model is saved in the model's folder beside its booster, so the
engine that loads the model forecasts with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from features.definition import line_items_json
from features.demand import SALES_ONLY_FEATURES, WINDOW_S, demand_rows
from features.demand_counts import WINDOW_COUNT_COLUMNS, browsing_signals, sales_signals
from features.demand_counts import window_counts as count_windows
from fraudlab.errors import UsageError
from models.demand import DemandModel, fit_demand
from models.history import History

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import SparkSession

__all__ = ["demand_history_rows", "fit_demand_pair", "history_counts", "train_demand"]


def history_counts(spark: SparkSession, history: History) -> tuple[pd.DataFrame, int, int]:
    """The window counts of ``history`` (WINDOW_COUNT_COLUMNS, no stock), and the span of its
    windows: the start of the first and the end of the last (Unix seconds)."""
    from pyspark.sql import functions as F

    legitimate = history.truth.where(~F.col("is_fraud")).select("transaction_id").distinct()
    # Arrow-batched, named: left to itself pyspark tries to read a pandas UDF type from the
    # function's hints and warns that it cannot
    normalised = F.udf(line_items_json, "string", useArrow=True)
    sales = history.transactions.join(legitimate, "transaction_id").select(
        "ts", normalised("product_metadata").alias("product_metadata")
    )
    signals = browsing_signals(history.browsing).unionByName(sales_signals(sales))
    counts = count_windows(signals).select(*WINDOW_COUNT_COLUMNS).toPandas()
    span = history.browsing.agg(F.min("ts"), F.max("ts")).first()
    if span is None or span[0] is None:
        return counts, 0, 0
    first, last = int(span[0]), int(span[1])
    return counts, first - first % WINDOW_S, last - last % WINDOW_S + WINDOW_S


def demand_history_rows(
    spark: SparkSession, history: History, horizon_minutes: float, required: bool = True
) -> pd.DataFrame:
    """The demand forecast's training rows of ``history`` (:func:`features.demand.demand_rows`,
    forecasting over ``horizon_minutes``). A history no longer than the horizon has none: a
    UsageError when they are ``required``, else an empty frame."""
    counts, start, end = history_counts(spark, history)
    rows = demand_rows(counts, int(horizon_minutes * 60), start=start, end=end)
    if rows.empty and required:
        raise UsageError(
            f"the history spans {(end - start) / 60:.0f} minutes: too short to learn a forecast "
            f"over {horizon_minutes:g} minutes ahead; give more minutes or a shorter "
            "forecast_horizon_minutes."
        )
    return rows


def fit_demand_pair(parts: Sequence[pd.DataFrame]) -> tuple[DemandModel, DemandModel]:
    """The demand model fitted on the rows of one or more histories (each
    :func:`demand_history_rows`'s, over the same horizon), and its sales-only baseline (the
    same method without browsing signals)."""
    import pandas as pd

    horizons = {part.attrs["horizon_s"] for part in parts}
    if len(horizons) != 1:
        raise ValueError(f"demand rows over {len(horizons)} different horizons: {horizons}")
    rows = pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]
    rows.attrs["horizon_s"] = horizons.pop()
    return fit_demand(rows), fit_demand(rows, SALES_ONLY_FEATURES)


def train_demand(
    spark: SparkSession, history: History, horizon_minutes: float
) -> tuple[DemandModel, DemandModel]:
    """The demand model fitted on ``history``, forecasting over ``horizon_minutes``, and its
    sales-only baseline (the same method without browsing signals)."""
    return fit_demand_pair([demand_history_rows(spark, history, horizon_minutes)])
