"""The inventory report: every 30 s of event time, each product's forecast demand over the next
horizon, learned from browsing and recent non-fraud sales, with its stock, minutes of cover and
whether to restock (:class:`fraudlab.records.InventoryForecast`).

The counts of each 30 s window are Spark's (:func:`features.demand_counts.window_counts` over the
run's browsing, its scores and its inventory stream, when it has one); the forecast is made on
the driver, one window after the other in event-time order, by a :class:`ForecastWriter`: it
keeps the rolling counts of the last windows (:class:`features.demand.DemandState`) and each
product's stock, and asks the model's demand model (:mod:`models.demand`) for the forecast.

- Live, a query counts the windows as the watermark closes them (append mode: a window is counted
  once it is whole) and hands them to the writer every 30 s / speed of processing time.
- At the run's close, the windows no live micro-batch wrote are counted over the whole run as a
  batch frame and written (available-now runs write all of them then).
- After a restart, the writer finds the last window its topic holds and counts the windows of
  the longest lookback before it again, so that it goes on exactly where it left off.

So a window's forecast is a function of the events alone, never of where micro-batches were cut,
and each window is written once per run; its key names the run, the window and the product.
A window is reported when it holds any activity (a dataset spread over months has long gaps).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from engine.report_queries import windows_query, write_batch
from engine.scoring import LATENESS, kafka_rows, parse_scores
from engine.sources import kafka_batch, kafka_stream
from features.demand import LOOKBACKS_S, WINDOW_S, DemandState
from features.demand_counts import (
    COUNT_COLUMNS,
    WINDOW_COUNT_COLUMNS,
    browsing_signals,
    inventory_signals,
    sales_signals,
    window_counts,
)
from fraudlab.record_parsing import KAFKA_COLUMNS, parse_records
from fraudlab.record_parsing import field as record_field
from fraudlab.records import Inventory, InventoryForecast, field_names
from fraudlab.schemas import spark_schema
from models.demand import DemandModel

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery

# Live trigger at speed 1 (divided by the speed of a faster run): the report's own period.
INVENTORY_TRIGGER_S = 30.0
LONGEST_LOOKBACK_S = max(LOOKBACKS_S)
QUERY = "inventory-forecast"

__all__ = [
    "INVENTORY_TRIGGER_S",
    "ForecastWriter",
    "close_inventory_report",
    "inventory_query",
    "run_signals",
]


@dataclass(slots=True)
class _Stock:
    level: int
    on_order: int
    lead_minutes: float


class ForecastWriter:
    """Turns window counts into InventoryForecast rows, one window after the other.

    ``model`` forecasts from browsing and sales, ``sales_only`` (the same method from sales
    alone; None: the rows carry the naive forecast in its place) is the baseline it is measured
    against, ``names`` gives each product's display name. ``next_window`` is the start of the
    first window not yet forecast: windows before it are skipped (a micro-batch Spark runs again
    after a crash hands them over a second time).
    """

    def __init__(
        self, model: DemandModel, names: dict[str, str], sales_only: DemandModel | None = None
    ) -> None:
        self.model, self.sales_only, self.names = model, sales_only, names
        self.state = DemandState()
        self.stock: dict[str, _Stock] = {}
        # each window's units sold by product, over the last horizon, and their sum by product:
        # the naive forecast
        self.sold: deque[tuple[int, dict[str, int]]] = deque()
        self.sold_over_horizon: dict[str, int] = {}
        self.next_window: int | None = None

    def forecast(self, counts: pd.DataFrame) -> list[dict[str, Any]]:
        """InventoryForecast rows (as dicts) of the windows in ``counts`` (WINDOW_COUNT_COLUMNS)
        not forecast yet, in window order."""
        if counts.empty:
            return []
        rows: list[dict[str, Any]] = []
        for start, window in counts.sort_values(["window_start", "product_id"]).groupby(
            "window_start", sort=True
        ):
            start = int(start)
            if self.next_window is not None and start < self.next_window:
                continue
            rows.extend(self._window(start, window))
            self.next_window = start + WINDOW_S
        return rows

    def seed(self, counts: pd.DataFrame) -> None:
        """Take in ``counts`` of windows already forecast (after a restart) without forecasting."""
        for start, window in counts.sort_values(["window_start", "product_id"]).groupby(
            "window_start", sort=True
        ):
            self._take(int(start), window)
            self.next_window = int(start) + WINDOW_S

    def _take(self, start: int, window: pd.DataFrame) -> None:
        self.state.add_window(start, window[["product_id", *COUNT_COLUMNS]])
        sold = window[(window["units"] > 0) & (window["product_id"] != "")]
        units = dict(zip(sold["product_id"], sold["units"].astype(int).tolist(), strict=True))
        self.sold.append((start, units))
        total = self.sold_over_horizon
        for product, n in units.items():
            total[product] = total.get(product, 0) + n
        while self.sold and self.sold[0][0] < start + WINDOW_S - self.model.horizon_s:
            for product, n in self.sold.popleft()[1].items():
                left = total[product] - n
                if left:
                    total[product] = left
                else:
                    del total[product]
        known = window[window["stock_level"].notna()]
        for product, level, on_order, lead in zip(
            known["product_id"],
            known["stock_level"],
            known["on_order"],
            known["lead_minutes"],
            strict=True,
        ):
            self.stock[str(product)] = _Stock(int(level), int(on_order), float(lead))

    def _window(self, start: int, window: pd.DataFrame) -> Iterable[dict[str, Any]]:
        self._take(start, window)
        end = start + WINDOW_S
        features = self.state.features(end)
        if features.empty:
            return []
        products = features["product_id"].tolist()
        forecast = np.round(self.model.predict(features), 4).tolist()
        naive = [float(self.sold_over_horizon.get(p, 0)) for p in products]
        baseline = (
            naive
            if self.sales_only is None
            else np.round(self.sales_only.predict(features), 4).tolist()
        )
        horizon_min = self.model.horizon_s / 60.0
        held = (
            window.set_index("product_id")[["views", "carts", "units"]]
            .reindex(products, fill_value=0)
            .astype("int64")
        )
        views, carts, units = (held[c].tolist() for c in ("views", "carts", "units"))
        names, stock = self.names, self.stock
        return [
            {
                "window_start": start,
                "window_end": end,
                "product_id": product,
                "product_name": names.get(product, ""),
                "horizon_minutes": horizon_min,
                "forecast_units": expected,
                "naive_units": naive[i],
                "sales_only_units": baseline[i],
                "views": views[i],
                "carts": carts[i],
                "units": units[i],
                **_cover(stock.get(product), expected, horizon_min),
            }
            for i, (product, expected) in enumerate(zip(products, forecast, strict=True))
        ]


def _cover(stock: _Stock | None, units: float, horizon_min: float) -> dict[str, Any]:
    """Stock, units on order, minutes of cover and whether to restock, for a forecast of
    ``units`` over ``horizon_min`` minutes; all None when the stock is not known."""
    if stock is None:
        return {"stock": None, "on_order": None, "cover_minutes": None, "restock": None}
    per_minute = units / horizon_min
    cover = round(stock.level / per_minute, 1) if per_minute > 0 else None
    over_lead = per_minute * stock.lead_minutes
    return {
        "stock": stock.level,
        "on_order": stock.on_order,
        "cover_minutes": cover if cover is None or math.isfinite(cover) else None,
        "restock": int(over_lead > stock.level + stock.on_order),
    }


def run_signals(
    spark: SparkSession,
    bootstrap: str,
    topics: dict[str, str],
    stream: bool,
    max_offsets: int | None = None,
) -> DataFrame:
    """The demand signals of a run's browsing, scores and inventory topics: streaming frames
    (``stream``; the browsing and inventory read at most ``max_offsets`` records a micro-batch)
    or batch frames of everything the topics hold now."""
    from pyspark.sql import functions as F

    def read(topic: str, bounded: bool = True) -> DataFrame:
        if not stream:
            return kafka_batch(spark, bootstrap, [topic])
        return kafka_stream(spark, bootstrap, [topic], max_offsets if bounded else None)

    # every browsing record with an integer ts counts, whoever browsed: a message of one record
    # or a JSON array of them, each value parsed once (a VARIANT), and only the four fields read
    message = F.expr("try_parse_json(cast(value as string))")
    parsed = read(topics["browsing"]).select(message.alias("m"))
    array = F.expr("try_variant_get(m, '$', 'array<variant>')")
    records = parsed.select(F.explode(F.coalesce(array, F.array("m"))).alias("v"))
    browsing = records.select(
        record_field("ts", "bigint").alias("ts"),
        record_field("event_type").alias("event_type"),
        record_field("product_id").alias("product_id"),
        record_field("quantity").alias("quantity"),
    ).where(F.col("ts").isNotNull())
    # the scores come at the scoring query's pace: no bound
    scores = parse_scores(read(topics["scores"], bounded=False)).where(F.col("prediction") == 0)
    inventory, _dead = parse_records(read(topics["inventory"]), Inventory)
    inventory = inventory.select(*field_names(Inventory), *KAFKA_COLUMNS)
    return (
        browsing_signals(browsing)
        .unionByName(sales_signals(scores.select("ts", "product_metadata")))
        .unionByName(inventory_signals(inventory))
    )


def _write(
    spark: SparkSession, rows: list[dict[str, Any]], bootstrap: str, topic: str, run_id: str
) -> None:
    import pandas as pd

    if not rows:
        return
    frame = spark.createDataFrame(
        pd.DataFrame(rows, columns=list(field_names(InventoryForecast))),
        schema=spark_schema(InventoryForecast),
    )
    # one task, in window order: the topic reads in the order the windows happened
    write_batch(kafka_rows(frame.coalesce(1), InventoryForecast, topic, run_id), bootstrap)


def _counts(frame: DataFrame) -> pd.DataFrame:
    return frame.select(*WINDOW_COUNT_COLUMNS).toPandas()


def written_until(spark: SparkSession, bootstrap: str, topic: str) -> int | None:
    """The end of the last window the report topic holds, or None when it holds none."""
    from pyspark.sql import functions as F

    ends = kafka_batch(spark, bootstrap, [topic]).select(
        F.get_json_object(F.col("value").cast("string"), "$.window_end").cast("long").alias("e")
    )
    last = ends.agg(F.max("e")).first()
    return None if last is None or last[0] is None else int(last[0])


def resume_writer(
    spark: SparkSession,
    bootstrap: str,
    topics: dict[str, str],
    writer: ForecastWriter,
) -> None:
    """Bring a new writer to where the report topic stands: the counts of the longest lookback
    before its last window, and every stock level before it, taken in without writing (nothing
    when the topic is empty). It counts the run's whole input again, once per restart."""
    from pyspark.sql import functions as F

    until = written_until(spark, bootstrap, topics["inventory-forecast"])
    if until is None:
        return
    recent = F.col("window_start") >= until - LONGEST_LOOKBACK_S
    counts = window_counts(run_signals(spark, bootstrap, topics, stream=False)).where(
        (recent | F.col("stock_level").isNotNull()) & (F.col("window_start") < until)
    )
    writer.seed(_counts(counts))
    writer.next_window = until


