"""The input messages of an archived run, in the order its producer sent them.

Within a topic partition the archive's offsets are that order exactly: every row keeps its
``kafka_partition`` and ``kafka_offset``, and so does every undecodable value. Across topics the
producer sent in order of delivery time, which the archive does not store as such; it is rebuilt
for each message, in Unix milliseconds:

- browsing events and transactions carry their event time to the millisecond (``event_time``,
  ``created_at``); a session was sent with its first event, truth and fault records with the
  transaction or event they are about, and so were inventory records that name a transaction
  (its sales and stock-outs, and the restock orders its sales placed), so they take its
  millisecond; every other record (an opening level, a restock arrival, the stock-out of a
  checkout left empty) takes its ``ts`` second, which puts it ahead of the events of that second;
- a delivery the faults stream says was held back (``late``, ``out_of_order``, the second copy of
  a ``duplicate``) is moved later by the recorded delay;
- along a partition, a message is never earlier than the one before it (the log says it was
  sent after it), which also places undecodable values, known only by their Kafka second.

The partitions' sequences are then merged by that time; a merge never reorders a sequence, so
each partition of the replay holds its messages in the original order whatever the estimate.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import duckdb

from archive.files import read_as_current
from archive.tables import UNDECODABLE
from fraudlab import codec
from fraudlab.records import (
    EVENT_RECORDS,
    STATIC_RECORDS,
    Record,
    field_names,
    message_key,
    record_for_stream,
)
from fraudlab.schemas import table_name
from fraudlab.topics import topic_name
from replay.raw_values import REBUILT_FAULTS, rebuilt_value, recovered_key

__all__ = [
    "REPLAYED_STREAMS",
    "STATIC_STREAMS",
    "ArchivedMessage",
    "archived_messages",
    "partition_sequence",
    "sequences",
]

STATIC_STREAMS: tuple[str, ...] = tuple(cls.STREAM for cls in STATIC_RECORDS)
# stream order is also the tie order: static data first, a record before its truth, faults and
# inventory records
REPLAYED_STREAMS: tuple[str, ...] = STATIC_STREAMS + tuple(cls.STREAM for cls in EVENT_RECORDS)

# the id a fault record names, by the stream it touched
_RECORD_ID = {"browsing": "event_id", "transactions": "transaction_id"}
_EVENT_TIME = {"browsing": "event_time", "transactions": "created_at"}
_HELD_BACK = ("late", "out_of_order", "duplicate")
_CHUNK = 2_000  # rows per fetch: small enough not to hold up a paced replay


@dataclass(slots=True)
class ArchivedMessage:
    """One message as the original producer sent it, and where the original log had it."""

    at_ms: int  # when it was sent (rebuilt), Unix milliseconds of simulated time
    stream: str
    partition: int
    offset: int
    key: bytes | None  # None: a raw value whose key the archive no longer shows
    value: bytes
    raw: bool  # the archive kept the value as bytes: it never was a record


def _event_ms(stream: str) -> str:
    """Milliseconds since the epoch of a stream's own event time, or NULL."""
    if stream in _EVENT_TIME:
        return f"epoch_ms(try_cast({_EVENT_TIME[stream]} AS TIMESTAMP))"
    return "NULL::BIGINT"


def _event_ms_cte(streams: tuple[str, ...]) -> str:
    """The sent millisecond of each browsing event or transaction, by stream and record id."""
    selects = " UNION ALL ".join(
        f"SELECT '{s}' AS stream, {_RECORD_ID[s]} AS id, min({_event_ms(s)}) AS ms "
        f"FROM {s} GROUP BY ALL"
        for s in streams
    )
    return f"event_ms AS ({selects})"


# Records sent at the same moment as an event: (that moment by id, how a row finds its id).
# A session is opened by its first browsing event; truth and fault records go out with the
# transaction or event they are about, inventory records with the transaction they name (one
# that names none, transaction_id "", finds no row and takes its ts second).
_SENT_WITH = {
    "customer_session": (
        f"event_ms AS (SELECT session_id AS id, min({_event_ms('browsing')}) AS ms "
        "FROM browsing GROUP BY ALL)",
        "e.id = r.session_id",
    ),
    "truth": (_event_ms_cte(("transactions",)), "e.id = r.transaction_id"),
    "faults": (
        _event_ms_cte(("browsing", "transactions")),
        "e.stream = r.stream AND e.id = r.record_id",
    ),
    "inventory": (_event_ms_cte(("transactions",)), "e.id = r.transaction_id"),
}


