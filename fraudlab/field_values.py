"""Reading the string fields of input records: decimal numbers, event times and yes/no labels.

Input records keep every field as the string their file wrote; whoever needs a value reads it
here, so that the CSV reader's checks and the parts that compute with the values agree on what a
number, a time and a fraud label are. A fraud label is read the same way in Python, in Arrow
(the archive) and in Spark: :func:`fraud_label` and its two forms beside it.

Times come in the forms the assignment's data and its peers write: a naive
``YYYY-MM-DD HH:MM:SS[.f...]`` (local time of the dataset's time zone, Asia/Jakarta unless told
otherwise), ISO 8601 with ``T``, ``Z`` or an offset, and a trailing `` UTC``.

>>> event_time("2024-05-09 10:00:01.210")  # Jakarta is UTC+7
1715223601.21
>>> event_time("2024-05-09T03:00:01.210Z") == event_time("2024-05-09 03:00:01.21 UTC")
True
>>> decimal("-6.2392"), decimal("-6,2392"), decimal("nan")
(-6.2392, None, None)
"""

from __future__ import annotations

import functools
import math
import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import Column

__all__ = [
    "DEFAULT_TIME_ZONE",
    "decimal",
    "event_time",
    "fraud_label",
    "fraud_label_column",
    "fraud_labels",
    "time_zone",
    "whole_number",
]

DEFAULT_TIME_ZONE = "Asia/Jakarta"

_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_TIME = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[T ](?P<clock>\d{2}:\d{2}(?::\d{2})?)"
    r"(?:\.(?P<fraction>\d+))?\s*(?P<zone>Z|[+-]\d{2}(?::?\d{2})?|UTC)?",
    re.IGNORECASE,
)


def decimal(text: str) -> float | None:
    """The finite number a field writes with a decimal point, or None (commas, words, nan).

    >>> decimal(" 184929 "), decimal("1e3"), decimal(""), decimal("1_000")
    (184929.0, 1000.0, None, None)
    """
    stripped = text.strip()
    if not _DECIMAL.fullmatch(stripped):
        return None
    value = float(stripped)
    return value if math.isfinite(value) else None


def whole_number(text: str) -> int | None:
    """The integer a field writes ("2", "2.0"), or None when it is not a whole number.

    >>> whole_number("2"), whole_number("2.0"), whole_number("2.5"), whole_number("two")
    (2, 2, None, None)
    """
    value = decimal(text)
    if value is None or not value.is_integer():
        return None
    return int(value)


_YES, _NO = ("true", "yes"), ("false", "no")
# the ASCII characters str.strip() takes for blanks, as the Spark form of the rule trims them
_ASCII_BLANKS = "".join(c for c in map(chr, range(128)) if c.isspace())


def fraud_label(text: str) -> bool | None:
    """Whether a label field says fraud: 1 or 0 as a whole number ("1", "1.0", as spreadsheets
    and pandas write it), true/false or yes/no in any case; None for anything else.

    This is the one reading of a yes/no field: the CSV reader's, and the codec's for every
    ``bool`` field of the record contract (truth's ``is_fraud``). :func:`fraud_labels` applies
    it to an Arrow array and :func:`fraud_label_column` is its Spark expression.

    >>> [fraud_label(t) for t in ("1", "1.0", "TRUE", "no", "0.0", "2", "maybe")]
    [True, True, True, False, False, None, None]
    """
    word = text.strip().lower()
    if word in _YES or word in _NO:
        return word in _YES
    number = whole_number(word)
    return None if number not in (0, 1) else number == 1


def fraud_labels(texts: pa.Array | pa.ChunkedArray) -> pa.Array | pa.ChunkedArray:
    """:func:`fraud_label` of each text of an Arrow string array: a boolean array, null where
    the text is null or no label. Each distinct text is read once, by fraud_label itself.

    >>> import pyarrow as pa
    >>> fraud_labels(pa.array(["1", "0", " TRUE", "maybe", None, "1"])).to_pylist()
    [True, False, True, None, None, True]
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    distinct = pc.unique(texts).drop_null()
    verdicts = pa.array([fraud_label(text) for text in distinct.to_pylist()], pa.bool_())
    return pc.take(verdicts, pc.index_in(texts, value_set=distinct))


def fraud_label_column(text: Column) -> Column:
    """:func:`fraud_label` as a Spark expression over a string column: true, false, or null
    where the text is null or no label.

    Built from fraud_label's own words and number pattern; on ASCII text the two agree (Python
    also takes other Unicode blanks around a label, and other Unicode digits, which Spark's
    regular expressions do not).
    """
    from pyspark.sql import functions as F

    blanks = "[" + "".join(f"\\u{ord(c):04x}" for c in _ASCII_BLANKS) + "]"
    word = F.lower(F.regexp_replace(text, f"^{blanks}+|{blanks}+$", ""))
    number = word.try_cast("double")
    return (
        F.when(word.isin(*_YES), True)
        .when(word.isin(*_NO), False)
        .when(word.rlike(f"^(?:{_DECIMAL.pattern})$") & (number == 1), True)
        .when(word.rlike(f"^(?:{_DECIMAL.pattern})$") & (number == 0), False)
    )


@functools.cache
def time_zone(name: str) -> ZoneInfo:
    """The zone of a dataset's naive times; ValueError names an unknown zone.

    >>> time_zone("Asia/Jakarta").key
    'Asia/Jakarta'
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not a time zone name such as Asia/Jakarta") from None


def event_time(text: str, zone: str = DEFAULT_TIME_ZONE) -> float:
    """Unix seconds of a time as the datasets write it; naive times are local to ``zone``.

    ValueError says what is wrong with the text.

    >>> event_time("2026-01-05T00:00:10Z"), event_time("2026-01-05 07:00:10.5+07:00")
    (1767571210.0, 1767571210.5)
    >>> event_time("2026-01-05 00:00:10.1234567", "UTC")
    1767571210.123456
    >>> event_time("05/01/2026 00:00")
    Traceback (most recent call last):
    ValueError: '05/01/2026 00:00' is not a date and time such as 2024-05-09 10:00:01.210
    """
    match = _TIME.fullmatch(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a date and time such as 2024-05-09 10:00:01.210")
    fraction = (match["fraction"] or "")[:6]  # microseconds are as fine as datetime goes
    iso = f"{match['date']}T{match['clock']}" + (f".{fraction}" if fraction else "")
    try:
        parsed = datetime.fromisoformat(iso)
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a valid date and time ({exc})") from None
    zone_text = (match["zone"] or "").upper()
    if zone_text in ("Z", "UTC"):
        parsed = parsed.replace(tzinfo=UTC)
    elif zone_text:
        sign = 1 if zone_text[0] == "+" else -1
        digits = zone_text[1:].replace(":", "")
        minutes = int(digits[:2]) * 60 + int(digits[2:] or 0)
        return parsed.replace(tzinfo=UTC).timestamp() - sign * minutes * 60
    else:
        parsed = parsed.replace(tzinfo=time_zone(zone))
    return parsed.timestamp()
