"""Messages leaving the simulation and the outbox that orders them for delivery.

A message is delivered at its ``deliver_at`` (simulated seconds). Most are delivered when they
happen, in the order SimPy produced them; a data fault can hold one back. The outbox keeps the
on-time messages in a list and the held-back ones in a heap, and hands out everything due
before a given time ordered by ``deliver_at`` (on a tie, held-back messages first, then
emission order): the same order whatever steps the simulation is advanced in.
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


# the slots' own setters, which a frozen dataclass's __setattr__ would refuse
new_message = object.__new__
set_deliver_at = Message.__dict__["deliver_at"].__set__
set_stream = Message.__dict__["stream"].__set__
set_key = Message.__dict__["key"].__set__
set_value = Message.__dict__["value"].__set__


def message(deliver_at: float, stream: str, key: bytes, value: bytes) -> Message:
    """``Message(deliver_at, stream, key, value)``, built twice as fast.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``; one
    message per simulated event makes that detour a tenth of the simulator's time, so this sets
    the slots directly.
    """
    m = new_message(Message)
    set_deliver_at(m, deliver_at)
    set_stream(m, stream)
    set_key(m, key)
    set_value(m, value)
    return m


class Outbox:
    """Collects messages as the simulation emits them; hands them out in delivery order."""

    __slots__ = ("_later", "_seq", "faults", "ready")

    def __init__(self, faults: FaultInjector | None = None) -> None:
        # on-time messages, in emission order; appended to directly by the session hot loop
        self.ready: list[Message] = []
        self._later: list[tuple[float, int, Message]] = []
        self._seq = 0
        self.faults = faults

    def put(self, now: float, deliver_at: float, stream: str, key: bytes, value: bytes) -> None:
        """Queue a message emitted at ``now`` for delivery at ``deliver_at`` (>= now)."""
        if deliver_at > now:
            self._seq += 1
            entry = (deliver_at, self._seq, message(deliver_at, stream, key, value))
            heapq.heappush(self._later, entry)
        else:
            self.ready.append(message(now, stream, key, value))

    def record(self, now: float, record: Record) -> None:
        """Queue a record for delivery now (static data, sessions, truth: never faulted)."""
        self.put(now, now, record.STREAM, message_key(record), encode(record))

    def event(
        self, now: float, stream: str, key: bytes, value: bytes, record_id: str, ts: int
    ) -> None:
        """Queue a browsing event or transaction; the scenario's data faults may touch it."""
        if self.faults is None:
            self.ready.append(message(now, stream, key, value))
        else:
            self.faults.route(self, now, stream, key, value, record_id, ts)

    def due(self, until: float) -> list[Message]:
        """Hand out, in delivery order, every queued message due before ``until``."""
        ready, later = self.ready, self._later
        cut = len(ready)
        # on-time messages are in emission order, so their deliver_at never decreases
        while cut and ready[cut - 1].deliver_at >= until:
            cut -= 1
        # in place: running sessions hold a reference to this very list
        head = ready[:cut]
        del ready[:cut]
        if not later or later[0][0] >= until:
            return head
        held = []
        while later and later[0][0] < until:
            held.append(heapq.heappop(later)[2])
        return list(heapq.merge(held, head, key=_delivery_time))

    def pending(self) -> int:
        """How many messages are queued and not yet handed out."""
        return len(self.ready) + len(self._later)


def _delivery_time(m: Message) -> float:
    return m.deliver_at
