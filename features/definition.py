"""The fraud features: one definition, computed per customer by the same code everywhere.

A customer's profile, browsing events and transactions are folded, in event-time order, into a small
:class:`CustomerState`; each transaction is turned into a feature row from the transaction itself,
the session that led to it, the customer's recent history and the customer's static profile.
Spark calls this code through ``mapInPandas`` on a batch DataFrame (training, evaluation) and
``applyInPandasWithState`` on a streaming one (scoring), see :mod:`features.frames`, so the
two can never drift apart. Nothing here reads truth, ids as values, or the wall clock.

>>> state = CustomerState()
>>> state.observe_profile(Profile(gender="F", birth_day=8000, join_day=19000, home_lat=-6.2,
...                               home_long=106.8))
>>> state.observe_browsing("s1", "HP", 1000, "Android", "MOBILE")
>>> state.observe_browsing("s1", "CO", 1060, "Android", "MOBILE")
>>> row = state.transaction_features(Payment(
...     session_id="s1", ts=1065, payment_method="OVO", payment_status="Success",
...     clear_payment="1", promo_amount="0", shipment_fee="10000",
...     shipment_lat="-6.2", shipment_long="106.8", total_amount="150000",
...     product_metadata='[{"product_id": "p1", "quantity": 2, "item_price": 70000}]'))
>>> row["l1_ratio"], row["session_events"], row["n_items"], row["distance_km"]
(0.5, 2.0, 2.0, 0.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import orjson

from features.location import CELL_FEATURES
from fraudlab import codec
from fraudlab.product_metadata import parse_items
from fraudlab.records import L1_EVENTS, L2_EVENTS

DAY_S = 86_400
SESSION_TTL_S = 4 * 3600  # a session's events are kept this long after its last event
HISTORY_S = DAY_S  # failed payments and transactions are remembered for a day
MAX_DEVICES = 8  # devices and traffic sources remembered per customer
LOCAL_UTC_OFFSET_S = 7 * 3600  # customers live in Western Indonesian Time
NO_PREVIOUS_S = 30.0 * DAY_S  # "time since the previous transaction" when there was none
DEDUPE_S = 3600  # a record id seen again within this long is a duplicate delivery

# name -> kind; "category" features are strings, the rest floats. Order is the contract.
FEATURES: dict[str, str] = {
    "payment_method": "category",
    "failed_payment": "number",
    "clear_payment": "number",
    "hour_of_day": "number",
    "gender_female": "number",
    "promo_amount": "number",
    "shipment_fee": "number",
    "shipment_lat": "number",
    "shipment_long": "number",
    "total_amount": "number",
    "l1_ratio": "number",
    "l2_ratio": "number",
    "age_years": "number",
    "account_age_days": "number",
    "purchases_before": "number",
    "session_events": "number",
    "session_seconds": "number",
    "events_per_minute": "number",
    "distance_km": "number",
    "new_device": "number",
    "new_traffic_source": "number",
    "failed_payments_24h": "number",
    "transactions_1h": "number",
    "seconds_since_previous": "number",
    "n_items": "number",
    "max_item_price": "number",
    # what other accounts shipped to the same location cell before (features.location)
    **CELL_FEATURES,
}
NUMERIC_FEATURES = tuple(n for n, k in FEATURES.items() if k == "number")
CATEGORY_FEATURES = tuple(n for n, k in FEATURES.items() if k == "category")


@dataclass(frozen=True, slots=True)
class Profile:
    """The static data of a customer that features use (days are days since 1970-01-01)."""

    gender: str
    birth_day: int
    join_day: int
    home_lat: float
    home_long: float


@dataclass(frozen=True, slots=True)
class Payment:
    """The fields of a transaction that features use, as the strings they travel as."""

    session_id: str
    ts: int
    payment_method: str
    payment_status: str
    clear_payment: str
    promo_amount: str
    shipment_fee: str
    shipment_lat: str
    shipment_long: str
    total_amount: str
    product_metadata: str


@dataclass(slots=True)
class _Session:
    first_ts: int
    last_ts: int
    events: int = 0
    l1: int = 0
    l2: int = 0


@dataclass(slots=True)
class CustomerState:
    """What the features remember of one customer; bounded in size, serialisable as JSON."""

    sessions: dict[str, _Session] = field(default_factory=dict)
    devices: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    session_device: dict[str, tuple[str, str]] = field(default_factory=dict)
    failed_ts: list[int] = field(default_factory=list)
    transaction_ts: list[int] = field(default_factory=list)
    purchases: int = 0
    last_transaction_ts: int | None = None
    profile: Profile | None = None
    seen: dict[str, int] = field(default_factory=dict)

    def first_sighting(self, record_id: str, ts: int) -> bool:
        """False when ``record_id`` was already folded in (a duplicate delivery)."""
        if not record_id:
            return True
        if record_id in self.seen:
            return False
        self.seen[record_id] = ts
        return True

    def observe_profile(self, profile: Profile) -> None:
        """The customer's static data, as it stands (sign-ups arrive during a run)."""
        self.profile = profile

    def observe_browsing(
        self, session_id: str, event_type: str, ts: int, device: str, source: str
    ) -> None:
        """Fold one browsing event into the state."""
        s = self.sessions.get(session_id)
        if s is None:
            s = self.sessions[session_id] = _Session(ts, ts)
            self._open_session(session_id, device, source)
        s.first_ts = min(s.first_ts, ts)
        s.last_ts = max(s.last_ts, ts)
        s.events += 1
        s.l1 += event_type in L1_EVENTS
        s.l2 += event_type in L2_EVENTS
        self._expire(ts)

    def _open_session(self, session_id: str, device: str, source: str) -> None:
        # novelty is judged against the sessions before this one, then this one is remembered
        self.session_device[session_id] = (
            "1" if self.devices and device not in self.devices else "0",
            "1" if self.sources and source not in self.sources else "0",
        )
        for seen, value in ((self.devices, device), (self.sources, source)):
            if value in seen:
                seen.remove(value)
            seen.append(value)
            del seen[:-MAX_DEVICES]

    def _expire(self, now: int) -> None:
        stale = [k for k, s in self.sessions.items() if now - s.last_ts > SESSION_TTL_S]
        for k in stale:
            del self.sessions[k]
            self.session_device.pop(k, None)
        self.failed_ts = [t for t in self.failed_ts if now - t <= HISTORY_S]
        if self.seen and now - min(self.seen.values()) > DEDUPE_S:
            self.seen = {k: t for k, t in self.seen.items() if now - t <= DEDUPE_S}
        self.transaction_ts = [t for t in self.transaction_ts if now - t <= HISTORY_S]

    def transaction_features(self, tx: Payment) -> dict[str, Any]:
        """The customer's part of the feature row of one transaction (every feature but the
        location cell's, :mod:`features.location`); then the transaction joins the history."""
        profile = self.profile
        ts = tx.ts
        self._expire(ts)
        s = self.sessions.get(tx.session_id) or _Session(ts, ts)
        novelty = self.session_device.get(tx.session_id, ("0", "0"))
        events = max(s.events, 1)
        seconds = float(max(ts - s.first_ts, 0))
        items = _items(tx.product_metadata)
        lat, long = _float(tx.shipment_lat), _float(tx.shipment_long)
        day = ts // DAY_S
        failed = tx.payment_status.strip().lower() != "success"
        row: dict[str, Any] = {
            "payment_method": tx.payment_method or "unknown",
            "failed_payment": float(failed),
            "clear_payment": float(tx.clear_payment.strip().lower() in ("1", "true", "yes", "y")),
            "hour_of_day": ((s.first_ts + LOCAL_UTC_OFFSET_S) % DAY_S) / 3600.0,
            "gender_female": float(profile is not None and profile.gender.upper().startswith("F")),
            "promo_amount": _float(tx.promo_amount),
            "shipment_fee": _float(tx.shipment_fee),
            "shipment_lat": lat,
            "shipment_long": long,
            "total_amount": _float(tx.total_amount),
            "l1_ratio": s.l1 / events,
            "l2_ratio": s.l2 / events,
            "age_years": (day - profile.birth_day) / 365.25 if profile else -1.0,
            "account_age_days": float(day - profile.join_day) if profile else -1.0,
            "purchases_before": float(self.purchases),
            "session_events": float(s.events),
            "session_seconds": seconds,
            "events_per_minute": s.events / max(seconds / 60.0, 1.0 / 60.0),
            "distance_km": (
                haversine_km(profile.home_lat, profile.home_long, lat, long) if profile else -1.0
            ),
            "new_device": float(novelty[0] == "1"),
            "new_traffic_source": float(novelty[1] == "1"),
            "failed_payments_24h": float(len(self.failed_ts)),
            "transactions_1h": float(sum(1 for t in self.transaction_ts if ts - t <= 3600)),
            "seconds_since_previous": (
                float(max(ts - self.last_transaction_ts, 0))
                if self.last_transaction_ts is not None
                else NO_PREVIOUS_S
            ),
            "n_items": float(sum(q for q, _ in items)),
            "max_item_price": max((p for _, p in items), default=0.0),
        }
        if failed:
            self.failed_ts.append(ts)
        else:
            self.purchases += 1
        self.transaction_ts.append(ts)
        self.last_transaction_ts = ts
        return row

    def to_json(self) -> str:
        """The state as JSON, for Spark's GroupState."""
        return orjson.dumps(
            {
                "sessions": {
                    k: [s.first_ts, s.last_ts, s.events, s.l1, s.l2]
                    for k, s in self.sessions.items()
                },
                "devices": self.devices,
                "sources": self.sources,
                "session_device": self.session_device,
                "failed_ts": self.failed_ts,
                "transaction_ts": self.transaction_ts,
                "purchases": self.purchases,
                "last_transaction_ts": self.last_transaction_ts,
                "seen": self.seen,
                "profile": None
                if self.profile is None
                else [
                    self.profile.gender,
                    self.profile.birth_day,
                    self.profile.join_day,
                    self.profile.home_lat,
                    self.profile.home_long,
                ],
            }
        ).decode()

    @classmethod
    def from_json(cls, text: str) -> CustomerState:
        """The state :meth:`to_json` wrote."""
        d = orjson.loads(text)
        return cls(
            sessions={k: _Session(*v) for k, v in d["sessions"].items()},
            devices=d["devices"],
            sources=d["sources"],
            session_device={k: (v[0], v[1]) for k, v in d["session_device"].items()},
            failed_ts=d["failed_ts"],
            transaction_ts=d["transaction_ts"],
            purchases=d["purchases"],
            last_transaction_ts=d["last_transaction_ts"],
            profile=None if d["profile"] is None else Profile(*d["profile"]),
            seen=d["seen"],
        )


