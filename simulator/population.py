"""Customers: who they are (the assignment's columns, a home in Indonesia) and how they shop.

Each customer is drawn from its own random stream (``"{seed}:customer:{n}"``), so a customer
never changes when the population grows, and keeps that stream for its behaviour in the run.
"""

from __future__ import annotations

import random
from bisect import bisect
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import accumulate

from simulator.geography import CITIES, point_near
from simulator.names import EMAIL_DOMAINS, FAMILY_NAMES, FEMALE_NAMES, MALE_NAMES

FIRST_CUSTOMER_ID = 1_001
OLDEST_ACCOUNT = date(2016, 1, 1)

# device type -> traffic sources it uses, as (source, weight)
# fmt: off
DEVICES: tuple[tuple[str, float], ...] = (
    ("Android", 0.55), ("iOS", 0.25), ("Windows", 0.12), ("macOS", 0.06), ("Linux", 0.02),
)
# fmt: on
MOBILE_DEVICES = frozenset({"Android", "iOS"})
_DEVICE_CUM = tuple(accumulate(w for _, w in DEVICES))
_CITY_CUM = tuple(accumulate(c.weight for c in CITIES))

# the shop's payment mix; each customer also has a favourite method
# fmt: off
PAYMENT_METHODS: tuple[tuple[str, float], ...] = (
    ("Gopay", 0.32), ("OVO", 0.22), ("Debit Card", 0.18), ("Credit Card", 0.16), ("LinkAja", 0.12),
)
# fmt: on
_PAYMENT_CUM = tuple(accumulate(w for _, w in PAYMENT_METHODS))


@dataclass(frozen=True, slots=True)
class Persona:
    """A kind of legitimate shopper: how often, how fast and how they buy."""

    name: str
    share: float  # of the population
    activity: float  # relative visit rate
    buy: float  # chance a session means to buy
    promo: float  # chance a purchase applies a promo code
    far: float  # chance a purchase ships far from home
    spend: float  # multiplier on quantities and the price band sought
    speed: float  # multiplier on dwell times (lower is faster)
    new_device: float  # chance a session comes from a device never used before


# fmt: off
PERSONAS: tuple[Persona, ...] = (
    Persona("regular", 0.52, 1.0, 0.30, 0.15, 0.03, 1.0, 1.0, 0.02),
    Persona("loyal", 0.12, 3.5, 0.55, 0.10, 0.02, 1.1, 0.6, 0.01),
    Persona("window_shopper", 0.17, 1.2, 0.05, 0.10, 0.02, 0.8, 1.4, 0.02),
    Persona("big_spender", 0.05, 1.2, 0.45, 0.05, 0.08, 3.0, 0.8, 0.05),
    Persona("promo_hunter", 0.08, 1.5, 0.40, 0.85, 0.04, 0.7, 0.8, 0.04),
    Persona("traveller", 0.04, 1.0, 0.35, 0.15, 0.30, 1.3, 0.9, 0.12),
    Persona("bargain_bulk", 0.02, 1.0, 0.50, 0.40, 0.05, 2.0, 0.5, 0.03),
)
# fmt: on
_PERSONA_CUM = tuple(accumulate(p.share for p in PERSONAS))


@dataclass(frozen=True, slots=True)
class Person:
    """One customer: the record's fields, a home, a persona and a private random stream."""

    index: int
    customer_id: str
    first_name: str
    last_name: str
    username: str
    email: str
    gender: str
    birthdate: str
    first_join_date: str
    account_days: int  # account age in days at the run's start
    province: str
    city: str
    city_index: int
    home_lat: float
    home_long: float
    persona: Persona
    weight: float
    speed: float
    devices: tuple[tuple[str, str], ...]
    wallet: str
    rng: random.Random


def pick_device(rng: random.Random) -> tuple[str, str]:
    """A (device_type, traffic_source) pair with the shop's device mix."""
    device = DEVICES[bisect(_DEVICE_CUM, rng.random() * _DEVICE_CUM[-1])][0]
    if device in MOBILE_DEVICES:
        return device, "MOBILE" if rng.random() < 0.8 else "WEB"
    return device, "WEB"


def pick_payment(rng: random.Random) -> str:
    """A payment method with the shop's payment mix."""
    return PAYMENT_METHODS[bisect(_PAYMENT_CUM, rng.random() * _PAYMENT_CUM[-1])][0]


def pick_city(rng: random.Random) -> int:
    """A city index, weighted by population."""
    return bisect(_CITY_CUM, rng.random() * _CITY_CUM[-1])


def make_person(
    index: int,
    seed: int,
    today: date,
    *,
    joined_today: bool = False,
    city_index: int | None = None,
    persona: Persona | None = None,
    kind: str = "customer",
) -> Person:
    """Customer number ``index`` of ``seed``; ``joined_today`` makes a brand-new account."""
    rng = random.Random(f"{seed}:{kind}:{index}")
    gender = "F" if rng.random() < 0.55 else "M"
    first = rng.choice(FEMALE_NAMES if gender == "F" else MALE_NAMES)
    last = rng.choice(FAMILY_NAMES)
    cid = str(FIRST_CUSTOMER_ID + index)
    # ages cluster in the twenties and thirties, as in Indonesian e-commerce
    age = min(70, max(17, int(rng.lognormvariate(3.35, 0.28))))
    birth = today - timedelta(days=int(age * 365.25) + rng.randrange(365))
    if joined_today:
        joined = today
    else:
        span = (today - OLDEST_ACCOUNT).days
        # more recent accounts are more common: the shop keeps growing
        joined = today - timedelta(days=1 + int(span * rng.random() ** 1.6))
    c = pick_city(rng) if city_index is None else city_index
    home_lat, home_long = point_near(rng, CITIES[c].lat, CITIES[c].long, 6.0)
    if persona is None:
        persona = PERSONAS[bisect(_PERSONA_CUM, rng.random() * _PERSONA_CUM[-1])]
    devices = [pick_device(rng)]
    if rng.random() < 0.35:
        devices.append(pick_device(rng))
    handle = f"{first.lower()}{last.lower()[: rng.randint(0, 5)]}{rng.randint(1, 999)}"
    return Person(
        index=index,
        customer_id=cid,
        first_name=first,
        last_name=last,
        username=handle,
        email=f"{handle}@{rng.choice(EMAIL_DOMAINS)}",
        gender=gender,
        birthdate=birth.isoformat(),
        first_join_date=joined.isoformat(),
        account_days=(today - joined).days,
        province=CITIES[c].province,
        city=CITIES[c].city,
        city_index=c,
        home_lat=round(home_lat, 6),
        home_long=round(home_long, 6),
        persona=persona,
        weight=persona.activity * rng.lognormvariate(0.0, 0.6),
        speed=persona.speed * rng.lognormvariate(0.0, 0.3),
        devices=tuple(dict.fromkeys(devices)),
        wallet=pick_payment(rng),
        rng=rng,
    )
