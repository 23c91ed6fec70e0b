"""What the demand forecast counts, on Spark frames: per 30 s event-time window and product, the
product's views, the units put in carts, the check-outs and the units sold in non-fraud orders.

The engine counts a run's stream with it (live with a watermark, and over the whole run at its
close: :mod:`engine.inventory_report`), and training counts a history with it
(:mod:`lab.demand_training`); :mod:`features.demand` turns the counts into the forecast's
features. So the engine and training share one definition of every count.

- a product view is a browsing event ``VI``; ``carts`` adds the ``quantity`` of each ``ATC``
  event (1 when it has none); ``checkouts`` counts ``CO`` events;
- a browsing event that names no product (a check-out, or any event of a dataset in the
  assignment's layout, whose browsing has no product columns) counts under product ``""``: the
  shop's totals include it, no product's figures do;
- ``units`` are the line items' quantities of transactions the engine did not flag (training:
  of transactions the truth calls legitimate), as the top-products report counts them;
- browsing is counted as it comes: a session's verdict is not known while it browses.

The inventory stream (:class:`fraudlab.records.Inventory`) adds each product's last stock level,
units on order and lead time in the window, and the units its stock-outs turned away.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fraudlab.records import Inventory, LineItem, field_names
from fraudlab.schemas import spark_schema

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

WINDOW = "30 seconds"
# Columns of the signals frame every source is turned into, and of the window counts.
SIGNAL_COLUMNS = (
    "event_timestamp",
    "product_id",
    "views",
    "carts",
    "checkouts",
    "units",
    "stock_outs",
    "stock",  # struct(ts, offset, level, on_order, lead_minutes) of an inventory record, or null
)
COUNT_COLUMNS = ("views", "carts", "checkouts", "units", "stock_outs")
WINDOW_COUNT_COLUMNS = (
    "window_start",
    "product_id",
    *COUNT_COLUMNS,
    "stock_level",
    "on_order",
    "lead_minutes",
)

__all__ = [
    "COUNT_COLUMNS",
    "SIGNAL_COLUMNS",
    "WINDOW",
    "WINDOW_COUNT_COLUMNS",
    "browsing_signals",
    "inventory_signals",
    "sales_signals",
    "window_counts",
]


def _signals(
    ts: Column,
    product: Column,
    *,
    views: Column | None = None,
    carts: Column | None = None,
    checkouts: Column | None = None,
    units: Column | None = None,
    stock_outs: Column | None = None,
    stock: Column | None = None,
) -> list[Column]:
    from pyspark.sql import functions as F

    zero = F.lit(0).cast("long")
    return [
        F.timestamp_seconds(ts).alias("event_timestamp"),
        F.coalesce(product.cast("string"), F.lit("")).alias("product_id"),
        (zero if views is None else views.cast("long")).alias("views"),
        (zero if carts is None else carts.cast("long")).alias("carts"),
        (zero if checkouts is None else checkouts.cast("long")).alias("checkouts"),
        (zero if units is None else units.cast("long")).alias("units"),
        (zero if stock_outs is None else stock_outs.cast("long")).alias("stock_outs"),
        (F.lit(None).cast(_STOCK_TYPE) if stock is None else stock).alias("stock"),
    ]


_STOCK_TYPE = "struct<ts:bigint,offset:bigint,level:bigint,on_order:bigint,lead_minutes:double>"


def browsing_signals(browsing: DataFrame) -> DataFrame:
    """Signals of browsing records (columns ``ts``, ``event_type``, and, when the data has
    them, ``product_id`` and ``quantity``, all as the contract has them)."""
    from pyspark.sql import functions as F

    kind = F.col("event_type")
    product = F.col("product_id") if "product_id" in browsing.columns else F.lit(None)
    quantity = (
        F.expr("try_cast(quantity as bigint)") if "quantity" in browsing.columns else F.lit(None)
    )
    return browsing.where(kind.isin("VI", "ATC", "CO")).select(
        *_signals(
            F.col("ts"),
            F.when(kind != "CO", product),
            views=(kind == "VI"),
            carts=F.when(kind == "ATC", F.coalesce(quantity, F.lit(1))).otherwise(0),
            checkouts=(kind == "CO"),
        )
    )


def sales_signals(sales: DataFrame) -> DataFrame:
    """Signals of sold line items: ``sales`` has ``ts`` and ``product_metadata``, the JSON list
    of line items (:class:`fraudlab.records.LineItem`) of transactions that count as sales."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType

    lines = sales.select(
        "ts",
        F.explode(F.from_json("product_metadata", ArrayType(spark_schema(LineItem)))).alias("l"),
    )
    return lines.select(*_signals(F.col("ts"), F.col("l.product_id"), units=F.col("l.quantity")))


def inventory_signals(inventory: DataFrame) -> DataFrame:
    """Signals of inventory records (the contract's columns with ``offset``, the Kafka offset
    that orders a product's records within a second): the stock after each change, and the
    units a stock-out turned away."""
    from pyspark.sql import functions as F

    missing = [c for c in field_names(Inventory) if c not in inventory.columns]
    if missing:
        raise ValueError(f"inventory records lack {', '.join(missing)}")
    stock = F.struct(
        F.col("ts").cast("long").alias("ts"),
        F.col("offset").cast("long").alias("offset"),
        F.col("level").cast("long").alias("level"),
        F.col("on_order").cast("long").alias("on_order"),
        F.col("lead_minutes").cast("double").alias("lead_minutes"),
    )
    turned_away = F.when(F.col("change") == "stock_out", F.col("quantity")).otherwise(0)
    return inventory.select(
        *_signals(F.col("ts"), F.col("product_id"), stock_outs=turned_away, stock=stock)
    )


def window_counts(signals: DataFrame) -> DataFrame:
    """The counts of each 30 s event-time window and product (``WINDOW_COUNT_COLUMNS``): sums of
    the signals, and the stock after the window's last inventory record (null without one)."""
    from pyspark.sql import functions as F

    # rows without stock have no order, so max_by passes them over
    order = F.when(F.col("stock").isNotNull(), F.struct("stock.ts", "stock.offset"))
    last = F.max_by("stock", order)
    grouped = signals.groupBy(F.window("event_timestamp", WINDOW).alias("w"), "product_id").agg(
        *(F.sum(c).alias(c) for c in COUNT_COLUMNS), last.alias("last_stock")
    )
    return grouped.select(
        F.unix_timestamp("w.start").alias("window_start"),
        "product_id",
        *COUNT_COLUMNS,
        F.col("last_stock.level").alias("stock_level"),
        F.col("last_stock.on_order").alias("on_order"),
        F.col("last_stock.lead_minutes").alias("lead_minutes"),
    )
