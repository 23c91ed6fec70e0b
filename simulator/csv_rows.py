"""Reading the assignment's CSV files row by row, setting aside every row that cannot be read.

A file is read sequentially (never whole) as UTF-8 with or without a byte-order mark (or the
encoding given), with CRLF or LF line ends and quoted fields. Its header must name the columns its
record requires (:func:`fraudlab.records.required_fields`); a header that does not is a mistake
in the file as a whole and ends the read in one sentence (:class:`fraudlab.errors.UsageError`)
before any row is used. A row that cannot be read (a wrong field count, an empty required value,
a bad time, number or product_metadata, bytes that are not text in the file's encoding) becomes a
:class:`Problem` with its file, line, field, reason and raw text, and reading goes on.

>>> import io
>>> text = "session_id,customer_id\\r\\ns1,10000\\r\\ns2\\r\\n"
>>> problems: list[Problem] = []
>>> list(read_rows(io.StringIO(text), "customer_session.csv", SESSIONS, problems.append))
[{'session_id': 's1', 'customer_id': '10000'}]
>>> problems[0].line, problems[0].reason
(3, '1 field where the header has 2')
"""

from __future__ import annotations

import codecs
import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from fraudlab.errors import UsageError
from fraudlab.field_values import DEFAULT_TIME_ZONE, decimal, event_time, whole_number
from fraudlab.product_metadata import parse_items
from fraudlab.records import (
    EVENT_TYPES,
    Browsing,
    Category,
    Customer,
    CustomerSession,
    Product,
    Record,
    Transaction,
    required_fields,
)

__all__ = [
    "BROWSING",
    "CATEGORIES",
    "CUSTOMERS",
    "FRAUD_LABELS",
    "PRODUCTS",
    "SESSIONS",
    "TRANSACTIONS",
    "FileSpec",
    "Problem",
    "check_header",
    "open_text",
    "read_rows",
]

# csv's default limit (128 KiB) is far above any real field; a larger one is a broken file
csv.field_size_limit(1 << 20)


@dataclass(frozen=True)
class FileSpec:
    """What one dataset file holds and what each of its rows must satisfy."""

    names: tuple[str, ...]  # the file names it goes by: fraudlab's first, then the assignment's
    columns: tuple[str, ...]  # the header must name these
    filled: tuple[str, ...] = ()  # these may not be empty
    times: tuple[str, ...] = ()
    numbers: tuple[str, ...] = ()  # decimal numbers where given
    amounts: tuple[str, ...] = ()  # non-negative decimal numbers where given
    counts: tuple[str, ...] = ()  # non-negative whole numbers where given
    latitudes: tuple[str, ...] = ()
    longitudes: tuple[str, ...] = ()
    metadata: str | None = None  # the product_metadata column
    event_types: str | None = None  # the column of browsing event types

    @property
    def name(self) -> str:
        return self.names[0]


def _columns(cls: type[Record]) -> tuple[str, ...]:
    return tuple(name for name in required_fields(cls) if name != "ts")


CUSTOMERS = FileSpec(
    ("customer.csv",),
    _columns(Customer),
    filled=("customer_id",),
    latitudes=("home_location_lat",),
    longitudes=("home_location_long",),
)
CATEGORIES = FileSpec(("category.csv",), _columns(Category), filled=("category_id",))
PRODUCTS = FileSpec(("product.csv",), _columns(Product), filled=("id",), amounts=("price",))
SESSIONS = FileSpec(
    ("customer_session.csv",), _columns(CustomerSession), filled=("session_id", "customer_id")
)
BROWSING = FileSpec(
    ("browsing_behaviour.csv", "new_browsing_behaviour.csv"),
    _columns(Browsing),
    filled=("session_id", "event_type", "event_time"),
    times=("event_time",),
    counts=("quantity",),
    event_types="event_type",
)
TRANSACTIONS = FileSpec(
    ("transactions.csv", "new_transactions.csv"),
    _columns(Transaction),
    filled=("created_at", "customer_id", "transaction_id", "session_id", "product_metadata"),
    times=("created_at",),
    amounts=("promo_amount", "shipment_fee", "total_amount"),
    latitudes=("shipment_location_lat",),
    longitudes=("shipment_location_long",),
    metadata="product_metadata",
)
FRAUD_LABELS = FileSpec(("fraud_transaction.csv",), ("transaction_id",), filled=("transaction_id",))


@dataclass(frozen=True)
class Problem:
    """A row that cannot be read: where it is, which field, why, and its text as written."""

    file: str
    line: int
    field: str
    reason: str
    raw: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}"
        return f"{where}: {self.field}: {self.reason}" if self.field else f"{where}: {self.reason}"


def check_header(header: list[str], file: str, spec: FileSpec) -> list[str]:
    """The header's column names (a byte-order mark and spaces around names dropped); a
    UsageError names a missing or repeated column."""
    names = [name.strip().lstrip("\ufeff") for name in header]
    if not any(names):
        raise UsageError(f"{file} has no header row: its first line must name the columns.")
    for name in names:
        if names.count(name) > 1:
            raise UsageError(f"{file}: the header names the column {name!r} twice.")
    missing = [c for c in spec.columns if c not in names]
    if missing:
        raise UsageError(
            f"{file}: the header lacks the column{'s' if len(missing) > 1 else ''} "
            f"{', '.join(repr(c) for c in missing)} (it has {', '.join(names)})."
        )
    return names


