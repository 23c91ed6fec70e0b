"""Reading the assignment's CSV files row by row, setting aside every row that cannot be read.

A file is read sequentially (never whole) as UTF-8 (or the encoding given), or as the UTF-8,
UTF-16 or UTF-32 its byte-order mark names, with CRLF or LF line ends and quoted fields. Its
header must name the columns its record requires (:func:`fraudlab.records.required_fields`); a
header that does not, or that is not text in the file's encoding, is a mistake in the file as a
whole and ends the read in one sentence (:class:`fraudlab.errors.UsageError`) before any row is
used. A row that cannot be read (a wrong field count, an empty required value,
a bad time, number or product_metadata, bytes that are not text in the file's encoding, a quote
left open) becomes a :class:`Problem` with its file, line, field, reason and raw text, and
reading goes on. A quoted value may hold a line break, but a quote left open never swallows the
rows after it: they are read again, each on its own line.

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
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from fraudlab.errors import UsageError
from fraudlab.field_values import (
    DEFAULT_TIME_ZONE,
    decimal,
    event_time,
    fraud_label,
    whole_number,
)
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
    "read_numbered_rows",
    "read_rows",
]

# A quoted value may hold a line break, but a quote left open would swallow the rows after it:
# a row over several lines whose field count is wrong, or whose later lines are rows by
# themselves, makes its first line a problem, and the lines after it are read as rows again.
UNCLOSED_QUOTE = "a quote opened on this line is never closed before the next row"
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
    labels: tuple[str, ...] = ()  # fraud labels (fraudlab.field_values.fraud_label) where given

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
FRAUD_LABELS = FileSpec(
    ("fraud_transaction.csv",),
    ("transaction_id",),
    filled=("transaction_id",),
    labels=("is_fraud",),
)


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
        (spec.labels, _label),
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


def _label(text: str) -> str | None:
    if fraud_label(text) is None:
        return f"{text!r} is not a fraud label (1 or 0, true or false, yes or no)"
    return None


def _coordinate(text: str, limit: float) -> str | None:
    value = decimal(text)
    if value is None:
        return _number(text)
    return f"{text} is not between -{limit:g} and {limit:g}" if abs(value) > limit else None


class _Lines:
    """The physical lines of a text file as csv reads them, numbered, keeping those of the
    current row; lines handed back with :meth:`again` are read again before the file's next."""

    def __init__(self, handle: TextIO) -> None:
        self._handle = handle
        self._again: deque[tuple[int, str]] = deque()
        self.taken: list[tuple[int, str]] = []
        self._count = 0

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        if self._again:
            number, line = self._again.popleft()
        else:
            line = next(self._handle)
            self._count += 1
            number = self._count
        self.taken.append((number, line))
        return line

    def row_text(self) -> tuple[int, str]:
        """(the line the row began on, its raw text), and start the next row."""
        first, text = self.taken[0][0], "".join(line for _, line in self.taken).rstrip("\r\n")
        self.taken = []
        return first, text

    def holds_rows(self, columns: int) -> bool:
        """Whether a line after the current row's first is a row of ``columns`` fields by
        itself: then the row's quote was left open, not a value's line break quoted."""
        return any(len(next(csv.reader([line]), [])) == columns for _, line in self.taken[1:])

    def split_row(self) -> tuple[int, str]:
        """For a row that ran over several lines: (its first line's number, that line's text);
        its other lines are read again, as rows of their own."""
        (first, line), *rest = self.taken
        self._again.extendleft(reversed(rest))
        self.taken = []
        return first, line.rstrip("\r\n")


def _open_quote(line: str) -> bool:
    """Whether a quote is still open at the end of ``line`` (csv would read on past it)."""
    return len(list(csv.reader([line + "\n", "-\n"]))) < 2


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


def _wrong_encoding(header: str, file: str) -> str | None:
    """Why a file read with the wrong encoding cannot be read, from its header line, or None."""
    if "\x00" in header:
        return (
            f"{file} is not text in the encoding it is read with (its header holds NUL bytes, "
            "as UTF-16 text without a byte-order mark does): give the file's encoding with "
            "--encoding, e.g. utf-16-le."
        )
    bad = _undecodable(header)
    return None if bad is None else f"{file}: its header cannot be read: {bad}."


def _printable(raw: str) -> str:
    """Raw text with undecodable bytes written as \\xNN, so it can be stored as text."""
    return raw.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


# byte-order marks, longest first (UTF-32 LE's begins with UTF-16 LE's): a file that starts with
# one is in that encoding, whatever --encoding says
_MARKS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def open_text(path: Path, encoding: str = "utf-8") -> TextIO:
    """``path`` opened for :func:`read_rows`, in ``encoding`` unless the file starts with a
    byte-order mark (UTF-8, UTF-16 or UTF-32), which names its encoding."""
    try:
        codecs.lookup(encoding)
    except LookupError:
        raise UsageError(f"--encoding: {encoding!r} is not an encoding Python knows.") from None
    with path.open("rb") as raw:
        start = raw.read(4)
    codec = next((name for mark, name in _MARKS if start.startswith(mark)), encoding)
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
    return (row for _, row in read_numbered_rows(handle, file, spec, problem, zone=zone))


def read_numbered_rows(
    handle: TextIO,
    file: str,
    spec: FileSpec,
    problem: Callable[[Problem], None],
    *,
    zone: str = DEFAULT_TIME_ZONE,
) -> Iterator[tuple[int, dict[str, str]]]:
    """As :func:`read_rows`, each row with the line it is on: (line, {column: text})."""
    try:
        yield from _numbered_rows(handle, file, spec, problem, zone)
    except UnicodeError as exc:  # a decoder that cannot skip what it cannot read (UTF-16's)
        raise UsageError(
            f"{file} cannot be read in the encoding given ({exc}): give the file's own with "
            "--encoding."
        ) from None


def _numbered_rows(
    handle: TextIO, file: str, spec: FileSpec, problem: Callable[[Problem], None], zone: str
) -> Iterator[tuple[int, dict[str, str]]]:
    lines = _Lines(handle)
    reader = csv.reader(lines)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise UsageError(f"{file}: the header cannot be read ({exc}).") from None
    if header is None:
        raise UsageError(f"{file} is empty: its first line must name the columns.")
    _, header_text = lines.row_text()
    wrong = _wrong_encoding(header_text, file)
    if wrong is not None:
        raise UsageError(wrong)
    names = check_header(header, file, spec)
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line, raw = lines.row_text()
            problem(Problem(file, line, "", f"the row cannot be read as CSV ({exc})", raw))
            continue
        if len(lines.taken) > 1 and (len(fields) != len(names) or lines.holds_rows(len(names))):
            # a quote left open: csv read on to the next quote, lines or the whole file later
            line, raw = lines.split_row()
            problem(Problem(file, line, "", UNCLOSED_QUOTE, raw))
            continue
        # a quote open on the file's last line: csv put its line end into the last value, or
        # (no line end after it) gave the value as if closed; only that line is parsed again
        single, unended = len(lines.taken) == 1, not lines.taken[-1][1].endswith(("\n", "\r"))
        line, raw = lines.row_text()
        if (single and fields and fields[-1].endswith(("\n", "\r"))) or (
            unended and '"' in raw and _open_quote(raw)
        ):
            problem(Problem(file, line, "", UNCLOSED_QUOTE, raw))
            continue
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
        yield line, row
