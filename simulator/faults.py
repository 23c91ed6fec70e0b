"""Data faults a scenario can switch on, each recorded as a ``Fault`` in the faults stream.

A fault touches one browsing event or transaction as it leaves the simulation:

- ``late``: delivered after an exponential delay (mean ``late_mean_s``); with the default mean
  about a quarter arrive more than the engine's 2-minute limit late;
- ``out_of_order``: held back a few seconds, so later events overtake it (within the limit);
- ``duplicate``: delivered on time and once more up to half a minute later;
- malformed (``broken_json``, ``wrong_types``, ``invalid_utf8``, ``oversized``, ``missing_ts``):
  the value's bytes are broken in that way and delivered on time.

The fault record itself is delivered when the event happens, keyed by the touched record's id.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

from fraudlab.malformed import MALFORMED_KINDS, malformed_value
from fraudlab.records import Fault

if TYPE_CHECKING:
    from simulator.messages import Outbox

OUT_OF_ORDER_MAX_S = 15.0
DUPLICATE_MAX_S = 30.0


class FaultConfig(BaseModel):
    """Rates (shares of browsing events and transactions) of each kind of data fault."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    late: float = Field(default=0.0, ge=0, le=1)
    late_mean_s: float = Field(default=90.0, gt=0)
    out_of_order: float = Field(default=0.0, ge=0, le=1)
    duplicates: float = Field(default=0.0, ge=0, le=1)
    malformed: float = Field(default=0.0, ge=0, le=1)

    @property
    def enabled(self) -> bool:
        """Whether any fault can happen."""
        return self.late + self.out_of_order + self.duplicates + self.malformed > 0


class FaultInjector:
    """Decides, with its own random stream, which events a fault touches and how."""

    __slots__ = ("_cuts", "config", "rng")

    def __init__(self, config: FaultConfig, seed: int) -> None:
        self.config = config
        self.rng = random.Random(f"{seed}:faults")
        c = config
        self._cuts = (
            c.malformed,
            c.malformed + c.late,
            c.malformed + c.late + c.out_of_order,
            c.malformed + c.late + c.out_of_order + c.duplicates,
        )

    def route(
        self,
        outbox: Outbox,
        now: float,
        stream: str,
        key: bytes,
        value: bytes,
        record_id: str,
        ts: int,
    ) -> None:
        """Queue one event in ``outbox``, faulted or not, with its fault record."""
        rng = self.rng
        r = rng.random()
        malformed, late, disorder, duplicate = self._cuts
        if r >= duplicate:
            outbox.put(now, now, stream, key, value)
            return
        if r < malformed:
            kind = MALFORMED_KINDS[rng.randrange(len(MALFORMED_KINDS))]
            outbox.put(now, now, stream, key, malformed_value(kind, value, rng))
            self._record(outbox, now, stream, record_id, kind, 0, ts)
        elif r < late:
            delay = 1.0 + rng.expovariate(1.0 / self.config.late_mean_s)
            outbox.put(now, now + delay, stream, key, value)
            self._record(outbox, now, stream, record_id, "late", int(delay), ts)
        elif r < disorder:
            delay = rng.uniform(1.0, OUT_OF_ORDER_MAX_S)
            outbox.put(now, now + delay, stream, key, value)
            self._record(outbox, now, stream, record_id, "out_of_order", int(delay), ts)
        else:
            delay = rng.uniform(0.0, DUPLICATE_MAX_S)
            outbox.put(now, now, stream, key, value)
            outbox.put(now, now + delay, stream, key, value)
            self._record(outbox, now, stream, record_id, "duplicate", int(delay), ts)

    @staticmethod
    def _record(
        outbox: Outbox, now: float, stream: str, record_id: str, fault: str, delay: int, ts: int
    ) -> None:
        outbox.record(now, Fault(stream, record_id, fault, delay, ts))
