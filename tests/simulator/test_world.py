"""The static world: customers with Indonesian homes, the category tree, products."""

from __future__ import annotations

import dataclasses
from datetime import date

from fraudlab.codec import decode, encode
from fraudlab.records import Customer, Product
from simulator.catalog import CATEGORY_TREE, category_leaves
from simulator.geography import CITIES, distance_km
from simulator.names import FAMILY_NAMES, FEMALE_NAMES, MALE_NAMES
from simulator.population import PERSONAS, make_person
from simulator.world import build_world, customer_record, product_record

TODAY = date(2026, 1, 5)


def test_same_seed_same_world_other_seed_other_world() -> None:
    a, b, c = (build_world(s, 300, 100, TODAY) for s in (7, 7, 8))
    strip = lambda w: [dataclasses.replace(p, rng=None) for p in w.people]  # noqa: E731
    assert strip(a) == strip(b)
    assert a.items == b.items
    assert strip(a) != strip(c)


def test_a_customer_does_not_depend_on_the_population_size() -> None:
    small, large = build_world(7, 100, 50, TODAY), build_world(7, 1000, 50, TODAY)
    assert small.people[42].email == large.people[42].email
    assert small.people[42].home_lat == large.people[42].home_lat


def test_customers_live_in_indonesia_near_a_real_city() -> None:
    world = build_world(3, 2000, 50, TODAY)
    provinces = {c.province for c in CITIES}
    for p in world.people:
        city = CITIES[p.city_index]
        assert p.province in provinces and p.city == city.city
        assert distance_km(p.home_lat, p.home_long, city.lat, city.long) < 50
        assert -11.5 < p.home_lat < 6.5 and 94.5 < p.home_long < 141.5
    # bigger cities have more customers
    jakarta = sum(p.city == "Jakarta" for p in world.people)
    manokwari = sum(p.city == "Manokwari" for p in world.people)
    assert jakarta > 10 * max(manokwari, 1)


def test_customer_records_are_plausible_strings() -> None:
    world = build_world(5, 500, 50, TODAY)
    for p in world.people:
        record = customer_record(p, 1_767_571_200)
        assert decode(Customer, encode(record)) == record
        assert p.first_name in (FEMALE_NAMES if p.gender == "F" else MALE_NAMES)
        assert p.last_name in FAMILY_NAMES
        assert "@" in p.email and p.username in p.email
        born, joined = date.fromisoformat(p.birthdate), date.fromisoformat(p.first_join_date)
        assert 17 <= (TODAY - born).days // 365 <= 71
        assert date(2016, 1, 1) <= joined < TODAY
    assert len({p.customer_id for p in world.people}) == 500
    assert {p.persona.name for p in world.people} == {q.name for q in PERSONAS}


def test_new_accounts_join_today() -> None:
    person = make_person(10_000, 7, TODAY, joined_today=True, kind="signup")
    assert person.first_join_date == TODAY.isoformat()


def test_category_tree_has_three_levels_and_stable_ids() -> None:
    leaves = category_leaves()
    assert len(leaves) == len(CATEGORY_TREE)
    assert len({(c.level1, c.level2, c.level3) for c in leaves}) == len(leaves)
    assert [c.category_id for c in leaves] == [str(i + 1) for i in range(len(leaves))]
    assert len({c.level1 for c in leaves}) >= 5


def test_products_have_the_assignment_columns_and_a_price_in_band() -> None:
    world = build_world(9, 10, 400, TODAY)
    leaves = {c.category_id: c for c in world.leaves}
    for item in world.items:
        record = product_record(item, 0)
        assert decode(Product, encode(record)) == record
        leaf = leaves[item.category_id]
        assert leaf.low <= item.price <= leaf.high
        assert item.price % 1000 == 0
        assert leaf.level3 in item.name and item.colour in item.name
    assert len({i.id for i in world.items}) == 400
    assert all(s.items for s in world.shelves.values())
    assert max(i.price for i in world.shelves["cheap"].items) < 100_000
    assert min(i.price for i in world.shelves["dear"].items) >= 500_000
