"""A session as a SimPy process: browsing events in simulated time, a checkout, a transaction.

A :class:`Visit` says who visits and how (device, chain, speed, what they look at, how they pay
and what label their transactions carry); :func:`session` plays it. Legitimate traffic and
every fraud pattern build visits and hand them to the same process, so fraud and legitimate
sessions differ only in the parameters, never in the machinery.

Where the shop keeps stock (:mod:`simulator.stock`), a checkout drops the cart lines the shelves
cannot fill, and a session whose cart is left empty ends without a transaction; a paid order,
fraudulent or not, takes its units, and a detected fraud's units never come back (the simulated
world never sees the engine's verdicts). Stock is looked at only here, once per checkout.
"""

from __future__ import annotations

import random
from bisect import bisect
from collections.abc import Generator
from dataclasses import dataclass
from functools import cache
from typing import Any

import orjson

from fraudlab.records import EVENT_TYPES, Transaction, Truth
from simulator.catalog import Item
from simulator.chains import AP, ATC, CO, DWELL_BY_CODE, END, NOISE, NOISE_STEPS, VI, Chain
from simulator.checkout import Terms, best_promo, destination, product_metadata, shipment_fee
from simulator.messages import (
    Message,
    new_message,
    set_deliver_at,
    set_key,
    set_stream,
    set_value,
)
from simulator.population import Person
from simulator.shop import Shop
from simulator.world import Shelf

MAX_EVENTS = 80
EVENT_BYTES: tuple[bytes, ...] = tuple(name.encode() for name in EVENT_TYPES)
UNITS: tuple[bytes, ...] = tuple(str(i).encode() for i in range(11))
PAYMENT_S = (2.0, 8.0)  # seconds the payment gateway takes to answer
RETRY_S = (15.0, 90.0)  # seconds before a person tries a failed payment again
NEW_USER_DAYS = 7


@dataclass(slots=True)
class Visit:
    """Everything that makes one session what it is."""

    person: Person
    rng: random.Random
    device: str
    traffic: str
    chain: Chain
    speed: float  # dwell-time multiplier: 1 is an ordinary person, 0.05 a script
    shelf: Shelf  # where viewed products come from
    more: float  # chance of one more unit each time an item goes in the cart
    terms: Terms
    label: str = ""  # fraud pattern name; "" for legitimate
    attempts: int = 1  # checkouts tried one after another (card testing tries many cards)
    attempt_s: tuple[float, float] = RETRY_S  # seconds between such attempts
    drop: tuple[float, float] | None = None  # fixed shipping point (a fraud ring's drop)
    price_factor: float = 1.0  # item prices relative to the list price (sales)
    new_user: bool = False  # qualifies for new-user promo codes
    wants_promo: bool = False  # adds a promo code (an AP event) before checking out
    min_spend: int = 0  # fills the cart up to this value before checking out (promo farming)


@cache
def _device_part(traffic: str, device: str) -> bytes:
    return (
        b',"traffic_source":' + orjson.dumps(traffic) + b',"device_type":' + orjson.dumps(device)
    ).replace(b"%", b"%%")


def browsing_template(session_id: str, traffic: str, device: str, customer_id: str) -> bytes:
    """The JSON of a session's browsing events with ``%`` slots for what changes per event.

    Slots: event_type, the event time's date and second, its milliseconds, product_id,
    quantity, the event number and ts.
    Filled in, it is byte for byte ``fraudlab.codec.encode(Browsing(...))``, built in one
    formatting call instead of a dataclass and a dict per event. Session and customer ids are
    the simulator's own plain ASCII, so they need no JSON escaping.
    """
    return (
        b'{"session_id":"%s","event_type":"%%s","event_time":"%%s.%%03dZ"%s,"customer_id":"%s",'
        b'"product_id":"%%s","quantity":"%%s","event_id":"%s-%%d","ts":%%d}'
        % (
            session_id.encode(),
            _device_part(traffic, device),
            customer_id.encode(),
            session_id.encode(),
        )
    )


