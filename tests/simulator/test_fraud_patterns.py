"""Each fraud pattern: one interface, its own label, and the behaviour its docstring promises.

Every pattern runs alone in a small shop; its transactions are compared with the legitimate
ones of the same run.
"""

from __future__ import annotations

import inspect
import json
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import pytest
from simulated_runs import records, small_scenario, truths

from fraudlab.records import L1_EVENTS
from simulator.geography import distance_km
from simulator.intensity import Burst, Constant, Ramp
from simulator.patterns import PATTERNS
from simulator.patterns.base import PatternParams
from simulator.population import Person
from simulator.scenario import Patterns
from simulator.simulation import Simulation


@dataclass
class Outcome:
    """A finished run, its transactions split by label, and who is who."""

    fraud: list[dict[str, Any]]
    legit: list[dict[str, Any]]
    people: dict[str, Person]
    sessions: dict[str, list[dict[str, Any]]]
    today: str

    def far_share(self, rows: list[dict[str, Any]]) -> float:
        return _share(rows, lambda t: self.distance(t) > 100)

    def distance(self, t: dict[str, Any]) -> float:
        p = self.people[t["customer_id"]]
        return distance_km(
            p.home_lat,
            p.home_long,
            float(t["shipment_location_lat"]),
            float(t["shipment_location_long"]),
        )

    def l1_ratio(self, t: dict[str, Any]) -> float:
        events = self.sessions[t["session_id"]]
        return sum(e["event_type"] in L1_EVENTS for e in events) / len(events)

    def new_device_share(self, rows: list[dict[str, Any]]) -> float:
        def new(t: dict[str, Any]) -> bool:
            e = self.sessions[t["session_id"]][0]
            known = self.people[t["customer_id"]].devices
            return (e["device_type"], e["traffic_source"]) not in known

        return _share(rows, new)


def _share(rows: list[dict[str, Any]], test: Any) -> float:
    return sum(1 for r in rows if test(r)) / max(1, len(rows))


def _median_total(rows: list[dict[str, Any]]) -> float:
    return statistics.median(int(t["total_amount"]) for t in rows)


def play(pattern: str, minutes: float = 12, **params: Any) -> Outcome:
    scenario = small_scenario(patterns={pattern: {"rate": 1.5, **params}})
    sim = Simulation(scenario, seed=3, minutes=minutes)
    messages = list(sim.messages())
    labels = {t.transaction_id: t for t in truths(messages)}
    transactions = records(messages, "transactions")
    fraud = [t for t in transactions if labels[t["transaction_id"]].is_fraud]
    assert {labels[t["transaction_id"]].pattern for t in fraud} <= {pattern}
    assert all(labels[t["transaction_id"]].pattern == "" for t in transactions if t not in fraud)
    sessions: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in records(messages, "browsing"):
        sessions[e["session_id"]].append(e)
    people = {p.customer_id: p for p in (*sim.world.people, *sim.shop.accounts)}
    legit = [t for t in transactions if t not in fraud]
    return Outcome(fraud, legit, people, sessions, sim.world.today.isoformat())


def test_every_pattern_has_the_one_interface() -> None:
    assert set(Patterns.model_fields) == set(PATTERNS)
    for name, module in PATTERNS.items():
        assert name == module.NAME
        assert module.__doc__ and module.setup.__doc__
        assert issubclass(module.Params, PatternParams)
        assert list(inspect.signature(module.setup).parameters) == ["env", "shop", "params"]
        constants = [k for k in vars(module) if k.isupper() and k != "NAME"]
        assert constants, f"{name} has no UPPERCASE constants"
        module.Params()  # every parameter has a default


def test_card_testing_tries_many_small_card_payments_that_often_fail() -> None:
    o = play("card_testing", attempts_min=4, attempts_max=6, fail=0.6)
    assert len(o.fraud) >= 20
    assert _share(o.fraud, lambda t: "Card" in t["payment_method"]) > 0.75
    assert 0.4 < _share(o.fraud, lambda t: t["payment_status"] == "Failed") < 0.8
    assert _median_total(o.fraud) < _median_total(o.legit)
    per_session = Counter(t["session_id"] for t in o.fraud)
    assert statistics.median(per_session.values()) >= 3  # several cards per episode
    assert o.new_device_share(o.fraud) > 2 * o.new_device_share(o.legit)


