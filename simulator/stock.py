"""Stock in the simulated shop: each product's level, its restock policy, the inventory stream.

Each product's units on the shelf are a :class:`simpy.Container`. The scenario's ``[inventory]``
table (:class:`InventoryConfig`) sets a restock policy per level-1 category; amounts are given
in *minutes of cover*, minutes of the product's expected demand (:func:`demand_per_minute`), so
that one policy fits a product that sells a unit a day and one that sells hundreds an hour.
Each amount has a floor in units, for the slow sellers.

At checkout (:func:`simulator.sessions.settle`) a cart line whose product's shelf holds fewer
units than asked is dropped from the order (a ``stock_out`` record); a paid order takes its units
(a ``sale`` record per line). When a sale brings the units on the shelf plus those on order to
the reorder point or below, the shop orders more (``restock_order``), and a SimPy process puts
them on the shelf after the lead time (``restock_arrival``). Every product's ``opening`` level
goes out at time 0, after the static data. A record names the session and transaction it came
of: a sale's and a stock-out's (a stock-out of a checkout left empty names no transaction), and
a restock order's the sale that placed it; openings and arrivals name none. All of it is
deterministic: nothing here draws at random, and nothing reads the wall clock.

Fraudulent orders take stock like any other, and a detected fraud's units never come back:
the simulated world never sees the engine's verdicts (a run's events never depend on its
scores, which keeps runs deterministic and replayable). Reports count fraud's units from the
truth stream instead.
"""

from __future__ import annotations

import math
from collections.abc import Generator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import simpy
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fraudlab.records import Inventory
from simulator.catalog import CATEGORY_TREE, Item
from simulator.shop import Shop
from simulator.world import World

# Units paid for per visit, fraud included (baseline, seed 101, 30 minutes: 7,108 units in
# 15,171 visits); with the scenario's visits per minute it scales a product's demand.
UNITS_PER_VISIT = 0.47
# Where the products of legitimate visits come from (simulator.legit.legit_visit): mostly the
# shelf of the customer's gender, a quarter of the time every product, big spenders the dear
# ones. A product's share of the picks is its popularity's share of each shelf, so weighted
# (weights fitted to the sales of that same baseline run).
SHELF_MIX: tuple[tuple[str, float], ...] = (("F", 0.36), ("M", 0.36), ("all", 0.24), ("dear", 0.04))
LEVEL1_CATEGORIES: tuple[str, ...] = tuple(dict.fromkeys(row[0] for row in CATEGORY_TREE))

Line = tuple[Item, int]  # a cart line: the product and the units asked


