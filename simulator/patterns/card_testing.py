"""Card testing: a fraudster checks stolen cards with bursts of small payments, many failing.

Each episode takes one account (an existing customer's, or one opened for the purpose), usually
from a device the account has not used, and tries several cards in a row on one cheap item:
short, fast sessions straight to checkout, card payments, a high failure rate, payments held
for review. Legitimate customers also retry failed card payments and buy cheap things; what
gives card testing away is the combination.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy
from pydantic import Field, model_validator

from simulator.chains import COMPILED
from simulator.checkout import terms
from simulator.patterns.base import PatternParams, device_for, episodes
from simulator.sessions import Visit, session
from simulator.shop import Shop

NAME = "card_testing"
CARD_MIX = {"Credit Card": 0.65, "Debit Card": 0.25, "Gopay": 0.1}
NEW_ACCOUNT_SHARE = 0.35
NEW_DEVICE_SHARE = 0.7
SPEED = 0.35
ATTEMPT_S = (8.0, 45.0)


class Params(PatternParams):
    """Card testing: episodes per minute, cards tried per episode, share of tries that fail."""

    rate: float = Field(default=0.14, ge=0)
    attempts_min: int = Field(default=3, ge=1)
    attempts_max: int = Field(default=8, ge=1)
    fail: float = Field(default=0.55, ge=0, le=1)

    @model_validator(mode="after")
    def _ordered(self) -> Params:
        if self.attempts_max < self.attempts_min:
            raise ValueError("attempts_max must be >= attempts_min")
        return self


def setup(env: simpy.Environment, shop: Shop, params: Params) -> Generator[Any, Any, None]:
    """Run card-testing episodes for the whole run."""
    rng = shop.rng(NAME)
    pay = terms(CARD_MIX, favourite=0.0, fail=params.fail, pending=0.3, far=0.08, retry=0.0)
    people = shop.world.people

    def begin(n: int) -> None:
        erng = shop.rng(f"{NAME}:{n}")
        if erng.random() < NEW_ACCOUNT_SHARE:
            person = shop.open_account(f"{NAME}:account")
        else:
            person = people[erng.randrange(len(people))]
        device, traffic = device_for(erng, person, NEW_DEVICE_SHARE)
        visit = Visit(
            person=person,
            rng=erng,
            device=device,
            traffic=traffic,
            chain=COMPILED["probe"],
            speed=SPEED * erng.uniform(0.6, 1.6),
            shelf=shop.world.shelves["cheap"],
            more=0.0,
            terms=pay,
            label=NAME,
            attempts=erng.randint(params.attempts_min, params.attempts_max),
            attempt_s=ATTEMPT_S,
        )
        env.process(session(shop, visit))

    yield from episodes(env, shop, params, rng, begin)
