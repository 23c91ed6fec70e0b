"""Checkout: from a cart to a transaction with payment, promo, shipment and totals.

Amounts are whole rupiah. ``clear_payment`` says whether the money has cleared: "1" for a
settled payment, "0" for a failed one or one still held for review. A promo code applies only
when the session added one (an AP event) and the cart reaches the code's minimum spend.
"""

from __future__ import annotations

import random
from bisect import bisect
from dataclasses import dataclass
from itertools import accumulate

import orjson

from simulator.catalog import Item
from simulator.geography import CITIES, nearest_warehouse_km, point_near
from simulator.population import PAYMENT_METHODS, Person, pick_city

CARDS = ("Credit Card", "Debit Card")
WALLETS = ("Gopay", "OVO", "LinkAja")
HOME_SPREAD_KM = 2.5
DROP_SPREAD_KM = 0.3


@dataclass(frozen=True, slots=True)
class Promo:
    """A promo code: percent off (capped) or a fixed amount, above a minimum spend."""

    code: str
    percent: int
    fixed: int
    cap: int
    min_spend: int
    new_users_only: bool = False

    def discount(self, subtotal: int, fee: int) -> int:
        """The promo amount on a cart of ``subtotal`` with shipment ``fee``."""
        if self.code == "GRATISONGKIR":
            return min(fee, self.cap)
        amount = self.fixed or subtotal * self.percent // 100
        return min(amount, self.cap, subtotal)


PROMOS: dict[str, Promo] = {
    p.code: p
    for p in (
        Promo("PENGGUNABARU", 50, 0, 100_000, 100_000, new_users_only=True),
        Promo("HEMAT10", 10, 0, 50_000, 150_000),
        Promo("GRATISONGKIR", 0, 0, 20_000, 50_000),
        Promo("PAYDAY25", 0, 25_000, 25_000, 200_000),
        Promo("MANTUL15", 15, 0, 75_000, 200_000),
        Promo("FLASH50", 0, 50_000, 50_000, 250_000),
    )
}
REGULAR_PROMOS = ("HEMAT10", "GRATISONGKIR", "PAYDAY25", "MANTUL15")


@dataclass(frozen=True, slots=True)
class Terms:
    """How a visit pays and ships: payment mix, failure and review odds, promo habits."""

    methods: tuple[str, ...]
    methods_cum: tuple[float, ...]
    favourite: float  # chance of paying with the customer's favourite method
    fail: float  # chance a payment attempt fails
    pending: float  # chance a successful payment is held for review
    promo: float  # chance a visit means to use a promo code
    promo_codes: tuple[str, ...]  # codes the visit tries, best first
    far: float  # chance of shipping to another city
    retry: float  # chance of trying again after a failed payment

    def method(self, rng: random.Random, person: Person) -> str:
        """The payment method of one attempt."""
        if rng.random() < self.favourite:
            return person.wallet
        return self.methods[bisect(self.methods_cum, rng.random() * self.methods_cum[-1])]


def terms(
    methods: dict[str, float] | None = None,
    *,
    favourite: float = 0.6,
    fail: float = 0.04,
    pending: float = 0.06,
    promo: float = 0.15,
    promo_codes: tuple[str, ...] = REGULAR_PROMOS,
    far: float = 0.03,
    retry: float = 0.5,
) -> Terms:
    """Terms with the shop's payment mix unless ``methods`` gives another."""
    mix = methods or dict(PAYMENT_METHODS)
    return Terms(
        tuple(mix),
        tuple(accumulate(mix.values())),
        favourite,
        fail,
        pending,
        promo,
        promo_codes,
        far,
        retry,
    )


def shipment_fee(lat: float, long: float, items: int) -> int:
    """Fee in IDR: a base, a step per 150 km from the nearest warehouse, a little per item."""
    steps = int(nearest_warehouse_km(lat, long) // 150)
    return min(60_000, 9_000 + 2_000 * steps + 1_000 * max(0, items - 2))


def best_promo(codes: tuple[str, ...], subtotal: int, fee: int, new_user: bool) -> Promo | None:
    """The first code in ``codes`` the cart qualifies for, or None."""
    for code in codes:
        promo = PROMOS[code]
        if subtotal >= promo.min_spend and (new_user or not promo.new_users_only):
            return promo
    return None


def destination(
    rng: random.Random, person: Person, far: float, drop: tuple[float, float] | None
) -> tuple[float, float]:
    """Where an order ships: a drop point, another city, or (as a rule) near home."""
    if drop is not None:
        return point_near(rng, drop[0], drop[1], DROP_SPREAD_KM)
    if rng.random() < far:
        city = CITIES[pick_city(rng)]
        if city.city == person.city:
            city = CITIES[(person.city_index + 1 + rng.randrange(len(CITIES) - 1)) % len(CITIES)]
        return point_near(rng, city.lat, city.long, 5.0)
    return point_near(rng, person.home_lat, person.home_long, HOME_SPREAD_KM)


def product_metadata(cart: list[tuple[Item, int]], price_factor: float = 1.0) -> tuple[str, int]:
    """The product_metadata JSON of a cart, and its subtotal."""
    lines = []
    subtotal = 0
    for item, quantity in cart:
        price = item.price if price_factor == 1.0 else int(item.price * price_factor)
        subtotal += price * quantity
        lines.append({"product_id": item.id, "quantity": quantity, "item_price": price})
    return orjson.dumps(lines).decode(), subtotal