def _field_problem(row: dict[str, str], spec: FileSpec, zone: str) -> tuple[str, str] | None:
    """(field, reason) of the first value of the row that cannot be read, or None."""
    for name in spec.filled:
        if not row[name].strip():
            return name, "is empty"
    for name in spec.times:
        try:
            event_time(row[name], zone)
        except ValueError as exc:
            return name, str(exc)
    if spec.event_types is not None and row[spec.event_types].strip() not in EVENT_TYPES:
        return spec.event_types, f"{row[spec.event_types]!r} is not one of {' '.join(EVENT_TYPES)}"
    checks: list[tuple[tuple[str, ...], Callable[[str], str | None]]] = [
        (spec.numbers, _number),
        (spec.amounts, _amount),
        (spec.counts, _count),
        (spec.latitudes, lambda text: _coordinate(text, 90.0)),
        (spec.longitudes, lambda text: _coordinate(text, 180.0)),
    ]
    for names, check in checks:
        for name in names:
            text = row.get(name, "")
            if text.strip() and (reason := check(text)) is not None:
                return name, reason
    if spec.metadata is not None:
        items = parse_items(row[spec.metadata])
        if isinstance(items, str):
            return spec.metadata, items
    return None


def _number(text: str) -> str | None:
    if decimal(text) is None:
        return f"{text!r} is not a number (write it with a decimal point: 6.2, not 6,2)"
    return None


def _amount(text: str) -> str | None:
    value = decimal(text)
    if value is None:
        return _number(text)
    return f"{text} is negative" if value < 0 else None


def _count(text: str) -> str | None:
    value = whole_number(text)
    if value is None:
        return f"{text!r} is not a whole number"
    return f"{text} is negative" if value < 0 else None


def _coordinate(text: str, limit: float) -> str | None:
    value = decimal(text)
    if value is None:
        return _number(text)
    return f"{text} is not between -{limit:g} and {limit:g}" if abs(value) > limit else None


class _Lines:
    """The lines of a text file as csv reads them, keeping those of the current row."""

    def __init__(self, handle: TextIO) -> None:
        self._handle = handle
        self.taken: list[str] = []
        self.count = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        line = next(self._handle)
        self.taken.append(line)
        self.count += 1
        return line

    def row_text(self) -> tuple[int, str]:
        """(the line the row began on, its raw text), and start the next row."""
        first = self.count - len(self.taken) + 1
        text = "".join(self.taken).rstrip("\r\n")
        self.taken = []
        return first, text


def _undecodable(text: str) -> str | None:
    """Why a row is not text (undecodable bytes kept as surrogates by the reader), or None."""
    for position, char in enumerate(text):
        if "\udc80" <= char <= "\udcff":
            byte = ord(char) - 0xDC00
            return (
                f"byte 0x{byte:02x} at column {position + 1} is not text in the file's "
                "encoding (give it with --encoding, e.g. cp1252)"
            )
    return None


def _printable(raw: str) -> str:
    """Raw text with undecodable bytes written as \\xNN, so it can be stored as text."""
    return raw.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def open_text(path: Path, encoding: str = "utf-8") -> TextIO:
    """``path`` opened for :func:`read_rows`; UTF-8 files may start with a byte-order mark."""
    try:
        utf8 = codecs.lookup(encoding).name == "utf-8"
    except LookupError:
        raise UsageError(f"--encoding: {encoding!r} is not an encoding Python knows.") from None
    codec = "utf-8-sig" if utf8 else encoding
    return path.open(encoding=codec, errors="surrogateescape", newline="")


def read_rows(
    handle: TextIO,
    file: str,
    spec: FileSpec,
    problem: Callable[[Problem], None],
    *,
    zone: str = DEFAULT_TIME_ZONE,
) -> Iterator[dict[str, str]]:
    """The readable rows of an open file, as {column: text}; ``problem`` gets every other row.

    Open the file with :func:`open_text`.
    Blank lines are skipped.
    """
    lines = _Lines(handle)
    reader = csv.reader(lines)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise UsageError(f"{file}: the header cannot be read ({exc}).") from None
    if header is None:
        raise UsageError(f"{file} is empty: its first line must name the columns.")
    names = check_header(header, file, spec)
    lines.row_text()
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line, raw = lines.row_text()
            problem(Problem(file, line, "", f"the row cannot be read as CSV ({exc})", raw))
            continue
        line, raw = lines.row_text()
        if not fields:
            continue
        bad_text = _undecodable(raw)
        if bad_text is not None:
            problem(Problem(file, line, "", bad_text, _printable(raw)))
            continue
        if len(fields) != len(names):
            count = f"{len(fields)} field{'s' if len(fields) != 1 else ''}"
            why = f"{count} where the header has {len(names)}"
            if len(fields) > len(names):
                why += " (a comma inside a value that is not quoted?)"
            problem(Problem(file, line, "", why, raw))
            continue
        row = dict(zip(names, fields, strict=True))
        found = _field_problem(row, spec, zone)
        if found is not None:
            problem(Problem(file, line, found[0], found[1], raw))
            continue
        yield row
