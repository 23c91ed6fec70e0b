"""Training the demand forecast of a model from a history: count it per 30 s window and product
with the engine's own counts (:mod:`features.demand_counts`), build the forecast's rows
(:func:`features.demand.demand_rows`) and fit :mod:`models.demand` on them.

Sales are the line items of the transactions the truth calls legitimate; the engine counts the
ones it did not flag. The demand model is saved in the model's folder beside its booster, so the
engine that loads the model forecasts with it.
"""

from __future__ import annotations

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

__all__ = ["history_counts", "train_demand"]


def history_counts(spark: SparkSession, history: History) -> tuple[pd.DataFrame, int, int]:
    """The window counts of ``history`` (WINDOW_COUNT_COLUMNS, no stock), and the span of its
    windows: the start of the first and the end of the last (Unix seconds)."""
    from pyspark.sql import functions as F

    legitimate = history.truth.where(~F.col("is_fraud")).select("transaction_id").distinct()
    normalised = F.udf(line_items_json, "string")
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


def train_demand(
    spark: SparkSession, history: History, horizon_minutes: float
) -> tuple[DemandModel, DemandModel]:
    """The demand model fitted on ``history``, forecasting over ``horizon_minutes``, and its
    sales-only baseline (the same method without browsing signals)."""
    counts, start, end = history_counts(spark, history)
    rows = demand_rows(counts, int(horizon_minutes * 60), start=start, end=end)
    if rows.empty:
        raise UsageError(
            f"the history spans {(end - start) / 60:.0f} minutes: too short to learn a forecast "
            f"over {horizon_minutes:g} minutes ahead; give more minutes or a shorter "
            "forecast_horizon_minutes."
        )
    return fit_demand(rows), fit_demand(rows, SALES_ONLY_FEATURES)