def _sequence_sql(cls: type[Record]) -> str:
    """Rows of one partition of a stream's table, offset order: fields, offset, sent ms, fault."""
    stream, table = cls.STREAM, table_name(cls)
    record_id = _RECORD_ID.get(stream)
    copy = (
        f", row_number() OVER (PARTITION BY {record_id} ORDER BY kafka_offset) AS copy"
        if record_id
        else ""
    )
    ctes = [
        # rowid: the elements of a message holding a JSON array share its offset and were
        # stored in their order
        f"rows AS (SELECT *, rowid AS stored_at, {_event_ms(stream)} AS own_ms{copy} FROM {table} "
        "WHERE kafka_partition = $partition)"
    ]
    joins, ms, delay, fault = [], "r.own_ms", "0", "NULL::VARCHAR"
    if record_id is not None:
        held_back = ", ".join(f"'{f}'" for f in _HELD_BACK)
        rebuilt = ", ".join(f"'{f}'" for f in REBUILT_FAULTS)
        ctes.append(
            "held AS (SELECT record_id, CASE fault WHEN 'duplicate' THEN 2 ELSE 1 END AS copy, "
            f"max(delay_s) * 1000 AS delay_ms FROM faults WHERE stream = '{stream}' "
            f"AND fault IN ({held_back}) GROUP BY ALL)"
        )
        ctes.append(
            "broken AS (SELECT record_id, any_value(fault) AS fault FROM faults "
            f"WHERE stream = '{stream}' AND fault IN ({rebuilt}) GROUP BY ALL)"
        )
        joins.append(f"LEFT JOIN held AS h ON h.record_id = r.{record_id} AND h.copy = r.copy")
        joins.append(f"LEFT JOIN broken AS b ON b.record_id = r.{record_id} AND r.copy = 1")
        delay, fault = "coalesce(h.delay_ms, 0)", "b.fault"
    if stream in _SENT_WITH:
        cte, condition = _SENT_WITH[stream]
        ctes.append(cte)
        joins.append(f"LEFT JOIN event_ms AS e ON {condition}")
        ms = "e.ms"
    # a time that is not within the record's own second is not its time: take the second
    sent = f"CASE WHEN {ms} // 1000 = r.ts THEN {ms} ELSE r.ts * 1000 END + {delay}"
    return (
        f"WITH {', '.join(ctes)} SELECT {', '.join(f'r.{n}' for n in field_names(cls))}, "
        f"r.kafka_offset, {sent} AS sent_ms, {fault} AS fault "
        f"FROM rows AS r {' '.join(joins)} ORDER BY r.kafka_offset, r.stored_at"
    )


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any]) -> Iterator[Any]:
    cursor = con.cursor()  # a cursor of its own: the sequences are read side by side
    read_as_current(cursor, row_ids=True)  # an older file's truth: see _sequence_sql
    try:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(_CHUNK):
            yield from rows
    finally:
        cursor.close()


def _records(
    con: duckdb.DuckDBPyConnection, cls: type[Record], partition: int
) -> Iterator[ArchivedMessage]:
    n = len(field_names(cls))
    stream, encode = cls.STREAM, codec.encode
    for row in _rows(con, _sequence_sql(cls), {"partition": partition}):
        record = cls(*row[:n])
        offset, sent_ms, fault = row[n], row[n + 1], row[n + 2]
        value = encode(record) if fault is None else rebuilt_value(fault, encode(record))
        yield ArchivedMessage(sent_ms, stream, partition, offset, message_key(record), value, False)


def _raw_values(
    con: duckdb.DuckDBPyConnection, run_id: str, cls: type[Record], partition: int
) -> Iterator[ArchivedMessage]:
    sql = (
        f"SELECT raw, source_offset, ts * 1000 FROM {UNDECODABLE} "
        "WHERE source_topic = $topic AND source_partition = $partition "
        "ORDER BY source_offset, source_element"
    )
    params = {"topic": topic_name(run_id, cls.STREAM), "partition": partition}
    for raw, offset, sent_ms in _rows(con, sql, params):
        key = recovered_key(cls, raw)
        yield ArchivedMessage(sent_ms, cls.STREAM, partition, offset, key, raw, True)


def partition_sequence(
    con: duckdb.DuckDBPyConnection, run_id: str, stream: str, partition: int
) -> Iterator[ArchivedMessage]:
    """One partition of one stream of run ``run_id``, in offset order, undecodable values too."""
    cls = record_for_stream(stream)
    # undecodable values are few: held in memory, and most partitions have none to merge
    raw = list(_raw_values(con, run_id, cls, partition))
    records = _records(con, cls, partition)
    merged = heapq.merge(records, raw, key=attrgetter("offset")) if raw else records
    latest = None
    for message in merged:
        if latest is not None and message.at_ms < latest:
            message.at_ms = latest
        latest = message.at_ms
        yield message


def sequences(con: duckdb.DuckDBPyConnection, run_id: str) -> list[tuple[str, int]]:
    """(stream, partition) of every replayed stream's partition that holds a message."""
    found: set[tuple[str, int]] = set()
    for stream in REPLAYED_STREAMS:
        table = table_name(record_for_stream(stream))
        for (partition,) in con.execute(
            f"SELECT DISTINCT kafka_partition FROM {table} UNION "
            f"SELECT DISTINCT source_partition FROM {UNDECODABLE} WHERE source_topic = $topic",
            {"topic": topic_name(run_id, stream)},
        ).fetchall():
            found.add((stream, int(partition)))
    return sorted(found, key=lambda sp: (REPLAYED_STREAMS.index(sp[0]), sp[1]))


def archived_messages(con: duckdb.DuckDBPyConnection, run_id: str) -> Iterator[ArchivedMessage]:
    """Every input message of run ``run_id`` (whose file ``con`` has open) in sending order."""
    parts = [partition_sequence(con, run_id, s, p) for s, p in sequences(con, run_id)]
    return heapq.merge(*parts, key=attrgetter("at_ms"))