def inventory_query(
    spark: SparkSession,
    bootstrap: str,
    speed: float,
    topics: dict[str, str],
    writer: ForecastWriter,
    checkpoints: Path,
    run_id: str,
    max_offsets: int | None = None,
) -> StreamingQuery:
    """The live inventory report: the window counts as the watermark closes them, handed to
    ``writer`` every 30 s / ``speed`` and written to the report topic.

    ``max_offsets`` bounds the browsing (and inventory) records a micro-batch reads, as the
    scoring query's input is bounded: the query then keeps pace with the scoring instead of
    reading a backlog ahead of it (whose windows would wait in its state for their scores)."""
    if writer.next_window is None:
        # a writer new to a run that may have been written before (a restarted engine)
        resume_writer(spark, bootstrap, topics, writer)
    signals = run_signals(spark, bootstrap, topics, stream=True, max_offsets=max_offsets)
    counts = window_counts(signals.withWatermark("event_timestamp", LATENESS))

    def write(batch: DataFrame, _batch_id: int) -> None:
        rows = writer.forecast(_counts(batch))
        _write(spark, rows, bootstrap, topics["inventory-forecast"], run_id)

    return windows_query(counts, QUERY, checkpoints, INVENTORY_TRIGGER_S / speed, write)


def close_inventory_report(
    spark: SparkSession,
    bootstrap: str,
    topics: dict[str, str],
    writer: ForecastWriter,
    run_id: str,
) -> None:
    """Forecast and write every window of the run not written yet, counted over the whole run."""
    from pyspark.sql import functions as F

    if writer.next_window is None:
        resume_writer(spark, bootstrap, topics, writer)
    counts = window_counts(run_signals(spark, bootstrap, topics, stream=False))
    if writer.next_window is not None:
        counts = counts.where(F.col("window_start") >= writer.next_window)
    rows = writer.forecast(_counts(counts))
    _write(spark, rows, bootstrap, topics["inventory-forecast"], run_id)
