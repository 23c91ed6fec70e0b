"""What became of a run's alerts at each sink, from its archived delivery log.

Per sink: the alerts it took, the retries that took, the alerts dead-lettered, and the time
from an alert's report window reaching the fraud-alerts topic to the sink taking it (wall-clock
milliseconds; the median and the 99th percentile, DuckDB's ``quantile_cont``, linear
interpolation). A run played without sinks has none.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from archive.tables import table_name
from fraudlab.records import AlertDelivery

__all__ = ["SinkDeliveries", "sink_deliveries"]


@dataclass(frozen=True)
class SinkDeliveries:
    """One sink's deliveries in a run; latencies in milliseconds (None when none was sent)."""

    sink: str
    sent: int
    retries: int
    dead_lettered: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None


def sink_deliveries(con: duckdb.DuckDBPyConnection) -> list[SinkDeliveries]:
    """Per sink, by name, what its delivery log says ([] for a run without sinks)."""
    table = table_name(AlertDelivery)
    present = {name for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if table not in present:  # archived before deliveries existed
        return []
    rows = con.execute(
        f"""
        SELECT sink,
               count(*) FILTER (WHERE outcome = 'sent'),
               count(*) FILTER (WHERE outcome = 'retried'),
               count(*) FILTER (WHERE outcome = 'failed'),
               quantile_cont(at_ms - reported_ms, 0.5) FILTER (WHERE outcome = 'sent'),
               quantile_cont(at_ms - reported_ms, 0.99) FILTER (WHERE outcome = 'sent')
        FROM {table} GROUP BY sink ORDER BY sink
        """
    ).fetchall()
    return [
        SinkDeliveries(*row[:4], *(None if v is None else round(v, 1) for v in row[4:]))
        for row in rows
    ]
