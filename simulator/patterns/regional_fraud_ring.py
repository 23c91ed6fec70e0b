"""Regional fraud ring: many accounts, mostly living elsewhere, ship to a few drop points.

The ring keeps a handful of drop points within a kilometre or so of each other in one city.
Each episode is one mule or compromised account placing an order of mid-to-high value shipped
to a drop point, sometimes from a device the account never used. Legitimate customers who live
in that city ship to the same neighbourhood; the cluster shows only across many accounts.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import simpy
from pydantic import Field, field_validator

from simulator.chains import COMPILED
from simulator.checkout import terms
from simulator.geography import CITIES, point_near
from simulator.patterns.base import PatternParams, device_for, episodes
from simulator.sessions import Visit, session
from simulator.shop import Shop

NAME = "regional_fraud_ring"
PAYMENT_MIX = {"Gopay": 0.3, "OVO": 0.25, "Credit Card": 0.2, "Debit Card": 0.15, "LinkAja": 0.1}
DROP_CLUSTER_KM = 1.0
NEW_DEVICE_SHARE = 0.4
LOCAL_MULE_SHARE = 0.2  # mules who live in the ring's city
SPEED = 0.7
# cities a ring picks from when the scenario names none: big enough to hide in
DEFAULT_CITIES = tuple(c.city for c in CITIES[3:25])


class Params(PatternParams):
    """Regional fraud ring: orders per minute, the ring's city and its number of drop points."""

    rate: float = Field(default=0.42, ge=0)
    city: str = ""
    drops: int = Field(default=3, ge=1, le=20)

    @field_validator("city")
    @classmethod
    def _known_city(cls, value: str) -> str:
        if value and value not in {c.city for c in CITIES}:
            raise ValueError(f"unknown city {value!r}")
        return value


def setup(env: simpy.Environment, shop: Shop, params: Params) -> Generator[Any, Any, None]:
    """Run the ring's orders for the whole run."""
    rng = shop.rng(NAME)
    name = params.city or DEFAULT_CITIES[rng.randrange(len(DEFAULT_CITIES))]
    city_index = next(i for i, c in enumerate(CITIES) if c.city == name)
    city = CITIES[city_index]
    centre = point_near(rng, city.lat, city.long, 3.0)
    drops = [point_near(rng, centre[0], centre[1], DROP_CLUSTER_KM) for _ in range(params.drops)]
    people = shop.world.people
    locals_ = [p for p in people if p.city_index == city_index] or list(people)
    pay = terms(PAYMENT_MIX, favourite=0.3, fail=0.06, pending=0.2, promo=0.1)

    def begin(n: int) -> None:
        erng = shop.rng(f"{NAME}:{n}")
        pool = locals_ if erng.random() < LOCAL_MULE_SHARE else people
        person = pool[erng.randrange(len(pool))]
        device, traffic = device_for(erng, person, NEW_DEVICE_SHARE)
        visit = Visit(
            person=person,
            rng=erng,
            device=device,
            traffic=traffic,
            chain=COMPILED["direct" if erng.random() < 0.5 else "buy"],
            speed=SPEED * erng.uniform(0.5, 1.5),
            shelf=shop.world.shelves["dear" if erng.random() < 0.5 else "all"],
            more=0.3,
            terms=pay,
            label=NAME,
            drop=drops[erng.randrange(len(drops))],
            wants_promo=erng.random() < pay.promo,
        )
        env.process(session(shop, visit))

    yield from episodes(env, shop, params, rng, begin)
