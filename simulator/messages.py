"""Messages leaving the simulation and the outbox that orders them for delivery.

A message is delivered at its ``deliver_at`` (simulated seconds). Most are delivered when they
happen, in the order SimPy produced them; a data fault can hold one back. The outbox keeps the
on-time messages in a list and the held-back ones in a heap, and hands out everything due
before a given time in ``(deliver_at, emission order)``: the same order whatever steps the
simulation is advanced in.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass
from typing import TYPE_CHECKING

from fraudlab.codec import encode
from fraudlab.records import Record, message_key

if TYPE_CHECKING:
    from simulator.faults import FaultInjector


@dataclass(frozen=True, slots=True)
class Message:
    """One message for a stream: when it is sent, its key and its value."""

    deliver_at: float  # simulated seconds since run start at which the message is sent
    stream: str  # a stream name from fraudlab.records.STREAMS
    key: bytes  # fraudlab.records.message_key(record)
    value: bytes  # fraudlab.codec.encode(record), or the broken bytes of a malformed record


class Outbox:
    """Collects messages as the simulation emits them; hands them out in delivery order."""

    __slots__ = ("_later", "_ready", "_seq", "faults")

    def __init__(self, faults: FaultInjector | None = None) -> None:
        self._ready: list[tuple[float, int, Message]] = []
        self._later: list[tuple[float, int, Message]] = []
        self._seq = 0
        self.faults = faults

    def put(self, now: float, deliver_at: float, stream: str, key: bytes, value: bytes) -> None:
        """Queue a message emitted at ``now`` for delivery at ``deliver_at`` (>= now)."""
        self._seq += 1
        entry = (deliver_at, self._seq, Message(deliver_at, stream, key, value))
        if deliver_at > now:
            heapq.heappush(self._later, entry)
        else:
            self._ready.append(entry)

    def record(self, now: float, record: Record) -> None:
        """Queue a record for delivery now (static data, sessions, truth: never faulted)."""
        self.put(now, now, record.STREAM, message_key(record), encode(record))

    def event(
        self, now: float, stream: str, key: bytes, value: bytes, record_id: str, ts: int
    ) -> None:
        """Queue a browsing event or transaction; the scenario's data faults may touch it."""
        if self.faults is None:
            self._seq += 1
            self._ready.append((now, self._seq, Message(now, stream, key, value)))
        else:
            self.faults.route(self, now, stream, key, value, record_id, ts)

    def due(self, until: float) -> list[Message]:
        """Hand out, in delivery order, every queued message due before ``until``."""
        ready, later = self._ready, self._later
        cut = len(ready)
        # on-time messages are in emission order, so their deliver_at never decreases
        while cut and ready[cut - 1][0] >= until:
            cut -= 1
        head, self._ready = ready[:cut], ready[cut:]
        if not later or later[0][0] >= until:
            return [entry[2] for entry in head]
        held = []
        while later and later[0][0] < until:
            held.append(heapq.heappop(later))
        return [entry[2] for entry in heapq.merge(head, held)]

    def pending(self) -> int:
        """How many messages are queued and not yet handed out."""
        return len(self._ready) + len(self._later)