def test_account_takeover_buys_dear_from_new_devices_shipping_far() -> None:
    o = play("account_takeover")
    assert len(o.fraud) >= 10
    assert o.far_share(o.fraud) > 0.5 > 5 * o.far_share(o.legit)
    assert o.new_device_share(o.fraud) > 0.6
    assert _median_total(o.fraud) > 2 * _median_total(o.legit)
    assert all(o.people[t["customer_id"]].first_join_date < "2025-01-06" for t in o.fraud)


def test_promo_abuse_farms_codes_with_fresh_accounts() -> None:
    o = play("promo_abuse")
    assert len(o.fraud) >= 10
    assert all(o.people[t["customer_id"]].first_join_date == o.today for t in o.fraud)
    assert _share(o.fraud, lambda t: t["promo_code"] != "") > 0.9
    assert _share(o.legit, lambda t: t["promo_code"] != "") < 0.3
    assert _share(o.fraud, lambda t: t["payment_method"] in ("Gopay", "OVO", "LinkAja")) > 0.8


def test_bot_checkout_is_l1_events_at_machine_speed() -> None:
    o = play("bot_checkout")
    assert len(o.fraud) >= 10
    assert statistics.median(o.l1_ratio(t) for t in o.fraud) > 0.7
    assert statistics.median(o.l1_ratio(t) for t in o.legit) < 0.5

    def seconds_per_event(t: dict[str, Any]) -> float:
        events = o.sessions[t["session_id"]]
        return (events[-1]["ts"] - events[0]["ts"]) / len(events)

    assert statistics.median(seconds_per_event(t) for t in o.fraud) < 2
    assert statistics.median(seconds_per_event(t) for t in o.legit) > 4


def test_regional_fraud_ring_ships_to_a_tight_cluster() -> None:
    o = play("regional_fraud_ring", city="Makassar", drops=3)
    assert len(o.fraud) >= 10
    points = [
        (float(t["shipment_location_lat"]), float(t["shipment_location_long"])) for t in o.fraud
    ]
    assert max(distance_km(*a, *b) for a in points for b in points) < 15
    assert all(distance_km(*p, -5.1477, 119.4327) < 25 for p in points)
    assert len({t["customer_id"] for t in o.fraud}) > len(o.fraud) * 0.7
    assert o.far_share(o.fraud) > 0.5


def test_high_value_spike_multiplies_the_amounts_of_a_few_customers() -> None:
    o = play("high_value_spike", customers=5)
    assert len(o.fraud) >= 10
    assert len({t["customer_id"] for t in o.fraud}) <= 5
    assert _median_total(o.fraud) > 4 * _median_total(o.legit)
    assert o.new_device_share(o.fraud) < 0.5


def test_legitimate_customers_sometimes_look_like_each_pattern() -> None:
    o = play("card_testing", minutes=20, rate=0.0)
    legit = o.legit
    assert not o.fraud and len(legit) > 200
    assert o.far_share(legit) > 0.01  # far shipments
    assert _share(legit, lambda t: t["payment_status"] == "Failed") > 0.01  # failed payments
    assert _share(legit, lambda t: t["promo_code"] != "") > 0.05  # promo users
    assert o.new_device_share(legit) > 0.01  # new devices
    assert max(int(t["total_amount"]) for t in legit) > 3_000_000  # big spenders
    assert max(o.l1_ratio(t) for t in legit) >= 0.5  # fast, cart-heavy buyers
    lines = [len(json.loads(t["product_metadata"])) for t in legit]
    assert max(lines) >= 3


@pytest.mark.parametrize(
    ("intensity", "inside", "outside"),
    [
        (Constant(level=2), 2.0, 2.0),
        (Ramp(start_minute=10, end_minute=20, start_level=0, end_level=4), 2.0, 0.0),
        (Burst(windows=[(12, 5)], level=9, base=0.5), 9.0, 0.5),
    ],
)
def test_intensities(intensity: Any, inside: float, outside: float) -> None:
    assert intensity.level_at(15) == inside
    assert intensity.level_at(5) == outside
    assert intensity.peak >= inside


def test_a_burst_puts_episodes_inside_its_windows() -> None:
    scenario = small_scenario(
        patterns={
            "account_takeover": {
                "rate": 3.0,
                "intensity": {"kind": "burst", "windows": [[4, 2]], "level": 1, "base": 0},
            }
        }
    )
    sim = Simulation(scenario, seed=5, minutes=10)
    messages = list(sim.messages())
    fraud = {t.transaction_id for t in truths(messages) if t.is_fraud}
    start = sim.clock.ts(0)
    times = [
        t["ts"] - start for t in records(messages, "transactions") if t["transaction_id"] in fraud
    ]
    assert times and all(4 * 60 <= t < 6 * 60 + 900 for t in times)
