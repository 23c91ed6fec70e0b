"""The fold of one state bucket, fed with lists: late, duplicate, unreadable and scored rows."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from engine.bucket_fold import ModelStamp, fold_bucket
from engine.feature_frames import BROWSING, CUSTOMER, EVENT_COLUMNS, INVALID, TRANSACTION
from engine.features import CustomerState

TOPICS = {"dead-letter": "r.dead-letter", "scores": "r.scores"}
MODEL = ModelStamp("m", "d" * 64, 0.5)
T0 = 1_767_600_000


def _row(kind: int, customer: str | None, ts: int, offset: int, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(EVENT_COLUMNS)
    topic = {BROWSING: "r.browsing", TRANSACTION: "r.transactions"}.get(kind, "r.customer")
    row.update(customer_id=customer, kind=kind, ts=ts, seq=0, topic=topic, partition=0)
    row.update(offset=offset, raw=None, reason=None)
    row.update(fields)
    return row


def _browse(customer: str, ts: int, event_id: str, offset: int) -> dict[str, Any]:
    return _row(
        BROWSING, customer, ts, offset, session_id="s1", event_type="ATC", device_type="iOS",
        traffic_source="WEB", event_id=event_id,
    )  # fmt: skip


def _pay(customer: str, ts: int, tx: str, offset: int, metadata: str) -> dict[str, Any]:
    return _row(
        TRANSACTION, customer, ts, offset, session_id="s1", transaction_id=tx, event_id=tx,
        payment_method="OVO", payment_status="Success", clear_payment="1", promo_amount="0",
        shipment_fee="0", shipment_location_lat="-6.2", shipment_location_long="106.8",
        total_amount="100", product_metadata=metadata, seq=1,
    )  # fmt: skip


def _fold(states: dict[str, str], rows: list[dict[str, Any]], watermark_s: int = 0) -> list[Any]:
    scored: list[list[dict[str, Any]]] = []

    def score(features: list[dict[str, Any]]) -> list[float]:
        scored.append(features)
        return [0.9 if f["n_items"] > 1 else 0.1 for f in features]

    out = fold_bucket(states, rows, watermark_s * 1000, score, MODEL, TOPICS)
    return [(topic, key, orjson.loads(value)) for topic, key, value in out]


def test_a_transaction_is_scored_with_the_events_of_its_customer_before_it() -> None:
    states: dict[str, str] = {}
    metadata = "[{'product_id': 7, 'quantity': 2, 'item_price': 50}]"  # the assignment's form
    out = _fold(
        states,
        [_pay("c1", T0 + 60, "t1", 0, metadata), _browse("c1", T0, "e1", 0)],
    )
    assert len(out) == 1
    topic, key, score = out[0]
    assert (topic, key, score["transaction_id"]) == ("r.scores", "t1", "t1")
    assert (score["probability"], score["prediction"]) == (0.9, 1)  # two items: one parser
    assert orjson.loads(score["product_metadata"]) == [
        {"product_id": "7", "quantity": 2, "item_price": 50.0}
    ]
    assert CustomerState.from_json(states["c1"]).purchases == 1


def test_late_duplicate_and_unreadable_rows_become_dead_letters_with_their_reason() -> None:
    states: dict[str, str] = {}
    bad = _row(INVALID, None, T0, 9, raw=b"{nope", reason="not JSON")
    rows = [
        _browse("c1", T0 + 500, "e1", 1),
        _browse("c1", T0 + 500, "e1", 2),  # the same record delivered again
        _browse("c2", T0 + 100, "e2", 3),  # 280 s behind a watermark at T0 + 380
        bad,
    ]
    out = _fold(states, rows, watermark_s=T0 + 380)
    letters = sorted((key, value["reason"]) for topic, key, value in out)
    assert [t for t, _, _ in out] == ["r.dead-letter"] * 3
    assert letters == [
        ("r.browsing|0|2", "duplicate: a second delivery of the same record"),
        ("r.browsing|0|3", "late: 280 s behind the watermark"),
        ("r.customer|0|9", "not JSON"),
    ]
    raw = {key: base64.b64decode(value["raw"]) for _, key, value in out}
    assert raw["r.customer|0|9"] == b"{nope"
    assert orjson.loads(raw["r.browsing|0|3"])["event_id"] == "e2"
    assert sorted(states) == ["c1", "c2"]


def test_only_the_customers_a_micro_batch_touches_are_decoded_and_written_again() -> None:
    states: dict[str, str] = {"c9": '{"kept": "as it was, never decoded"}'}
    profile = _row(
        CUSTOMER, "c1", T0, 0, gender="F", birth_day=8000, join_day=19000, home_lat=-6.2,
        home_long=106.8,
    )  # fmt: skip
    assert _fold(states, [profile]) == []
    assert states["c9"] == '{"kept": "as it was, never decoded"}'
    assert CustomerState.from_json(states["c1"]).profile is not None


def test_an_empty_micro_batch_changes_nothing() -> None:
    states = {"c1": CustomerState().to_json()}
    before = dict(states)
    assert _fold(states, []) == []
    assert states == before
