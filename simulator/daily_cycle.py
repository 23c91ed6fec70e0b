"""The shop's day: how busy each local hour is relative to the daily average.

>>> round(activity(20.5), 2)
1.81
>>> round(sum(activity(h) for h in range(24)) / 24, 2)
1.0
"""

from __future__ import annotations

# visits per hour relative to the daily average, by local hour (WIB): quiet before dawn,
# a lunchtime bump, the evening peak
# fmt: off
HOURLY: tuple[float, ...] = (
    0.50, 0.34, 0.22, 0.16, 0.16, 0.28, 0.50, 0.78, 1.00, 1.11, 1.17, 1.23,
    1.33, 1.28, 1.17, 1.11, 1.11, 1.23, 1.39, 1.61, 1.79, 1.84, 1.62, 1.07,
)
# fmt: on
PEAK = max(HOURLY)


def activity(hour: float) -> float:
    """Relative activity at local ``hour`` (0-24), interpolated between hours."""
    low = int(hour) % 24
    share = hour - int(hour)
    return HOURLY[low] * (1 - share) + HOURLY[(low + 1) % 24] * share


def activity_bound(hour_from: float, hour_to: float) -> float:
    """The highest activity between two local hours less than an hour apart."""
    top = max(activity(hour_from), activity(hour_to))
    if int(hour_from) != int(hour_to):  # the span crosses the hour, where the curve may peak
        top = max(top, HOURLY[int(hour_to) % 24])
    return top
