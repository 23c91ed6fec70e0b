"""The running shop: the SimPy environment, the world, the clock and the outbox, shared by the
legitimate traffic and every fraud pattern.

Ids are handed out in the order SimPy runs the processes, which is deterministic, so the same
scenario and seed always name the same sessions, transactions and new accounts. The shop holds
its products' stock (:mod:`simulator.stock`) when the scenario keeps it.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

import simpy

from fraudlab.records import CustomerSession
from simulator.clock import Clock
from simulator.messages import Outbox
from simulator.population import Person, Persona, make_person
from simulator.world import World, customer_record

if TYPE_CHECKING:
    from simulator.stock import Stock

SESSION_JSON = b'{"session_id":"%s","customer_id":"%s","ts":%d}'


class Shop:
    """What every actor of a run shares; ``process`` starts a SimPy process in it."""

    __slots__ = (
        "accounts",
        "clock",
        "env",
        "outbox",
        "seed",
        "sessions",
        "stock",
        "transactions",
        "world",
    )

    def __init__(self, env: simpy.Environment, world: World, clock: Clock, outbox: Outbox) -> None:
        self.env = env
        self.world = world
        self.clock = clock
        self.outbox = outbox
        self.seed = world.seed
        self.sessions = 0
        self.transactions = 0
        # accounts opened during the run, after the world's customers
        self.accounts: list[Person] = []
        # every product's stock; None when the scenario turns stock off
        self.stock: Stock | None = None

    def rng(self, actor: str) -> random.Random:
        """The private random stream of a named actor of this run."""
        return random.Random(f"{self.seed}:{actor}")

    def open_session(self, person: Person) -> str:
        """A new session id for ``person``, announced on the customer_session stream."""
        self.sessions += 1
        session_id = f"S{self.sessions:08d}"
        now = self.env.now
        key = session_id.encode()
        # byte for byte encode(CustomerSession(...)): one per session, so worth the shortcut
        value = SESSION_JSON % (key, person.customer_id.encode(), self.clock.ts(now))
        self.outbox.put(now, now, CustomerSession.STREAM, key, value)
        return session_id

    def next_transaction_id(self) -> str:
        """A new transaction id."""
        self.transactions += 1
        return f"T{self.transactions:08d}"

    def open_account(
        self, kind: str, city_index: int | None = None, persona: Persona | None = None
    ) -> Person:
        """A customer who signs up now (``kind`` names whose random stream draws them)."""
        index = len(self.world.people) + len(self.accounts)
        person = make_person(
            index,
            self.seed,
            self.world.today,
            joined_today=True,
            city_index=city_index,
            persona=persona,
            kind=kind,
        )
        self.accounts.append(person)
        now = self.env.now
        self.outbox.record(now, customer_record(person, self.clock.ts(now)))
        return person
