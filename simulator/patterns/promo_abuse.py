"""Promo abuse: one person opens fresh accounts to farm new-user and other promo codes.

Each episode is a fraudster who, from one device, opens a few accounts minutes apart; each new
account goes to the promo page, adds a code, fills a cart just above the minimum spend, pays by
e-wallet and ships to one of the fraudster's own addresses (whatever home the account gave).
Legitimate new users also take the welcome code and promo hunters chase every code.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy
from pydantic import Field, model_validator

from simulator.chains import COMPILED
from simulator.checkout import PROMOS, terms
from simulator.geography import CITIES, point_near
from simulator.patterns.base import PatternParams, episodes
from simulator.population import pick_city, pick_device
from simulator.sessions import Visit, session
from simulator.shop import Shop

NAME = "promo_abuse"
WALLETS = {"Gopay": 0.45, "OVO": 0.35, "LinkAja": 0.2}
CODES = ("PENGGUNABARU", "MANTUL15", "HEMAT10")
ACCOUNT_GAP_S = (60.0, 300.0)
FAKE_HOME_SHARE = 0.5  # accounts that give a home away from the fraudster's city
SPEED = 0.5


class Params(PatternParams):
    """Promo abuse: episodes per minute and accounts opened per episode."""

    rate: float = Field(default=0.2, ge=0)
    accounts_min: int = Field(default=2, ge=1)
    accounts_max: int = Field(default=5, ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> Params:
        if self.accounts_max < self.accounts_min:
            raise ValueError("accounts_max must be >= accounts_min")
        return self


def setup(env: simpy.Environment, shop: Shop, params: Params) -> Generator[Any, Any, None]:
    """Run promo-abuse episodes for the whole run."""
    rng = shop.rng(NAME)
    pay = terms(WALLETS, favourite=0.0, fail=0.03, pending=0.12, promo=1.0, promo_codes=CODES)

    def farm(n: int) -> Generator[Any, Any, None]:
        erng = shop.rng(f"{NAME}:{n}")
        city = pick_city(erng)
        drop = point_near(erng, CITIES[city].lat, CITIES[city].long, 4.0)
        device, traffic = pick_device(erng)
        for _ in range(erng.randint(params.accounts_min, params.accounts_max)):
            home = None if erng.random() < FAKE_HOME_SHARE else city
            person = shop.open_account(f"{NAME}:account", city_index=home)
            visit = Visit(
                person=person,
                rng=erng,
                device=device,
                traffic=traffic,
                chain=COMPILED["promo"],
                speed=SPEED * erng.uniform(0.5, 1.5),
                shelf=shop.world.shelves["all" if erng.random() < 0.5 else "cheap"],
                more=0.15,
                terms=pay,
                label=NAME,
                drop=drop,
                new_user=True,
                wants_promo=True,
                min_spend=PROMOS[CODES[0]].min_spend,
            )
            env.process(session(shop, visit))
            yield env.timeout(erng.uniform(*ACCOUNT_GAP_S))

    yield from episodes(env, shop, params, rng, lambda n: env.process(farm(n)))
