"""Stock in the simulated shop: shelves, restocking, checkouts that meet an empty shelf, and the
``[inventory]`` table of a scenario file."""

from __future__ import annotations

import dataclasses
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import orjson
import pytest
from simulated_runs import SCENARIOS, records, run, small_scenario

from fraudlab.codec import decode
from fraudlab.errors import UsageError
from fraudlab.records import STOCK_CHANGES, Inventory, Transaction
from simulator.catalog import Item
from simulator.checkout import terms
from simulator.legit import legit_visit
from simulator.messages import Message
from simulator.scenario import load_scenario, parse_scenario, scenario_toml
from simulator.sessions import settle
from simulator.simulation import Simulation
from simulator.stock import InventoryConfig, Stock, demand_per_minute

# shelves that empty and fill within a short run: little stock, a quick restock
BUSY: dict[str, Any] = {
    "opening_cover_minutes": 3,
    "opening_min_units": 2,
    "reorder_cover_minutes": 2,
    "reorder_min_units": 1,
    "order_cover_minutes": 3,
    "order_min_units": 2,
    "lead_minutes": 1.5,
}


def inventory(messages: list[Message]) -> list[Inventory]:
    """The inventory records of a run, decoded."""
    found = [decode(Inventory, m.value) for m in messages if m.stream == Inventory.STREAM]
    assert found, "a run with stock has an inventory stream"
    return found


@pytest.fixture(scope="module")
def busy_run() -> list[Message]:
    """Eight minutes of a small shop whose shelves run out and are restocked."""
    return run(small_scenario(minutes=8, inventory=BUSY))


def test_the_same_seed_gives_the_same_inventory_bytes() -> None:
    scenario = small_scenario(minutes=4, inventory=BUSY)
    first, again = run(scenario, seed=5), run(scenario, seed=5)
    stock = [(m.deliver_at, m.key, m.value) for m in first if m.stream == "inventory"]
    assert len(stock) > 200
    assert stock == [(m.deliver_at, m.key, m.value) for m in again if m.stream == "inventory"]
    assert first == again


def test_every_change_is_known_and_the_openings_follow_the_static_data_at_zero(
    busy_run: list[Message],
) -> None:
    stock = inventory(busy_run)
    assert {r.change for r in stock} == set(STOCK_CHANGES)  # this run has each kind
    first = next(i for i, m in enumerate(busy_run) if m.stream == "inventory")
    assert {m.stream for m in busy_run[:first]} == {"category", "product", "customer"}
    openings = [m for m in busy_run if m.stream == "inventory"][:200]
    assert {decode(Inventory, m.value).change for m in openings} == {"opening"}
    assert {m.deliver_at for m in openings} == {0.0}
    assert len({r.product_id for r in stock if r.change == "opening"}) == 200


def test_stock_never_goes_negative_and_the_changes_add_up(busy_run: list[Message]) -> None:
    level: dict[str, int] = {}
    on_order: Counter[str] = Counter()
    for r in inventory(busy_run):
        assert r.level >= 0 and r.on_order >= 0 and r.quantity > 0
        if r.change == "opening":
            level[r.product_id] = r.quantity
        elif r.change == "sale":
            level[r.product_id] -= r.quantity
        elif r.change == "restock_arrival":
            level[r.product_id] += r.quantity
            on_order[r.product_id] -= r.quantity
        elif r.change == "restock_order":
            on_order[r.product_id] += r.quantity
        # opening + arrivals - sales is the level the record states
        assert (r.level, r.on_order) == (level[r.product_id], on_order[r.product_id]), r


def test_a_sale_takes_what_a_paid_order_holds(busy_run: list[Message]) -> None:
    sold: Counter[tuple[str, str]] = Counter()
    for r in inventory(busy_run):
        if r.change == "sale":
            sold[(r.transaction_id, r.product_id)] += r.quantity
    paid: Counter[tuple[str, str]] = Counter()
    for t in records(busy_run, "transactions"):
        if t["payment_status"] == "Success":
            for line in orjson.loads(t["product_metadata"]):
                paid[(t["transaction_id"], line["product_id"])] += line["quantity"]
    assert len(paid) > 100
    assert sold == paid  # failed payments take nothing


