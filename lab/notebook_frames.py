"""A run's results as pandas DataFrames, for a notebook: scores, fraud alerts, top products.

The same frame comes from either place a run's results live: the records decoded from its
Kafka topics while it plays (:func:`scores_frame`, :func:`alerts_frame`,
:func:`top_products_frame`, fed with lists, so they are tested without Kafka), or its closed
archive afterwards (:func:`archived_frame`). Results arrive at least once; each is taken once
by its record key, the first in log order, as the archive keeps it. Rows are sorted by event
time, so both places give the same rows in the same order.

Units: ``ts``, ``window_start`` and ``window_end`` are Unix seconds of event time (``pd.to_datetime(
frame.ts, unit="s", utc=True)`` gives times); amounts and sales are whole rupiah (IDR);
probabilities are 0-1; latitudes and longitudes are degrees.

>>> from fraudlab.records import TopProduct
>>> row = TopProduct(30, 60, 1, "p1", "Shirt", 3, 450000.0)
>>> twice = [codec.encode(row), codec.encode(row)]  # the engine's sink may repeat a result
>>> frame = top_products_frame(decoded_records(TopProduct, twice))
>>> len(frame), list(frame.columns[2:5]), frame.sales.dtype
(1, ['rank', 'product_id', 'product_name'], dtype('float64'))
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

import duckdb
import pandas as pd

from fraudlab import codec
from fraudlab.records import AlertedTransaction, FraudAlerts, Record, Score, TopProduct, fields_of
from fraudlab.schemas import table_name

__all__ = [
    "ALERT_COLUMNS",
    "RESULT_FRAMES",
    "alerts_frame",
    "archived_frame",
    "decoded_records",
    "scores_frame",
    "top_products_frame",
]

R = TypeVar("R", bound=Record)

# the window's fields, then the alerted transaction's: one row per window and transaction
ALERT_COLUMNS = (
    "window_start",
    "window_end",
    "count",
    *(f.name for f in fields_of(AlertedTransaction)),
)
# each frame's sort: event time, then what tells rows of the same moment apart
_SORT: dict[type[Record], list[str]] = {
    Score: ["ts", "transaction_id"],
    FraudAlerts: ["window_end", "window_start", "transaction_id"],
    TopProduct: ["window_end", "window_start", "rank", "product_id"],
}


def decoded_records(cls: type[R], values: Iterable[bytes | None]) -> list[R]:
    """The records of a result stream's message values, in their order, each key once (the
    first); a value without a record (a tombstone) is left out."""
    seen: set[tuple[Any, ...]] = set()
    out: list[R] = []
    for value in values:
        if value is None:
            continue
        record = codec.decode(cls, value)
        key = tuple(getattr(record, name) for name in cls.KEY)
        if key not in seen:
            seen.add(key)
            out.append(record)
    return out


def _dtype(spec: Any) -> str:
    if spec.type is int:
        return "Int64" if spec.optional else "int64"
    if spec.type is float:
        return "float64"
    return "object"


def _typed(frame: pd.DataFrame, cls: type[Record], columns: Sequence[str]) -> pd.DataFrame:
    """The columns in order, each typed by its record field (an optional int is pandas'
    nullable Int64, a missing text None), sorted by event time, indexed 0..n-1."""
    specs = {f.name: f for f in fields_of(cls)}
    if cls is FraudAlerts:
        specs.update({f.name: f for f in fields_of(AlertedTransaction)})
    frame = frame.reindex(columns=list(columns))
    for name in columns:
        dtype = _dtype(specs[name])
        column = frame[name]
        if dtype == "object":
            frame[name] = column.astype(object).where(column.notna(), None)
        else:
            frame[name] = column.astype(dtype)
    return frame.sort_values(_SORT[cls], kind="stable").reset_index(drop=True)


def _columns(cls: type[Record]) -> tuple[str, ...]:
    return ALERT_COLUMNS if cls is FraudAlerts else tuple(f.name for f in fields_of(cls))


def scores_frame(scores: Sequence[Score]) -> pd.DataFrame:
    """One row per scored transaction, the columns of :class:`fraudlab.records.Score`:
    ``transaction_id``, ``session_id``, ``customer_id``, ``ts`` (Unix s, event time),
    ``probability`` (0-1, raised by matching rules), ``prediction`` (1: potential fraud),
    ``model_name``, ``model_digest``, ``total_amount`` (IDR), ``shipment_location_lat`` and
    ``_long`` (degrees), ``product_metadata`` (JSON list of product_id, quantity, item_price),
    ``model_probability`` (the model's own), ``rules`` (ids of the rules that matched),
    ``reasons`` ("model" and/or rule ids), ``explanation`` (JSON feature contributions, on
    potential frauds), ``challenger_name``/``_digest``/``_probability``/``_prediction``."""
    return _typed(pd.DataFrame([codec.to_dict(s) for s in scores]), Score, _columns(Score))


def alerts_frame(reports: Sequence[FraudAlerts]) -> pd.DataFrame:
    """The 10 s reports flattened: one row per report window and potential fraud in it, with
    the columns ``window_start``, ``window_end`` (Unix s, event time: a sliding 2-minute window,
    one every 10 s), ``count`` (potential frauds in the window), then the alerted transaction's
    ``transaction_id``, ``session_id``, ``customer_id``, ``ts`` (Unix s), ``total_amount``
    (IDR), ``shipment_location_lat``, ``shipment_location_long`` (degrees), ``probability``
    (0-1), ``reasons`` and ``explanation``. A transaction appears in each window it falls in
    (up to 12)."""
    rows = [
        {
            "window_start": r.window_start,
            "window_end": r.window_end,
            "count": r.count,
            **codec.to_dict(t),
        }
        for r in reports
        for t in r.transactions
    ]
    return _typed(pd.DataFrame(rows), FraudAlerts, ALERT_COLUMNS)


def top_products_frame(rows: Sequence[TopProduct]) -> pd.DataFrame:
    """The 30 s reports: one row per window and rank, with the columns ``window_start``,
    ``window_end`` (Unix s, event time; 30 s tumbling windows), ``rank`` (1 = most units),
    ``product_id``, ``product_name``, ``quantity`` (units sold in non-fraud transactions) and
    ``sales`` (IDR: price x quantity in the window)."""
    return _typed(pd.DataFrame([codec.to_dict(r) for r in rows]), TopProduct, _columns(TopProduct))


# the result records a notebook reads as frames, and the builder of each from decoded records
RESULT_FRAMES: dict[type[Record], Callable[[Any], pd.DataFrame]] = {
    Score: scores_frame,
    FraudAlerts: alerts_frame,
    TopProduct: top_products_frame,
}


def archived_frame(con: duckdb.DuckDBPyConnection, cls: type[Record]) -> pd.DataFrame:
    """The frame of a result stream (Score, FraudAlerts or TopProduct) as the run's archive
    file holds it, opened read-only on ``con``: the same columns, types and order as the
    builder of that record gives from Kafka."""
    table = table_name(cls)
    if cls is FraudAlerts:
        sql = (
            "SELECT window_start, window_end, count, unnest(transactions, recursive := true) "
            f"FROM {table}"
        )
    else:
        sql = f"SELECT {', '.join(_columns(cls))} FROM {table}"
    return _typed(con.execute(sql).df(), cls, _columns(cls))
