"""Writing a simulated run as the assignment's CSV datasets.

One file per dataset, with the assignment's columns first and in their order (the record
contract puts them there) and fraudlab's extra columns after them. Rows come in delivery order.
A run's data faults are delivery problems, not data: malformed values and second copies of
duplicated records are left out, so the files hold each record once. The faults and inventory
streams are not datasets of the assignment (and the CSV producer keeps no stock): no file.

Values are written as the assignment writes them, so that its producers and consumers read the
files unchanged (:func:`assignment_values`): times naive and local to the dataset's time zone
with milliseconds, payment_status ``Fail`` for a failed payment, product_metadata as a Python
literal. ``form="fraudlab"`` keeps the values as the simulator streams them (ISO times in UTC,
JSON metadata), for readers that do not take the assignment's forms yet.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Literal

import orjson

from fraudlab.field_values import DEFAULT_TIME_ZONE, event_time, time_zone
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
# the time field of each stream that has one
_TIMES = {"browsing": "event_time", "transactions": "created_at"}
ExportForm = Literal["assignment", "fraudlab"]


def assignment_time(text: str, zone: str = DEFAULT_TIME_ZONE) -> str:
    """A time as the assignment writes it: naive, local to ``zone``, with milliseconds.

    >>> assignment_time("2026-01-05T00:00:10.5Z")
    '2026-01-05 07:00:10.500'
    """
    local = datetime.fromtimestamp(event_time(text, zone), time_zone(zone))
    return local.strftime("%Y-%m-%d %H:%M:%S.") + f"{local.microsecond // 1000:03d}"


def _literal_value(value: Any) -> Any:
    # the assignment writes numbers; fraudlab's ids are digit strings
    return int(value) if isinstance(value, str) and value.isdigit() else value


def assignment_metadata(text: str) -> str:
    """product_metadata as the assignment writes it, a Python literal (read back by
    :mod:`fraudlab.product_metadata`).

    >>> assignment_metadata('[{"product_id": "28999", "quantity": 1, "item_price": 1000}]')
    "[{'product_id': 28999, 'quantity': 1, 'item_price': 1000}]"
    """
    items = orjson.loads(text)
    return repr([{k: _literal_value(v) for k, v in item.items()} for item in items])


def assignment_values(stream: str, row: dict[str, Any], zone: str = DEFAULT_TIME_ZONE) -> None:
    """Rewrite a row's values, in place, in the forms the assignment writes them."""
    if stream in _TIMES:
        row[_TIMES[stream]] = assignment_time(row[_TIMES[stream]], zone)
    if stream == "transactions":
        if row["payment_status"] == "Failed":
            row["payment_status"] = "Fail"
        row["product_metadata"] = assignment_metadata(row["product_metadata"])


def export_csv(
    messages: Iterable[Message],
    out_dir: Path,
    *,
    dedupe: bool = False,
    progress: Callable[[int], None] | None = None,
    form: ExportForm = "assignment",
    zone: str = DEFAULT_TIME_ZONE,
) -> dict[str, int]:
    """Write the datasets under ``out_dir``; rows written per file name.

    ``dedupe`` drops second copies of browsing events and transactions (for runs with
    duplicate deliveries; it remembers every id, so leave it off otherwise). ``form`` and
    ``zone`` say how values are written (see the module's docstring).
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
            if form == "assignment":
                assignment_values(m.stream, obj, zone)
                row = [obj[c] for c in columns[m.stream]]
            writers[m.stream].writerow(row)
            counts[DATASETS[m.stream][0]] += 1
    finally:
        for f in files.values():
            f.close()
    return counts