def test_restock_orders_arrive_after_the_lead_time(busy_run: list[Message]) -> None:
    ordered: dict[str, list[Inventory]] = defaultdict(list)
    arrived: dict[str, list[Inventory]] = defaultdict(list)
    for r in inventory(busy_run):
        if r.change == "restock_order":
            ordered[r.product_id].append(r)
        elif r.change == "restock_arrival":
            arrived[r.product_id].append(r)
    assert sum(map(len, arrived.values())) > 20
    for product, arrivals in arrived.items():
        # one lead time per product: orders arrive in the order they were placed
        for order, arrival in zip(ordered[product], arrivals, strict=False):
            assert order.quantity == arrival.quantity
            assert abs(arrival.ts - order.ts - order.lead_minutes * 60) <= 1
    # an order placed more than a lead time before the end has arrived
    end = max(r.ts for r in inventory(busy_run))
    waiting = sum(len(orders) - len(arrived[p]) for p, orders in ordered.items())
    overdue = [
        o
        for p, orders in ordered.items()
        for o in orders[len(arrived[p]) :]
        if o.ts + o.lead_minutes * 60 + 1 < end
    ]
    assert waiting > 0 and overdue == []


def test_stock_outs_name_the_session_and_the_order_they_were_dropped_from(
    busy_run: list[Message],
) -> None:
    outs = [r for r in inventory(busy_run) if r.change == "stock_out"]
    assert len(outs) > 5
    assert all(r.session_id for r in outs)
    transactions = {t["transaction_id"] for t in records(busy_run, "transactions")}
    assert {r.transaction_id for r in outs} - {""} <= transactions
    # a checkout left with nothing to buy makes no transaction (a session's earlier checkout,
    # whose payment failed, may have made one), nor any truth
    emptied = {(r.session_id, r.ts) for r in outs if not r.transaction_id}
    assert emptied
    paid_for = {(t["session_id"], t["ts"]) for t in records(busy_run, "transactions")}
    assert not emptied & paid_for
    assert len(records(busy_run, "truth")) == len(transactions)


def test_opening_and_reorder_levels_follow_expected_demand() -> None:
    scenario = small_scenario(minutes=1)
    sim = Simulation(scenario, 1)
    config = scenario.inventory
    rates = demand_per_minute(sim.world, 200 + 1)
    opening = {r.product_id: r for r in inventory(list(sim.messages())) if r.change == "opening"}
    best = max(sim.world.items, key=lambda i: rates[i.index])
    assert opening[best.id].quantity > 10 * config.opening_min_units
    for item in sim.world.items:
        r = opening[item.id]
        assert r.quantity == config.units(
            config.opening_cover_minutes, rates[item.index], config.opening_min_units
        )
        assert r.reorder_point < r.quantity and r.lead_minutes == config.lead_minutes


def _shop(**policy: Any) -> tuple[Simulation, Stock, list[Item]]:
    """A small shop at time 0 with ``policy`` and no visitors but ours, its opening records
    already handed out."""
    quiet = {"sessions_per_minute": 0, "signups_per_minute": 0}
    sim = Simulation(small_scenario(traffic=quiet, inventory=policy), seed=2)
    sim.outbox.due(float("inf"))
    assert sim.shop.stock is not None
    return sim, sim.shop.stock, [i for i in sim.world.items if i.price > 1000][:2]


def _checkout(sim: Simulation, cart: list[tuple[Item, int]], fail: float) -> bool | None:
    shop = sim.shop
    visit = legit_visit(shop, sim.world.people[0], None)
    visit = dataclasses.replace(visit, terms=terms(fail=fail))
    return settle(shop, visit, "S00000001", cart, False)


# five units of everything; an order of four when a product sells out
FIVE_EACH = {
    "opening_min_units": 5,
    "reorder_min_units": 0,
    "order_min_units": 4,
    "lead_minutes": 2,
}


