"""Writing a simulated run as the assignment's CSV datasets.

One file per dataset, with the assignment's columns first and in their order (the record
contract puts them there) and fraudlab's extra columns after them. Rows come in delivery order.
A run's data faults are delivery problems, not data: malformed values and second copies of
duplicated records are left out, so the files hold each record once.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import IO

import orjson

from fraudlab.records import (
    Browsing,
    Category,
    Customer,
    CustomerSession,
    Product,
    Record,
    Transaction,
    Truth,
    field_names,
)
from simulator.messages import Message

# stream -> (file name, record class)
DATASETS: dict[str, tuple[str, type[Record]]] = {
    "customer": ("customer.csv", Customer),
    "category": ("category.csv", Category),
    "product": ("product.csv", Product),
    "customer_session": ("customer_session.csv", CustomerSession),
    "browsing": ("browsing_behaviour.csv", Browsing),
    "transactions": ("transactions.csv", Transaction),
    "truth": ("fraud_transaction.csv", Truth),
}
# streams whose records may be delivered twice, and the field that identifies a record
_IDENTIFIED_BY = {"browsing": "event_id", "transactions": "transaction_id"}


def export_csv(
    messages: Iterable[Message],
    out_dir: Path,
    *,
    dedupe: bool = False,
    progress: Callable[[int], None] | None = None,
) -> dict[str, int]:
    """Write the datasets under ``out_dir``; rows written per file name.

    ``dedupe`` drops second copies of browsing events and transactions (for runs with
    duplicate deliveries; it remembers every id, so leave it off otherwise).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, IO[str]] = {}
    writers = {}
    columns = {}
    counts: dict[str, int] = {}
    seen: dict[str, set[str]] = {stream: set() for stream in _IDENTIFIED_BY}
    try:
        for stream, (name, cls) in DATASETS.items():
            files[stream] = (out_dir / name).open("w", newline="", encoding="utf-8")
            columns[stream] = field_names(cls)
            writers[stream] = csv.writer(files[stream])
            writers[stream].writerow(columns[stream])
            counts[name] = 0
        for n, m in enumerate(messages, 1):
            if progress is not None and n % 10_000 == 0:
                progress(n)
            if m.stream not in writers:
                continue
            try:
                obj = orjson.loads(m.value)
                row = [obj[c] for c in columns[m.stream]]
            except (orjson.JSONDecodeError, KeyError, TypeError):
                continue  # a malformed-record fault
            if (
                len(obj) != len(row)
                or not isinstance(obj["ts"], int)
                or not all(isinstance(v, str) for v in row[:-1])
            ):
                continue  # a wrong-types or oversized fault
            ident = _IDENTIFIED_BY.get(m.stream) if dedupe else None
            if ident is not None:
                record_id = obj[ident]
                if record_id in seen[m.stream]:
                    continue  # the second copy of a duplicate
                seen[m.stream].add(record_id)
            writers[m.stream].writerow(row)
            counts[DATASETS[m.stream][0]] += 1
    finally:
        for f in files.values():
            f.close()
    return counts
