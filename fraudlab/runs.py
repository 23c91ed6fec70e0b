"""Run ids: the name of one execution of a scenario (or a replay of a run).

A run id is also part of every topic name (``fraudlab.<run_id>.<stream>``), so it uses only
characters Kafka allows in topic names, and is short enough to leave room for the stream.

>>> validate_run_id("baseline-s7-20261129t101500")
'baseline-s7-20261129t101500'
>>> new_run_id("Card Testing Burst", 7, datetime(2026, 11, 29, 10, 15, tzinfo=UTC), "ab12")
'card-testing-burst-s7-20261129t101500-ab12'
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

from fraudlab.errors import UsageError

RUN_ID_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,127}$")


def validate_run_id(run_id: str) -> str:
    """``run_id`` if it is a valid run id, else a UsageError that says what a run id may hold."""
    if not RUN_ID_PATTERN.fullmatch(run_id):
        raise UsageError(
            f"{run_id!r} is not a valid run id: use 1-128 lower-case letters, digits, '-' or '_', "
            "starting with a letter or digit."
        )
    return run_id


def new_run_id(
    scenario: str, seed: int, now: datetime | None = None, suffix: str | None = None
) -> str:
    """A fresh run id: scenario, seed, wall-clock start and a random suffix.

    Naming a run is not part of the simulated world, so reading the clock here is fine.
    """
    slug = re.sub(r"[^a-z0-9]+", "-", scenario.lower()).strip("-")[:60] or "run"
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dt%H%M%S")
    return validate_run_id(f"{slug}-s{seed}-{stamp}-{suffix or secrets.token_hex(2)}")