def test_a_line_the_shelf_cannot_fill_is_dropped_from_the_order() -> None:
    sim, stock, (a, b) = _shop(**FIVE_EACH)
    stock.products[b.index].shelf.get(4)  # one left
    cart = [(a, 2), (b, 2), (a, 3), (a, 1)]
    assert _checkout(sim, cart, fail=0.0) is True
    assert cart == [(a, 2), (a, 3)]  # dropped from the session's cart too
    sent = sim.outbox.due(float("inf"))
    (transaction,) = [decode(Transaction, m.value) for m in sent if m.stream == "transactions"]
    lines = [
        (li["product_id"], li["quantity"]) for li in orjson.loads(transaction.product_metadata)
    ]
    assert lines == [(a.id, 2), (a.id, 3)]
    stock_changes = [decode(Inventory, m.value) for m in sent if m.stream == "inventory"]
    assert [(r.change, r.product_id, r.quantity, r.level) for r in stock_changes] == [
        ("stock_out", b.id, 2, 1),
        ("stock_out", a.id, 1, 5),
        ("sale", a.id, 2, 3),
        ("sale", a.id, 3, 0),
        ("restock_order", a.id, 4, 0),
    ]
    assert {(r.session_id, r.transaction_id) for r in stock_changes} == {
        ("S00000001", transaction.transaction_id)
    }


def test_a_cart_with_nothing_in_stock_makes_no_transaction() -> None:
    sim, stock, (a, b) = _shop(**FIVE_EACH)
    stock.products[a.index].shelf.get(5)
    transactions_before = sim.shop.transactions
    assert _checkout(sim, [(a, 1), (b, 6)], fail=0.0) is None
    sent = sim.outbox.due(float("inf"))
    assert {m.stream for m in sent} == {"inventory"}  # no transaction, no truth
    outs = [decode(Inventory, m.value) for m in sent]
    assert [(r.change, r.product_id, r.quantity, r.transaction_id) for r in outs] == [
        ("stock_out", a.id, 1, ""),
        ("stock_out", b.id, 6, ""),
    ]
    assert sim.shop.transactions == transactions_before


def test_a_failed_payment_takes_no_stock() -> None:
    sim, stock, (a, _) = _shop(**FIVE_EACH)
    assert _checkout(sim, [(a, 3)], fail=1.0) is False
    sent = sim.outbox.due(float("inf"))
    (transaction,) = [decode(Transaction, m.value) for m in sent if m.stream == "transactions"]
    assert transaction.payment_status == "Failed"
    assert [m for m in sent if m.stream == "inventory"] == []
    assert stock.products[a.index].shelf.level == 5


def test_a_sale_down_to_the_reorder_point_orders_more() -> None:
    sim, _, (a, _) = _shop(**{**FIVE_EACH, "reorder_min_units": 3})
    assert _checkout(sim, [(a, 3)], fail=0.0) is True
    sent = [decode(Inventory, m.value) for m in sim.outbox.due(1.0) if m.stream == "inventory"]
    assert [(r.change, r.quantity, r.level, r.on_order) for r in sent] == [
        ("sale", 3, 2, 0),
        ("restock_order", 4, 2, 4),
    ]
    arrived = [decode(Inventory, m.value) for m in sim.advance(121.0)]
    arrived = [r for r in arrived if r.change == "restock_arrival" and r.product_id == a.id]
    assert [(r.quantity, r.level, r.on_order) for r in arrived] == [(4, 6, 0)]
    assert arrived[0].ts == sent[0].ts + 120


def test_without_stock_there_is_no_inventory_stream() -> None:
    messages = run(small_scenario(minutes=2, inventory={"enabled": False}))
    assert [m for m in messages if m.stream == "inventory"] == []
    assert any(m.stream == "transactions" for m in messages)


def _stock_outs(name: str, minutes: float) -> int:
    scenario = load_scenario(name, SCENARIOS)
    messages = Simulation(scenario, 101, minutes=minutes).messages()
    return sum(
        1 for m in messages if m.stream == "inventory" and b'"change":"stock_out"' in m.value
    )