def haversine_km(lat1: float, long1: float, lat2: float, long2: float) -> float:
    """Great-circle distance in km.

    >>> round(haversine_km(-6.2, 106.8, -7.25, 112.75))  # Jakarta to Surabaya
    667
    """
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(long2 - long1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(a)))


def _float(text: str | None) -> float:
    try:
        value = float(text) if text not in (None, "") else 0.0
    except ValueError:
        return 0.0
    return value if math.isfinite(value) else 0.0


def _items(metadata: str) -> list[tuple[float, float]]:
    """(quantity, item price) of each line of product_metadata; [] when it cannot be read."""
    items = parse_items(metadata) if metadata else ()
    return [] if isinstance(items, str) else [(i.quantity, i.item_price) for i in items]


def line_items_json(metadata: str | None) -> str:
    """product_metadata as the JSON list of line items (:class:`fraudlab.records.LineItem`, as
    the codec writes them) that the reports read, ``[]`` when it cannot be read: the one
    parser's reading of it, so that the features and the top-products report see the same
    items whatever form the record wrote them in.

    >>> line_items_json("[{'product_id': 28999, 'quantity': 2, 'item_price': 1000}]")
    '[{"product_id":"28999","quantity":2,"item_price":1000.0}]'
    """
    items = parse_items(metadata) if metadata else ()
    if isinstance(items, str):
        return "[]"
    return codec.encode_list(items).decode()