class StockPolicy(BaseModel):
    """How much of a product the shop stocks and reorders, and how long an order takes.

    ``*_cover_minutes`` are minutes of the product's expected demand at the scenario's daily
    average traffic (a surge sells faster); ``*_min_units`` are floors in units;
    ``lead_minutes`` are simulated minutes from an order to its arrival. The defaults keep two
    hours of an ordinary day's demand for runs of an hour or so: an ordinary day rarely runs
    out (baseline, seed 101: 12 stock-outs in 60 minutes), a flash sale's surge does
    (flash-sale, seed 101: 740 in 40).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    opening_cover_minutes: float = Field(default=120.0, ge=0)  # on the shelf at the start
    opening_min_units: int = Field(default=15, ge=0)
    reorder_cover_minutes: float = Field(default=75.0, ge=0)  # order when stock falls to this
    reorder_min_units: int = Field(default=5, ge=0)
    order_cover_minutes: float = Field(default=120.0, ge=0)  # one order's size
    order_min_units: int = Field(default=10, ge=1)
    lead_minutes: float = Field(default=30.0, ge=0)

    def units(self, cover_minutes: float, per_minute: float, floor: int) -> int:
        """Units covering ``cover_minutes`` of a demand of ``per_minute``, at least ``floor``.

        >>> StockPolicy().units(120, 0.5, 15), StockPolicy().units(120, 0.01, 15)
        (60, 15)
        """
        return max(floor, math.ceil(cover_minutes * per_minute))


class InventoryConfig(StockPolicy):
    """The ``[inventory]`` table: the default policy, and per-category overrides.

    ``[inventory.categories.<level-1 name>]`` (e.g. ``Apparel``) sets the policy of that
    category's products; a field it leaves out takes the ``[inventory]`` table's value.
    ``enabled = false`` turns stock (and the inventory stream) off.
    """

    enabled: bool = True
    categories: dict[str, StockPolicy] = {}

    @model_validator(mode="before")
    @classmethod
    def _inherit(cls, data: Any) -> Any:
        # a category's table starts from the [inventory] table's own policy fields
        if isinstance(data, dict) and isinstance(data.get("categories"), dict):
            base = {k: v for k, v in data.items() if k in StockPolicy.model_fields}
            tables = data["categories"].items()
            categories = {k: {**base, **v} if isinstance(v, dict) else v for k, v in tables}
            data = {**data, "categories": categories}
        return data

    @field_validator("categories")
    @classmethod
    def _known_categories(cls, value: dict[str, StockPolicy]) -> dict[str, StockPolicy]:
        for name in value:
            if name not in LEVEL1_CATEGORIES:
                known = ", ".join(LEVEL1_CATEGORIES)
                raise ValueError(f"unknown category {name!r} (level-1 categories: {known})")
        return value

    def policy(self, level1: str) -> StockPolicy:
        """The policy of the products of level-1 category ``level1``."""
        return self.categories.get(level1, self)


def pick_shares(world: World) -> list[float]:
    """Each product's expected share of the products visits pick (by ``Item.index``)."""
    shares = [0.0] * len(world.items)
    for name, weight in SHELF_MIX:
        shelf = world.shelves[name]
        total = shelf.cum[-1]
        for item in shelf.items:
            shares[item.index] += weight * item.popularity / total
    return shares


def demand_per_minute(world: World, visits_per_minute: float) -> list[float]:
    """Each product's expected units sold per simulated minute (by ``Item.index``) when
    ``visits_per_minute`` visits arrive: its share of the picks of :data:`UNITS_PER_VISIT`."""
    units = visits_per_minute * UNITS_PER_VISIT
    return [units * share for share in pick_shares(world)]


@dataclass(slots=True)
class ProductStock:
    """One product's shelf, what is on order for it, and its restock policy in units."""

    product_id: str
    shelf: simpy.Container
    on_order: int
    reorder_point: int
    order_units: int
    lead_minutes: float