def test_a_flash_sale_empties_shelves_that_an_ordinary_day_keeps_stocked() -> None:
    # the surge starts at minute 10; by minute 22 its buyers have emptied shelves (seed 101:
    # 41 stock-outs, and none in as long an ordinary day)
    flash, ordinary = _stock_outs("flash-sale", 22), _stock_outs("baseline", 22)
    assert flash > 25
    assert ordinary <= flash / 10


# ---- the [inventory] table of a scenario file ------------------------------------------------

GOOD = """
name = "x"
description = "a test"
minutes = 5
seed = 1
"""


def test_categories_override_the_tables_policy_field_by_field() -> None:
    text = (
        GOOD
        + "[inventory]\nlead_minutes = 10\norder_cover_minutes = 45\n"
        + "[inventory.categories.Footwear]\nlead_minutes = 90\n"
    )
    scenario = parse_scenario(text, Path("x.toml"))
    config = scenario.inventory
    footwear, apparel = config.policy("Footwear"), config.policy("Apparel")
    assert (footwear.lead_minutes, footwear.order_cover_minutes) == (90, 45)
    assert (apparel.lead_minutes, apparel.order_cover_minutes) == (10, 45)
    assert apparel.opening_cover_minutes == InventoryConfig().opening_cover_minutes
    again = parse_scenario(scenario_toml(scenario), Path("resolved.toml"))
    assert again.model_dump() == scenario.model_dump()


BAD_TABLES = {
    "negative": (
        "[inventory]\nlead_minutes = -1\n",
        "x.toml: inventory.lead_minutes: must be >= 0.",
    ),
    "unknown_field": ("[inventory]\nshelf_life = 3\n", "x.toml: inventory.shelf_life: is not a"),
    "unknown_category": (
        "[inventory.categories.Shoes]\nlead_minutes = 5\n",
        "x.toml: inventory.categories: unknown category 'Shoes' (level-1 categories: Apparel,",
    ),
    "category_field": (
        "[inventory.categories.Apparel]\norder_min_units = 0\n",
        "x.toml: inventory.categories.Apparel.order_min_units: must be >= 1.",
    ),
    "wrong_type": ("[inventory]\nlead_minutes = 'soon'\n", "x.toml: inventory.lead_minutes: "),
}


@pytest.mark.parametrize("case", sorted(BAD_TABLES))
def test_a_bad_inventory_table_gets_one_sentence_naming_the_field(case: str) -> None:
    table, expected = BAD_TABLES[case]
    with pytest.raises(UsageError) as caught:
        parse_scenario(GOOD + table, Path("x.toml"))
    message = str(caught.value)
    assert message.startswith(expected)
    assert message.endswith(".") and "\n" not in message
    assert caught.value.exit_code == 2


def test_a_restock_plan_orders_a_lot_at_each_listed_time_once_per_lead_time() -> None:
    scenario = small_scenario(minutes=8, inventory=BUSY)
    plain = inventory(run(scenario))
    product = Counter(r.product_id for r in plain if r.change == "stock_out").most_common(1)[0][0]
    # listed at 60 s, again at 90 s (its order is on its way: no second one), then at 240 s
    plan = [(60.0, product), (90.0, product), (240.0, product), (100.0, "no-such-product")]
    sim = Simulation(scenario, 1, restock_plan=plan)
    start = sim.clock.ts(0.0)
    planned = inventory(list(sim.messages()))
    orders = [r for r in planned if r.product_id == product and r.change == "restock_order"]
    # orders at the reorder point name the sale that made them
    by_plan = [r for r in orders if r.transaction_id == "" and r.ts > start]
    assert [r.ts - start for r in by_plan] == [60, 240]
    arrivals = [r for r in planned if r.product_id == product and r.change == "restock_arrival"]
    assert {r.ts - start for r in arrivals} >= {60 + 90, 240 + 90}
    # more stock, fewer stock-outs of it
    outs = Counter(r.product_id for r in planned if r.change == "stock_out")
    assert outs[product] < Counter(r.product_id for r in plain if r.change == "stock_out")[product]
