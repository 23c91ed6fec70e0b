"""Legitimate traffic: customers arrive with the daily cycle (and surges), and sign up.

Each arrival picks a customer by how often they visit and plays a session shaped by their
persona (see :mod:`simulator.population`). Legitimate behaviour is deliberately varied so that
it sometimes looks like each fraud pattern: travellers ship far, big spenders buy dear, new users
farm the welcome code, loyal customers check out at speed, some payments fail and are retried.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Generator
from typing import Any

import simpy
from pydantic import BaseModel, ConfigDict, Field, field_validator

from simulator.arrivals import poisson_arrivals
from simulator.chains import COMPILED
from simulator.checkout import PROMOS, REGULAR_PROMOS, Terms, terms
from simulator.daily_cycle import PEAK, activity, activity_bound
from simulator.population import PERSONAS, Person, pick_device
from simulator.sessions import Visit, is_new_user, session
from simulator.shop import Shop


class Surge(BaseModel):
    """A window of extra traffic (a flash sale, a payday): more visits, more buying, a code."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    start_minute: float = Field(..., ge=0)
    minutes: float = Field(..., gt=0)
    factor: float = Field(default=3.0, ge=0)  # visits relative to the usual rate
    buy: float = Field(default=0.6, ge=0, le=1)  # share of visits meant to buy
    promo: float = Field(default=0.5, ge=0, le=1)  # share of buyers adding the surge's promo code
    promo_code: str = "FLASH50"
    discount: float = Field(default=0.2, ge=0, lt=1)  # price reduction during the surge

    @field_validator("promo_code")
    @classmethod
    def _known_code(cls, value: str) -> str:
        if value not in PROMOS:
            raise ValueError(f"must be one of {', '.join(PROMOS)}")
        return value

    def overlaps(self, minute_from: float, minute_to: float) -> bool:
        """Whether the surge runs at any time between two minutes."""
        return self.start_minute < minute_to and minute_from < self.start_minute + self.minutes

    def covers(self, minute: float) -> bool:
        """Whether ``minute`` falls in the surge."""
        return self.start_minute <= minute < self.start_minute + self.minutes


# browsing events and transactions per visit, on average (card-testing-burst's first 10
# simulated minutes: 37,130 events from about 4,700 visits)
EVENTS_PER_VISIT = 8.0


class TrafficConfig(BaseModel):
    """Legitimate traffic: visits and sign-ups per minute (daily average), and surges."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sessions_per_minute: float = Field(default=600.0, ge=0)
    signups_per_minute: float = Field(default=3.0, ge=0)
    surges: list[Surge] = []

    def peak_events_per_s(self) -> float:
        """Events (browsing and transactions) per simulated second at the busiest hour of the
        day in the largest surge: what an engine must keep up with at speed 1, from above.

        >>> round(TrafficConfig(sessions_per_minute=600).peak_events_per_s())
        147
        """
        factor = max([1.0, *(s.factor for s in self.surges)])
        return self.sessions_per_minute / 60 * PEAK * factor * EVENTS_PER_VISIT

    def surge_at(self, minute: float) -> Surge | None:
        """The surge running at ``minute``, if any."""
        for surge in self.surges:
            if surge.covers(minute):
                return surge
        return None


# each persona's way of paying, precomputed once
PERSONA_TERMS: dict[str, Terms] = {
    p.name: terms(promo=p.promo, far=p.far, fail=0.05 if p.name == "traveller" else 0.04)
    for p in PERSONAS
}
NEW_USER_TERMS: dict[str, Terms] = {
    p.name: terms(promo=max(p.promo, 0.6), promo_codes=("PENGGUNABARU", *REGULAR_PROMOS), far=p.far)
    for p in PERSONAS
}


def legit_visit(shop: Shop, person: Person, surge: Surge | None) -> Visit:
    """The visit a customer makes now, shaped by persona, history and any surge."""
    rng = person.rng
    persona = person.persona
    r = rng.random()
    if r < persona.new_device:
        device, traffic = pick_device(rng)
    elif len(person.devices) > 1 and r < persona.new_device + 0.3:
        device, traffic = person.devices[1]
    else:
        device, traffic = person.devices[0]
    buying = rng.random() < (surge.buy if surge else persona.buy)
    if not buying:
        chain = COMPILED["browse"]
    elif rng.random() < (0.5 if persona.name == "loyal" else 0.08):
        chain = COMPILED["express"]
    else:
        chain = COMPILED["buy"]
    shelves = shop.world.shelves
    if persona.spend >= 2 and rng.random() < 0.5:
        shelf = shelves["dear"]
    else:
        shelf = shelves[person.gender] if rng.random() < 0.75 else shelves["all"]
    new_user = is_new_user(person)
    t = (NEW_USER_TERMS if new_user else PERSONA_TERMS)[persona.name]
    wants_promo = rng.random() < t.promo
    price_factor = 1.0
    if surge is not None:
        price_factor = 1.0 - surge.discount
        if rng.random() < surge.promo:
            t = terms(promo=1.0, promo_codes=(surge.promo_code, *t.promo_codes), far=t.far)
            wants_promo = True
    return Visit(
        person=person,
        rng=rng,
        device=device,
        traffic=traffic,
        chain=chain,
        speed=person.speed * (0.7 if surge else 1.0),
        shelf=shelf,
        more=min(0.75, 0.15 * persona.spend),
        terms=t,
        new_user=new_user,
        wants_promo=wants_promo,
        price_factor=price_factor,
    )


def _arrivals(
    env: simpy.Environment,
    shop: Shop,
    config: TrafficConfig,
    per_minute: float,
    actor: str,
    visitor: Callable[[random.Random], Person],
) -> Generator[Any, Any, None]:
    rng = shop.rng(actor)
    local_hour = shop.clock.local_hour
    base = per_minute / 60.0

    def rate(t: float) -> float:
        surge = config.surge_at(t / 60.0)
        return base * activity(local_hour(t)) * (surge.factor if surge else 1.0)

    def bound(t0: float, t1: float) -> float:
        factor = max([1.0] + [s.factor for s in config.surges if s.overlaps(t0 / 60, t1 / 60)])
        return base * activity_bound(local_hour(t0), local_hour(t0) + (t1 - t0) / 3600) * factor

    def arrive() -> None:
        person = visitor(rng)
        surge = config.surge_at(env.now / 60.0)
        env.process(session(shop, legit_visit(shop, person, surge)))

    if base > 0:
        yield from poisson_arrivals(env, rng, rate, bound, arrive)


def setup(env: simpy.Environment, shop: Shop, config: TrafficConfig) -> Generator[Any, Any, None]:
    """Visits of existing customers, following the daily cycle and surges."""
    yield from _arrivals(
        env, shop, config, config.sessions_per_minute, "arrivals", shop.world.pick_person
    )


def signups(env: simpy.Environment, shop: Shop, config: TrafficConfig) -> Generator[Any, Any, None]:
    """New customers signing up (more during surges), each starting with a visit."""
    yield from _arrivals(
        env,
        shop,
        config,
        config.signups_per_minute,
        "signups",
        lambda rng: shop.open_account("signup"),
    )
