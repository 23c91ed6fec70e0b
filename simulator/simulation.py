"""One run of a scenario: the world, the SimPy processes, and the messages they produce.

>>> from simulator.scenario import Scenario
>>> tiny = Scenario(name="tiny", description="a tiny shop", minutes=1, seed=1,
...                 world={"customers": 50, "products": 20})
>>> sim = Simulation(tiny, seed=1, start=DEFAULT_START)
>>> [m.stream for m in sim.static_messages()][:2]
['category', 'category']
>>> len(canonical_digest(sim.messages()))
64

Event time is run start + simulated time; ``deliver_at`` is when a message is sent, in simulated
seconds (later than its event time only for late, out-of-order and duplicated deliveries).
Nothing here reads the wall clock.
"""

from __future__ import annotations

import gc
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime

import simpy

from fraudlab.records import Record
from simulator import legit
from simulator.clock import DEFAULT_START, Clock
from simulator.faults import FaultInjector
from simulator.messages import Message, Outbox
from simulator.patterns import PATTERNS
from simulator.scenario import Scenario
from simulator.shop import Shop
from simulator.stock import open_stock
from simulator.world import World, build_world, category_record, customer_record, product_record

STEP_S = 60.0

__all__ = [
    "DEFAULT_START",
    "STEP_S",
    "Message",
    "Simulation",
    "StreamDigest",
    "canonical_digest",
]


class Simulation:
    """A scenario played from a seed and a start time, advanced in steps of simulated time."""

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        start: datetime | None = None,
        minutes: float | None = None,
        restock_plan: Sequence[tuple[float, str]] = (),
    ) -> None:
        """``restock_plan``: (simulated seconds, product id) at which the shop orders one more
        lot (:func:`simulator.stock.open_stock`); a what-if, never a scenario's own run."""
        self.scenario = scenario
        self.seed = seed
        self.clock = Clock(start or DEFAULT_START)
        self.start = self.clock.start
        self.minutes = scenario.minutes if minutes is None else minutes
        if self.minutes <= 0:
            raise ValueError("minutes must be positive")
        self.horizon_s: float = self.minutes * 60.0
        self.world: World = build_world(
            seed, scenario.world.customers, scenario.world.products, self.clock.local_date()
        )
        self.env = simpy.Environment()
        faults = scenario.faults
        self.outbox = Outbox(FaultInjector(faults, seed) if faults.enabled else None)
        self.shop = Shop(self.env, self.world, self.clock, self.outbox)
        traffic = scenario.traffic
        if scenario.inventory.enabled:
            # opening levels go out at 0, after the static data
            open_stock(
                self.shop,
                scenario.inventory,
                traffic.sessions_per_minute + traffic.signups_per_minute,
                restock_plan,
            )
        self.env.process(legit.setup(self.env, self.shop, scenario.traffic))
        self.env.process(legit.signups(self.env, self.shop, scenario.traffic))
        for name, params in scenario.patterns.enabled():
            self.env.process(PATTERNS[name].setup(self.env, self.shop, params))

    def static_records(self) -> list[Record]:
        """Categories, products and customers as they stand at the run's start."""
        ts = self.clock.ts(0.0)
        w = self.world
        records: list[Record] = [category_record(leaf, ts) for leaf in w.leaves]
        records.extend(product_record(item, ts) for item in w.items)
        records.extend(customer_record(person, ts) for person in w.people)
        return records

    def static_messages(self) -> list[Message]:
        """The static data as messages delivered at 0: categories, products, customers."""
        box = Outbox()
        for record in self.static_records():
            box.record(0.0, record)
        return box.due(float("inf"))

    def advance(self, until_s: float) -> list[Message]:
        """Run the simulation up to ``until_s`` (at most the horizon); the messages due before.

        Past the horizon nothing new happens, but held-back (late) messages still fall due, so
        ``advance(float("inf"))`` after the horizon hands out whatever is left.
        """
        target = min(until_s, self.horizon_s)
        if target > self.env.now:
            # Reference counting frees nearly everything a step allocates; the cyclic collector
            # would only walk the large, long-lived world over and over (a fifth of the time).
            collecting = gc.isenabled()
            gc.disable()
            try:
                self.env.run(until=target)
            finally:
                if collecting:
                    gc.enable()
        return self.outbox.due(until_s)

    def messages(self, step_s: float = STEP_S) -> Iterator[Message]:
        """Every message of the run in delivery order: static data first, then the events."""
        yield from self.static_messages()
        t = 0.0
        while t < self.horizon_s:
            t = min(t + step_s, self.horizon_s)
            yield from self.advance(t)
        yield from self.advance(float("inf"))


class StreamDigest:
    """The canonical digest of a message stream, fed as it goes, and its count per stream.

    SHA-256 of each message's stream, delivery time (ms), key and value, length-prefixed, in
    delivery order: the same scenario and seed give the same digest at any speed and however the
    stream is stepped. A producer keeps one over everything it sends (and announces it), so a
    run says which bytes it was made of without being simulated a second time.
    """

    def __init__(self) -> None:
        self._sha = hashlib.sha256()
        self.streams: dict[str, int] = {}

    def add(self, messages: Iterable[Message]) -> None:
        """Feed ``messages``, in delivery order."""
        update = self._sha.update
        streams = self.streams
        for m in messages:
            head = f"{m.stream}\n{round(m.deliver_at * 1000)}\n{len(m.key)}\n{len(m.value)}\n"
            update(head.encode())
            update(m.key)
            update(m.value)
            streams[m.stream] = streams.get(m.stream, 0) + 1

    def hexdigest(self) -> str:
        """SHA-256 (64 hex digits) of what was fed so far."""
        return self._sha.hexdigest()


def canonical_digest(messages: Iterable[Message]) -> str:
    """The :class:`StreamDigest` of ``messages`` (64 hex digits)."""
    digest = StreamDigest()
    digest.add(messages)
    return digest.hexdigest()
