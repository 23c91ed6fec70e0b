"""Simulated time to event time: run start + simulated seconds, in whole milliseconds.

The simulation never reads the wall clock; the run's start is given (or :data:`DEFAULT_START`).
Customers live in Western Indonesian Time (UTC+7), which drives the daily cycle.

>>> clock = Clock(DEFAULT_START)
>>> clock.stamp(61.5)
(1767571261, '2026-01-05T00:01:01.500Z')
>>> clock.local_hour(0.0)
7.0
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

DEFAULT_START = datetime(2026, 1, 5, 0, 0, 0, tzinfo=UTC)
LOCAL_UTC_OFFSET_H = 7  # WIB


def parse_start(text: str) -> datetime:
    """A run start from ISO 8601 text; a time without a zone is taken as UTC."""
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Clock:
    """Turns simulated seconds into ``ts`` (Unix seconds) and ISO event-time strings."""

    __slots__ = ("_prefix", "_second", "start", "start_ms")
    _prefix: bytes

    def __init__(self, start: datetime) -> None:
        self.start = start if start.tzinfo else start.replace(tzinfo=UTC)
        self.start_ms = round(self.start.timestamp() * 1000)
        self._second = -1
        self._prefix = b""

    def ts(self, now: float) -> int:
        """The Unix timestamp (seconds) of simulated time ``now``."""
        return (self.start_ms + int(now * 1000)) // 1000

    def stamp(self, now: float) -> tuple[int, str]:
        """``ts`` and the ISO 8601 UTC event time (milliseconds) of simulated time ``now``."""
        second, when = self.stamp_bytes(now)
        return second, when.decode()

    def stamp_bytes(self, now: float) -> tuple[int, bytes]:
        """Like :meth:`stamp`, with the event time as ASCII bytes (for message templates)."""
        ms = self.start_ms + int(now * 1000)
        return ms // 1000, b"%s.%03dZ" % (self.second_prefix(ms // 1000), ms % 1000)

    def second_prefix(self, second: int) -> bytes:
        """``YYYY-MM-DDTHH:MM:SS`` of a Unix second, as ASCII bytes."""
        # the shop's events arrive in time order, many within a second: remember the last one
        if second != self._second:
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second)).encode()
        return self._prefix

    def local_hour(self, now: float) -> float:
        """Hour of the day (0-24, fractional) in the customers' time zone."""
        seconds = (self.start_ms // 1000 + int(now) + LOCAL_UTC_OFFSET_H * 3600) % 86_400
        return seconds / 3600.0

    def local_date(self) -> date:
        """The customers' calendar date at the run's start."""
        return (self.start + timedelta(hours=LOCAL_UTC_OFFSET_H)).date()