class Stock:
    """Every product's stock in a shop; the checkout asks it what can be sold and sells it."""

    __slots__ = ("products", "shop")

    def __init__(self, shop: Shop, config: InventoryConfig, visits_per_minute: float) -> None:
        self.shop = shop
        world = shop.world
        level1 = {leaf.category_id: leaf.level1 for leaf in world.leaves}
        demand = demand_per_minute(world, visits_per_minute)
        self.products: list[ProductStock] = []
        for item in world.items:
            policy = config.policy(level1[item.category_id])
            rate = demand[item.index]
            opening = policy.units(policy.opening_cover_minutes, rate, policy.opening_min_units)
            self.products.append(
                ProductStock(
                    product_id=item.id,
                    shelf=simpy.Container(shop.env, init=opening),
                    on_order=0,
                    reorder_point=policy.units(
                        policy.reorder_cover_minutes, rate, policy.reorder_min_units
                    ),
                    order_units=policy.units(
                        policy.order_cover_minutes, rate, policy.order_min_units
                    ),
                    lead_minutes=policy.lead_minutes,
                )
            )

    def open(self) -> None:
        """Announce every product's opening level, and order what is short already."""
        now = self.shop.env.now
        for p in self.products:
            self._emit(now, p, "opening", int(p.shelf.level), "", "")
        for p in self.products:
            self._review(now, p, "", "")

    def available(self, cart: list[Line]) -> tuple[list[Line], list[Line]]:
        """The cart's lines the shelves can fill, and those they cannot (in cart order); two
        lines of one product are filled together as long as the shelf holds both."""
        products = self.products
        kept: list[Line] = []
        out: list[Line] = []
        asked: dict[int, int] = {}
        for line in cart:
            item, units = line
            wanted = asked.get(item.index, 0) + units
            if wanted <= products[item.index].shelf.level:
                asked[item.index] = wanted
                kept.append(line)
            else:
                out.append(line)
        return kept, out

    def report_out(self, out: Iterable[Line], session_id: str, transaction_id: str) -> None:
        """Say that the lines ``out`` were dropped from a checkout for want of stock."""
        now = self.shop.env.now
        for item, units in out:
            p = self.products[item.index]
            self._emit(now, p, "stock_out", units, session_id, transaction_id)

    def sell(self, lines: Iterable[Line], session_id: str, transaction_id: str) -> None:
        """Take a paid order's units off the shelves (every line must be available), and
        reorder what falls to its reorder point."""
        now = self.shop.env.now
        for item, units in lines:
            p = self.products[item.index]
            p.shelf.get(units)
            self._emit(now, p, "sale", units, session_id, transaction_id)
            self._review(now, p, session_id, transaction_id)

    def follow_plan(self, plan: Sequence[tuple[float, str]]) -> Generator[Any, Any, None]:
        """Order one lot of each listed product at its time (see :func:`open_stock`), unless
        the plan's last order of it has not arrived yet."""
        env = self.shop.env
        by_id = {p.product_id: p for p in self.products}
        due: dict[str, float] = {}
        for at_s, product_id in plan:
            p = by_id.get(product_id)
            if p is None:
                continue
            if at_s > env.now:
                yield env.timeout(at_s - env.now)
            if due.get(product_id, -1.0) > env.now:
                continue
            due[product_id] = env.now + p.lead_minutes * 60.0
            p.on_order += p.order_units
            self._emit(env.now, p, "restock_order", p.order_units, "", "")
            env.process(self._arrival(p, p.order_units))

    def _review(self, now: float, p: ProductStock, session_id: str, transaction_id: str) -> None:
        """Order enough lots to lift shelf plus order above the reorder point, if it is not."""
        position = int(p.shelf.level) + p.on_order
        if position > p.reorder_point:
            return
        units = ((p.reorder_point - position) // p.order_units + 1) * p.order_units
        p.on_order += units
        self._emit(now, p, "restock_order", units, session_id, transaction_id)
        self.shop.env.process(self._arrival(p, units))

    def _arrival(self, p: ProductStock, units: int) -> Generator[Any, Any, None]:
        env = self.shop.env
        yield env.timeout(p.lead_minutes * 60.0)
        p.shelf.put(units)
        p.on_order -= units
        self._emit(env.now, p, "restock_arrival", units, "", "")

    def _emit(
        self,
        now: float,
        p: ProductStock,
        change: str,
        quantity: int,
        session_id: str,
        transaction_id: str,
    ) -> None:
        record = Inventory(
            product_id=p.product_id,
            change=change,
            quantity=quantity,
            level=int(p.shelf.level),
            on_order=p.on_order,
            reorder_point=p.reorder_point,
            lead_minutes=p.lead_minutes,
            session_id=session_id,
            transaction_id=transaction_id,
            ts=self.shop.clock.ts(now),
        )
        self.shop.outbox.record(now, record)


def open_stock(
    shop: Shop,
    config: InventoryConfig,
    visits_per_minute: float,
    restock_plan: Sequence[tuple[float, str]] = (),
) -> Stock:
    """Stock ``shop`` by ``config`` for ``visits_per_minute`` visits, and announce it.

    ``restock_plan`` is a list of (simulated seconds, product id) at which the shop also orders
    one lot of the product, besides its reorder point: a forecast's restock list played back
    (:mod:`lab.restock_check`). A product listed again while such an order is on its way is not
    ordered twice; an unknown product id is skipped."""
    stock = Stock(shop, config, visits_per_minute)
    shop.stock = stock
    stock.open()
    if restock_plan:
        shop.env.process(stock.follow_plan(sorted(restock_plan)))
    return stock
