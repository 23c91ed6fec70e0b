"""The two reports, on batch or streaming frames of scores.

``fraud_alerts``: every 10 s of event time, the potential frauds (prediction 1) of the last
2 minutes (sliding windows of 2 min every 10 s). ``top_products``: every 30 s of event time, the
top 20 products by quantity among non-fraud transactions (prediction 0), with name and sales.
A score's product_metadata is the JSON list of line items (:class:`fraudlab.records.LineItem`) the
engine's fold wrote from its one reading of the transaction's
(:func:`features.definition.line_items_json`), whatever form the record used; the report reads it
with the Spark schema derived from that record.
The window arithmetic is Spark's, the same on a streaming frame (live) and a batch frame
(``--available-now``, and closing a run's last windows).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fraudlab.records import AlertedTransaction, FraudAlerts, LineItem, TopProduct, field_names
from fraudlab.schemas import spark_schema

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

ALERT_WINDOW, ALERT_SLIDE = "2 minutes", "10 seconds"
TOP_WINDOW = "30 seconds"
TOP_N = 20


def fraud_alerts(scores: DataFrame) -> DataFrame:
    """One row per sliding window that holds potential frauds, in FraudAlerts' columns."""
    from pyspark.sql import functions as F

    alerted = F.struct(*(F.col(c) for c in field_names(AlertedTransaction)))
    return (
        scores.where(F.col("prediction") == 1)
        .groupBy(F.window("event_timestamp", ALERT_WINDOW, ALERT_SLIDE).alias("w"))
        .agg(
            F.count("*").alias("count"), F.sort_array(F.collect_list(alerted)).alias("transactions")
        )
        .select(
            F.unix_timestamp("w.start").alias("window_start"),
            F.unix_timestamp("w.end").alias("window_end"),
            "count",
            "transactions",
        )
        .select(*field_names(FraudAlerts))
    )


def product_quantities(scores: DataFrame, products: DataFrame) -> DataFrame:
    """Quantity and sales per product and 30 s window among non-fraud transactions."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import ArrayType

    line_items = ArrayType(spark_schema(LineItem))
    lines = scores.where(F.col("prediction") == 0).select(
        "event_timestamp", F.explode(F.from_json("product_metadata", line_items)).alias("line")
    )
    names = products.select(
        F.col("id").alias("product_id"), F.col("productDisplayName").alias("product_name")
    )
    return (
        lines.select("event_timestamp", "line.*")
        .join(F.broadcast(names), "product_id", "left")
        .groupBy(F.window("event_timestamp", TOP_WINDOW).alias("w"), "product_id", "product_name")
        .agg(
            F.sum("quantity").cast("long").alias("quantity"),
            F.sum(F.col("quantity") * F.col("item_price")).alias("sales"),
        )
        .select(
            F.unix_timestamp("w.start").alias("window_start"),
            F.unix_timestamp("w.end").alias("window_end"),
            "product_id",
            F.coalesce("product_name", F.lit("")).alias("product_name"),
            "quantity",
            "sales",
        )
    )


def top_products(quantities: DataFrame) -> DataFrame:
    """The top 20 of each window of a *batch* frame of product quantities, ranked 1..20.

    Ties in quantity go to the larger sales, then the smaller product id, so the ranking is
    the same in every run. Streaming calls it from ``foreachBatch`` on each micro-batch's
    finished windows.
    """
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    order = Window.partitionBy("window_start").orderBy(
        F.desc("quantity"), F.desc("sales"), F.asc("product_id")
    )
    return (
        quantities.withColumn("rank", F.row_number().over(order))
        .where(F.col("rank") <= TOP_N)
        .select(*field_names(TopProduct))
    )
