"""Per-sink delivery figures from an archived delivery log, worked out on paper."""

from __future__ import annotations

import duckdb

from archive.delivery_log import SinkDeliveries, sink_deliveries
from archive.tables import table_ddl
from fraudlab.records import AlertDelivery


def _log(rows: list[tuple[str, str, int, str, int, int]]) -> duckdb.DuckDBPyConnection:
    """(alert, sink, attempt, outcome, reported_ms, at_ms) rows in an archive's table."""
    con = duckdb.connect()
    con.execute(table_ddl(AlertDelivery))
    for offset, (alert, sink, attempt, outcome, reported, at) in enumerate(rows):
        con.execute(
            "INSERT INTO deliveries VALUES (?, ?, ?, ?, '', ?, 0, ?, ?, ?, 0, ?)",
            [alert, sink, attempt, outcome, alert, reported, at, at // 1000, offset],
        )
    return con


def test_sent_retries_dead_letters_and_latency_per_sink() -> None:
    con = _log(
        [
            ("a1", "hook", 1, "retried", 1_000, 1_100),
            ("a1", "hook", 2, "sent", 1_000, 1_400),  # 400 ms
            ("a2", "hook", 1, "sent", 2_000, 2_200),  # 200 ms
            ("a3", "hook", 1, "failed", 3_000, 3_050),
            ("a1", "queue", 1, "sent", 1_000, 1_010),
        ]
    )
    hook, queue = sink_deliveries(con)
    # the median of 200 and 400 ms; the 99th percentile 200 + 0.99 * 200
    assert hook == SinkDeliveries("hook", 2, 1, 1, 300.0, 398.0)
    assert queue == SinkDeliveries("queue", 1, 0, 0, 10.0, 10.0)


def test_a_run_without_sinks_or_older_than_deliveries_has_none() -> None:
    assert sink_deliveries(_log([])) == []
    assert sink_deliveries(duckdb.connect()) == []
