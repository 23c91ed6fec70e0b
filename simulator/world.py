"""The static world of a run: customers, the category tree, products, and lookup tables.

Everything here is a pure function of the seed, the sizes and the run's start date. The lookup
tables (cumulative weights for :func:`bisect`) are built once so that picking a product in the
hot loop of a session is one random draw and one bisection.
"""

from __future__ import annotations

import random
from bisect import bisect
from dataclasses import dataclass
from datetime import date
from itertools import accumulate

from fraudlab.records import Category, Customer, Product
from simulator.catalog import CategoryLeaf, Item, category_leaves, make_product
from simulator.population import Person, make_person

CHEAP_PRICE = 100_000
DEAR_PRICE = 500_000
HOT_PRODUCTS = 30


@dataclass(frozen=True, slots=True)
class Shelf:
    """Products to pick from, with cumulative popularity weights."""

    items: tuple[Item, ...]
    cum: tuple[float, ...]

    def pick(self, rng: random.Random) -> Item:
        """A product, more popular ones more often."""
        return self.items[bisect(self.cum, rng.random() * self.cum[-1])]


def shelf(items: list[Item], flat: bool = False) -> Shelf:
    """A shelf of ``items``; ``flat`` ignores popularity."""
    return Shelf(tuple(items), tuple(accumulate(1.0 if flat else i.popularity for i in items)))


@dataclass(frozen=True, slots=True)
class World:
    """Customers, categories and products of one seed, and the shelves sessions pick from."""

    seed: int
    today: date
    people: tuple[Person, ...]
    leaves: tuple[CategoryLeaf, ...]
    items: tuple[Item, ...]
    shelves: dict[str, Shelf]
    activity_cum: tuple[float, ...]

    def pick_person(self, rng: random.Random) -> Person:
        """A customer, weighted by how often they visit."""
        return self.people[bisect(self.activity_cum, rng.random() * self.activity_cum[-1])]


def build_world(seed: int, customers: int, products: int, today: date) -> World:
    """The world of ``seed`` with ``customers`` customers and ``products`` products."""
    leaves = category_leaves()
    items = tuple(make_product(i, seed, leaves) for i in range(products))
    people = tuple(make_person(i, seed, today) for i in range(customers))
    sellable = [i for i in items if i.price > 1000] or list(items)
    hot = sorted(sellable, key=lambda i: (-i.popularity, i.index))[:HOT_PRODUCTS]
    # a small catalogue may lack some kinds of product: such a shelf falls back to everything
    shelves = {
        "all": shelf(sellable),
        "F": shelf([i for i in sellable if i.gender in ("Women", "Girls", "Unisex")] or sellable),
        "M": shelf([i for i in sellable if i.gender in ("Men", "Boys", "Unisex")] or sellable),
        "cheap": shelf([i for i in sellable if i.price < CHEAP_PRICE] or sellable),
        "dear": shelf([i for i in sellable if i.price >= DEAR_PRICE] or sellable),
        "hot": shelf(hot, flat=True),
    }
    return World(
        seed=seed,
        today=today,
        people=people,
        leaves=leaves,
        items=items,
        shelves=shelves,
        activity_cum=tuple(accumulate(p.weight for p in people)),
    )


def customer_record(p: Person, ts: int) -> Customer:
    """The Customer record of a person."""
    return Customer(
        customer_id=p.customer_id,
        first_name=p.first_name,
        last_name=p.last_name,
        username=p.username,
        email=p.email,
        gender=p.gender,
        birthdate=p.birthdate,
        first_join_date=p.first_join_date,
        home_location=p.province,
        home_city=p.city,
        home_location_lat=f"{p.home_lat:.6f}",
        home_location_long=f"{p.home_long:.6f}",
        ts=ts,
    )


def category_record(leaf: CategoryLeaf, ts: int) -> Category:
    """The Category record of a leaf of the tree."""
    return Category(leaf.category_id, leaf.level1, leaf.level2, leaf.level3, ts)


def product_record(item: Item, ts: int) -> Product:
    """The Product record of an item."""
    return Product(
        id=item.id,
        gender=item.gender,
        baseColour=item.colour,
        season=item.season,
        year=item.year,
        usage=item.usage,
        productDisplayName=item.name,
        category_id=item.category_id,
        price=str(item.price),
        ts=ts,
    )
