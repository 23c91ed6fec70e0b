"""High-value spike: compromised customers whose order values jump for a while.

At the start of the run a number of customers are compromised; for the rest of the run their
accounts place orders that look like theirs (their own device, as a rule, and an ordinary way of
browsing) but buy dear items in several units, mostly by card, often held for review and
sometimes shipped away from home. Legitimate big spenders and bulk buyers overlap with it.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy
from pydantic import Field

from simulator.chains import COMPILED
from simulator.checkout import terms
from simulator.patterns.base import PatternParams, episodes, novel_device
from simulator.sessions import Visit, session
from simulator.shop import Shop

NAME = "high_value_spike"
PAYMENT_MIX = {"Credit Card": 0.55, "Debit Card": 0.15, "Gopay": 0.15, "OVO": 0.15}
OWN_DEVICE_SHARE = 0.75
SPEED = 0.8


class Params(PatternParams):
    """High-value spike: orders per minute, customers compromised, share shipped far away."""

    rate: float = Field(default=0.34, ge=0)
    customers: int = Field(default=25, ge=1)
    far: float = Field(default=0.35, ge=0, le=1)


def setup(env: simpy.Environment, shop: Shop, params: Params) -> Generator[Any, Any, None]:
    """Run the compromised customers' orders for the whole run."""
    rng = shop.rng(NAME)
    people = shop.world.people
    chosen = rng.sample(range(len(people)), min(params.customers, len(people)))
    victims = [people[i] for i in sorted(chosen)]
    pay = terms(PAYMENT_MIX, favourite=0.3, fail=0.05, pending=0.35, promo=0.0, far=params.far)

    def begin(n: int) -> None:
        erng = shop.rng(f"{NAME}:{n}")
        person = victims[erng.randrange(len(victims))]
        if erng.random() < OWN_DEVICE_SHARE:
            device, traffic = person.devices[0]
        else:
            device, traffic = novel_device(erng, person)
        visit = Visit(
            person=person,
            rng=erng,
            device=device,
            traffic=traffic,
            chain=COMPILED["buy" if erng.random() < 0.6 else "direct"],
            speed=person.speed * SPEED,
            shelf=shop.world.shelves["dear"],
            more=0.6,
            terms=pay,
            label=NAME,
        )
        env.process(session(shop, visit))

    yield from episodes(env, shop, params, rng, begin)
