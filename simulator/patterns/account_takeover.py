"""Account takeover: a dormant account wakes up on a new device and buys dear things, fast.

Each episode takes an account that has been quiet (a rarely active customer who joined over a
year ago), comes in from a device and often a traffic source the account never used, goes
quickly to expensive items and ships them, as a rule, far from the account's home. Legitimate
customers also get new phones, travel, and splash out; rarely all at once.
"""

from __future__ import annotations

from collections.abc import Generator
from datetime import date
from typing import Any

import simpy
from pydantic import Field

from simulator.chains import COMPILED
from simulator.checkout import terms
from simulator.patterns.base import PatternParams, device_for, episodes
from simulator.sessions import Visit, session
from simulator.shop import Shop

NAME = "account_takeover"
DORMANT_SHARE = 0.3  # the least active share of customers counts as dormant
MIN_ACCOUNT_DAYS = 365
NEW_DEVICE_SHARE = 0.85
SPEED = 0.45
PAYMENT_MIX = {"Credit Card": 0.4, "Gopay": 0.25, "OVO": 0.2, "Debit Card": 0.15}


class Params(PatternParams):
    """Account takeover: episodes per minute and the share of orders shipped far away."""

    rate: float = Field(default=0.38, ge=0)
    far: float = Field(default=0.75, ge=0, le=1)


def setup(env: simpy.Environment, shop: Shop, params: Params) -> Generator[Any, Any, None]:
    """Run account-takeover episodes for the whole run."""
    rng = shop.rng(NAME)
    world = shop.world
    ranked = sorted(world.people, key=lambda p: (p.weight, p.index))
    quiet = ranked[: max(1, int(len(ranked) * DORMANT_SHARE))]
    dormant = [
        p
        for p in quiet
        if (world.today - date.fromisoformat(p.first_join_date)).days >= MIN_ACCOUNT_DAYS
    ] or quiet
    pay = terms(PAYMENT_MIX, favourite=0.3, fail=0.1, pending=0.25, promo=0.05, far=params.far)

    def begin(n: int) -> None:
        erng = shop.rng(f"{NAME}:{n}")
        person = dormant[erng.randrange(len(dormant))]
        device, traffic = device_for(erng, person, NEW_DEVICE_SHARE)
        visit = Visit(
            person=person,
            rng=erng,
            device=device,
            traffic=traffic,
            chain=COMPILED["direct"],
            speed=SPEED * erng.uniform(0.5, 1.5),
            shelf=world.shelves["dear" if erng.random() < 0.7 else "all"],
            more=0.3,
            terms=pay,
            label=NAME,
            wants_promo=erng.random() < pay.promo,
        )
        env.process(session(shop, visit))

    yield from episodes(env, shop, params, rng, begin)