def session(shop: Shop, visit: Visit) -> Generator[Any, Any, None]:
    """Play one visit: announce the session, emit its events, settle its checkouts."""
    env = shop.env
    timeout = env.timeout
    start_ms = shop.clock.start_ms
    second_prefix = shop.clock.second_prefix
    outbox = shop.outbox
    faults = outbox.faults
    ready = outbox.ready
    rng = visit.rng
    random_ = rng.random
    chain = visit.chain
    cum_rows, target_rows = chain.cum, chain.targets
    pick = visit.shelf.pick
    person = visit.person
    key = person.customer_id.encode()
    session_id = shop.open_session(person)
    template = browsing_template(session_id, visit.traffic, visit.device, person.customer_id)
    speed = visit.speed
    cart: list[tuple[Item, int]] = []
    viewed: Item | None = None
    promo_added = False
    attempts = visit.attempts
    code = chain.first(rng)
    n = 0
    while code != END and n < MAX_EVENTS:
        if code == CO:
            if not cart:
                code = ATC
            elif visit.min_spend and sum(i.price * q for i, q in cart) < visit.min_spend:
                code, viewed = ATC, None
            elif visit.wants_promo and not promo_added:
                code = AP
        product_id = quantity = b""
        if code == VI:
            viewed = pick(rng)
            product_id, quantity = viewed.id_bytes, b"1"
        elif code == ATC:
            if viewed is None:
                viewed = pick(rng)
            units = 1
            while units < 10 and random_() < visit.more:
                units += 1
            cart.append((viewed, units))
            product_id, quantity = viewed.id_bytes, UNITS[units]
        elif code == AP:
            promo_added = True
        n += 1
        now = env.now
        ms = start_ms + int(now * 1000)
        ts = ms // 1000
        value = template % (
            EVENT_BYTES[code],
            second_prefix(ts),
            ms % 1000,
            product_id,
            quantity,
            n,
            ts,
        )
        if faults is None:
            # messages.message() inlined: this runs once per simulated event
            m = new_message(Message)
            set_deliver_at(m, now)
            set_stream(m, "browsing")
            set_key(m, key)
            set_value(m, value)
            ready.append(m)
        else:
            faults.route(outbox, now, "browsing", key, value, f"{session_id}-{n}", ts)
        if code == CO:
            yield timeout(PAYMENT_S[0] + random_() * (PAYMENT_S[1] - PAYMENT_S[0]))
            paid = settle(shop, visit, session_id, cart, promo_added)
            if paid is None:
                return  # nothing in the cart was in stock
            attempts -= 1
            if attempts > 0 or (not paid and random_() < visit.terms.retry):
                low, high = visit.attempt_s
                yield timeout(low + random_() * (high - low))
                continue
            cart = []
        else:
            yield timeout(DWELL_BY_CODE[code] * speed * NOISE[int(random_() * NOISE_STEPS)])
        code = target_rows[code][bisect(cum_rows[code], random_())]


def settle(
    shop: Shop, visit: Visit, session_id: str, cart: list[tuple[Item, int]], promo_added: bool
) -> bool | None:
    """Emit the transaction (its truth, its stock changes) of one checkout; True when the
    payment succeeded, None when no line of the cart was in stock (no transaction then).

    Lines out of stock are dropped from ``cart`` itself, so a retry does not ask for them again.
    """
    stock = shop.stock
    out: list[tuple[Item, int]] = []
    if stock is not None:
        kept, out = stock.available(cart)
        if out:
            cart[:] = kept
            if not kept:
                stock.report_out(out, session_id, "")
                return None
    rng, person, t = visit.rng, visit.person, visit.terms
    metadata, subtotal = product_metadata(cart, visit.price_factor)
    lat, long = destination(rng, person, t.far, visit.drop)
    fee = shipment_fee(lat, long, sum(q for _, q in cart))
    promo_code, promo_amount = "", 0
    if promo_added:
        promo = best_promo(t.promo_codes, subtotal, fee, visit.new_user)
        if promo is not None:
            promo_code, promo_amount = promo.code, promo.discount(subtotal, fee)
    method = t.method(rng, person)
    failed = rng.random() < t.fail
    cleared = not failed and rng.random() >= t.pending
    now = shop.env.now
    ts, when = shop.clock.stamp(now)
    transaction_id = shop.next_transaction_id()
    record = Transaction(
        created_at=when,
        customer_id=person.customer_id,
        transaction_id=transaction_id,
        session_id=session_id,
        product_metadata=metadata,
        payment_method=method,
        payment_status="Failed" if failed else "Success",
        promo_amount=str(promo_amount),
        promo_code=promo_code,
        shipment_fee=str(fee),
        shipment_location_lat=f"{lat:.6f}",
        shipment_location_long=f"{long:.6f}",
        total_amount=str(max(0, subtotal - promo_amount + fee)),
        clear_payment="1" if cleared else "0",
        ts=ts,
    )
    shop.outbox.event(
        now, "transactions", person.customer_id.encode(), orjson.dumps(record), transaction_id, ts
    )
    label = visit.label
    shop.outbox.record(now, Truth(transaction_id, bool(label), label, ts))
    if stock is not None:
        if out:
            stock.report_out(out, session_id, transaction_id)
        if not failed:
            stock.sell(cart, session_id, transaction_id)
    return not failed


def is_new_user(person: Person) -> bool:
    """Whether ``person`` joined recently enough (at the run's start) for new-user promo codes."""
    return person.account_days <= NEW_USER_DAYS
