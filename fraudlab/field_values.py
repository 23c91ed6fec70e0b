"""Reading the string fields of input records: decimal numbers and event times.

Input records keep every field as the string their file wrote; whoever needs a value reads it
here, so that the CSV reader's checks and the parts that compute with the values agree on what a
number and a time are.

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
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

__all__ = [
    "DEFAULT_TIME_ZONE",
    "decimal",
    "event_time",
    "fraud_label",
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


def fraud_label(text: str) -> bool | None:
    """Whether a label field says fraud: 1 or 0 as a whole number ("1", "1.0", as spreadsheets
    and pandas write it), true/false or yes/no in any case; None for anything else.

    >>> [fraud_label(t) for t in ("1", "1.0", "TRUE", "no", "0.0", "2", "maybe")]
    [True, True, True, False, False, None, None]
    """
    word = text.strip().lower()
    if word in _YES or word in _NO:
        return word in _YES
    number = whole_number(word)
    return None if number not in (0, 1) else number == 1


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
