"""Bot checkout: scripts buy up popular products at machine speed across many accounts.

Each episode is a bot run: a handful of sessions, seconds apart, on stolen or throwaway
accounts, from desktop browsers; every session is almost only cart, promo and checkout events
(L1) with sub-second to second dwell times, and large quantities of the shop's hottest products.
Legitimate express buyers and flash-sale crowds are fast and L1-heavy too, but not both at once
to this degree.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy
from pydantic import Field, model_validator

from simulator.chains import COMPILED
from simulator.checkout import terms
from simulator.patterns.base import PatternParams, episodes
from simulator.sessions import Visit, session
from simulator.shop import Shop

NAME = "bot_checkout"
PAYMENT_MIX = {"Credit Card": 0.35, "Gopay": 0.25, "OVO": 0.2, "Debit Card": 0.2}
CODES = ("FLASH50", "MANTUL15", "HEMAT10")
BOT_DEVICES = (("Linux", "WEB"), ("Windows", "WEB"), ("Android", "WEB"))
NEW_ACCOUNT_SHARE = 0.3
SPEED = 0.08
SESSION_GAP_S = (3.0, 30.0)


class Params(PatternParams):
    """Bot checkout: bot runs per minute and sessions per run."""

    rate: float = Field(default=0.09, ge=0)
    sessions_min: int = Field(default=2, ge=1)
    sessions_max: int = Field(default=6, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> Params:
        if self.sessions_max < self.sessions_min:
            raise ValueError("sessions_max must be >= sessions_min")
        return self


def setup(env: simpy.Environment, shop: Shop, params: Params) -> Generator[Any, Any, None]:
    """Run bot-checkout runs for the whole run."""
    rng = shop.rng(NAME)
    pay = terms(
        PAYMENT_MIX, favourite=0.2, fail=0.12, pending=0.15, promo=0.5, promo_codes=CODES, far=0.25
    )
    people = shop.world.people

    def run(n: int) -> Generator[Any, Any, None]:
        erng = shop.rng(f"{NAME}:{n}")
        device, traffic = BOT_DEVICES[erng.randrange(len(BOT_DEVICES))]
        for _ in range(erng.randint(params.sessions_min, params.sessions_max)):
            if erng.random() < NEW_ACCOUNT_SHARE:
                person = shop.open_account(f"{NAME}:account")
            else:
                person = people[erng.randrange(len(people))]
            visit = Visit(
                person=person,
                rng=erng,
                device=device,
                traffic=traffic,
                chain=COMPILED["bot"],
                speed=SPEED * erng.uniform(0.5, 2.0),
                shelf=shop.world.shelves["hot"],
                more=0.55,
                terms=pay,
                label=NAME,
                wants_promo=erng.random() < pay.promo,
            )
            env.process(session(shop, visit))
            yield env.timeout(erng.uniform(*SESSION_GAP_S))

    yield from episodes(env, shop, params, rng, lambda n: env.process(run(n)))
