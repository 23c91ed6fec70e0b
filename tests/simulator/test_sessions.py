"""Sessions: event chains, dwell times, checkouts and the bytes they produce."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
from simulated_runs import records, run, small_scenario, truths

from fraudlab.codec import decode, encode
from fraudlab.records import EVENT_TYPES, L1_EVENTS, Browsing, CustomerSession, Transaction, Truth
from simulator.chains import CHAINS, COMPILED, END
from simulator.checkout import PROMOS, best_promo, shipment_fee
from simulator.clock import DEFAULT_START, Clock
from simulator.sessions import browsing_template


def test_every_chain_row_is_a_distribution_over_known_events() -> None:
    for spec in CHAINS.values():
        for row_name, row in spec.items():
            assert row_name in (*EVENT_TYPES, "start")
            assert set(row) <= {*EVENT_TYPES, "END"} and all(w > 0 for w in row.values())
    for chain in COMPILED.values():
        assert all(cum[-1] == 1.0 for cum in chain.cum)


def test_legitimate_browsing_mostly_looks_and_rarely_buys() -> None:
    rng = random.Random(1)
    counts: Counter[str] = Counter()
    for _ in range(2000):
        code = COMPILED["browse"].first(rng)
        while code != END:
            counts[EVENT_TYPES[code]] += 1
            code = COMPILED["browse"].step(code, rng)
    total = sum(counts.values())
    assert sum(counts[e] for e in L1_EVENTS) / total < 0.05
    assert counts["SCR"] + counts["CL"] + counts["HP"] > total * 0.4


@pytest.mark.parametrize("product", ["", "10023"])
def test_browsing_template_is_byte_for_byte_the_codec(product: str) -> None:
    template = browsing_template("S00000042", "MOBILE", "Android", "1234")
    value = template % (b"ATC", b"2026-01-05T00:00:01", 250, product.encode(), b"2", 7, 1767571201)
    record = Browsing(
        "S00000042",
        "ATC",
        "2026-01-05T00:00:01.250Z",
        "MOBILE",
        "Android",
        "1234",
        product,
        "2",
        "S00000042-7",
        1767571201,
    )
    assert value == encode(record)


def test_every_event_message_decodes_to_its_record() -> None:
    messages = run(small_scenario(), minutes=3)
    classes = {
        "browsing": Browsing,
        "transactions": Transaction,
        "truth": Truth,
        "customer_session": CustomerSession,
    }
    checked = Counter[str]()
    for m in messages:
        cls = classes.get(m.stream)
        if cls is not None:
            assert encode(decode(cls, m.value)) == m.value
            checked[m.stream] += 1
    assert set(checked) == set(classes) and checked["browsing"] > 100, checked


def test_events_carry_time_device_and_items() -> None:
    messages = run(small_scenario(), minutes=5)
    clock = Clock(DEFAULT_START)
    browsing = records(messages, "browsing")
    sessions = {s["session_id"]: s["customer_id"] for s in records(messages, "customer_session")}
    for event in browsing:
        assert sessions[event["session_id"]] == event["customer_id"]
        assert clock.ts(0) <= event["ts"] < clock.ts(5 * 60)
        assert event["event_time"].startswith("2026-01-05T0")
        assert (event["product_id"] != "") == (event["event_type"] in ("VI", "ATC"))
    assert {e["traffic_source"] for e in browsing} == {"MOBILE", "WEB"}
    assert {"Android", "iOS", "Windows"} <= {e["device_type"] for e in browsing}
    by_session: dict[str, list[int]] = {}
    for event in browsing:
        by_session.setdefault(event["session_id"], []).append(event["ts"])
    assert all(ts == sorted(ts) for ts in by_session.values())


def test_transactions_add_up() -> None:
    messages = run(small_scenario(), minutes=10)
    transactions = records(messages, "transactions")
    assert len(transactions) > 50
    for t in transactions:
        lines = json.loads(t["product_metadata"])
        subtotal = sum(line["quantity"] * line["item_price"] for line in lines)
        total = subtotal - int(t["promo_amount"]) + int(t["shipment_fee"])
        assert int(t["total_amount"]) == max(0, total)
        assert t["payment_method"] in ("Credit Card", "Debit Card", "Gopay", "OVO", "LinkAja")
        assert t["payment_status"] in ("Success", "Failed")
        assert t["clear_payment"] in ("0", "1")
        assert t["clear_payment"] == "0" or t["payment_status"] == "Success"
        assert (t["promo_code"] == "") == (t["promo_amount"] == "0") or t["promo_code"]
    statuses = Counter(t["payment_status"] for t in transactions)
    assert 0 < statuses["Failed"] < statuses["Success"] * 0.15
    truth = truths(messages)
    assert [t.transaction_id for t in truth] == [t["transaction_id"] for t in transactions]
    assert {t.is_fraud for t in truth} == {False}


def test_promos_respect_minimum_spend_and_new_users() -> None:
    assert best_promo(("PENGGUNABARU", "HEMAT10"), 120_000, 9_000, new_user=False) is None
    assert (
        best_promo(("PENGGUNABARU", "HEMAT10"), 120_000, 9_000, new_user=True)
        is PROMOS["PENGGUNABARU"]
    )
    assert PROMOS["PENGGUNABARU"].discount(400_000, 9_000) == 100_000
    assert PROMOS["GRATISONGKIR"].discount(100_000, 15_000) == 15_000


def test_shipment_fee_grows_with_distance_from_a_warehouse() -> None:
    jakarta = shipment_fee(-6.2, 106.85, 1)
    jayapura = shipment_fee(-2.53, 140.72, 1)
    assert 9_000 <= jakarta < jayapura <= 60_000
