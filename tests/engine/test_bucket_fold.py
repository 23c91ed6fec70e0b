"""The fold of one state bucket, fed with lists: the frontier hold, late, duplicate, unreadable
and scored rows, events out of order, and a profile that arrives after the customer's events."""

from __future__ import annotations

import base64
from typing import Any

import orjson

from engine.bucket_fold import BucketState, fold_bucket
from engine.cell_fold import CELLS
from engine.frontier import CLOSED, close_out_report, report
from engine.verdicts import ModelStamp
from features.definition import CustomerState
from features.frames import (
    BROWSING,
    CLAIM,
    CUSTOMER,
    EVENT_COLUMNS,
    FRONTIER,
    INVALID,
    TRANSACTION,
    fold_events,
)
from features.location import DEFAULT_RESOLUTION, cell_of

TOPICS = {"dead-letter": "r.dead-letter", "scores": "r.scores", "frontier": "r.frontier"}
PARTITIONS = ["r.browsing:0", "r.transactions:0"]
MODEL = ModelStamp("m", "d" * 64, 0.5)
T0 = 1_767_600_000


def _row(kind: int, customer: str | None, ts: int, offset: int, **fields: Any) -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(EVENT_COLUMNS)
    topic = {BROWSING: "r.browsing", TRANSACTION: "r.transactions"}.get(kind, "r.customer")
    row.update(customer_id=customer, kind=kind, ts=ts, seq=0, topic=topic, partition=0)
    row.update(offset=offset, element=0, raw=None, reason=None)
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


def _report(partitions: dict[str, int] | None = None) -> dict[str, Any]:
    """A frontier report read back into the bucket (the close-out without ``partitions``)."""
    value = report(partitions) if partitions else close_out_report()
    return _row(FRONTIER, None, 0, 0, raw=value, topic="r.frontier")


def _fold(state: BucketState, rows: list[dict[str, Any]], watermark_s: int = 0) -> list[Any]:
    def score(features: list[dict[str, Any]]) -> list[float]:
        return [0.9 if f["n_items"] > 1 else 0.1 for f in features]

    out = fold_bucket(state, rows, watermark_s * 1000, score, MODEL, TOPICS, PARTITIONS)
    return [(topic, key, orjson.loads(value)) for topic, key, value in out]


def _of(out: list[Any], topic: str) -> list[Any]:
    return [(key, value) for t, key, value in out if t == topic]


def test_a_transaction_is_held_until_the_frontier_passes_it_then_scored_with_what_came_before() -> (
    None
):
    state = BucketState()
    metadata = "[{'product_id': 7, 'quantity': 2, 'item_price': 50}]"  # the assignment's form
    before, tx = _browse("c1", T0, "e1", 0), _pay("c1", T0 + 60, "t1", 0, metadata)
    after = _browse("c1", T0 + 120, "e2", 1)  # the same session, after the payment
    out = _fold(state, [tx, after, before])
    # the transactions partition has delivered up to the payment itself, no further
    assert _of(out, "r.scores") == []
    assert _of(out, "r.frontier") == [
        (
            "report",
            {
                "partitions": {"r.browsing:0": T0 + 120, "r.transactions:0": T0 + 60},
                "after_frontier": 0,
            },
        )
    ]
    assert sorted(state.pending) == ["c1"]
    # another bucket's report: the transactions partition is past it
    out = _fold(state, [_report({"r.transactions:0": T0 + 300})])
    ((key, score),) = _of(out, "r.scores")
    assert _of(out, "r.frontier") == []  # what it learned from others is not reported again
    assert (key, score["probability"], score["prediction"]) == ("t1", 0.9, 1)  # two items
    assert orjson.loads(score["product_metadata"]) == [
        {"product_id": "7", "quantity": 2, "item_price": 50.0}
    ]
    expected, _ = fold_events(CustomerState(), [before, tx])
    assert CustomerState.from_json(state.customers["c1"]).purchases == 1
    assert [e["event_id"] for e in state.pending["c1"]] == ["e2"]  # at the frontier: held
    assert expected[0]["n_items"] == 2


def test_the_same_events_give_the_same_scores_however_the_micro_batches_are_cut() -> None:
    events = [
        _browse("c1", T0, "e1", 0),
        _pay("c1", T0 + 10, "t1", 0, "[]"),
        _browse("c1", T0 + 20, "e2", 1),
        _browse("c2", T0 + 25, "e3", 2),
        _pay("c1", T0 + 30, "t2", 1, "[{'product_id': 1, 'quantity': 3, 'item_price': 5}]"),
        _browse("c1", T0 + 31, "e4", 3),
        _pay("c2", T0 + 40, "t3", 2, "[]"),
    ]
    results = []
    for cuts in ([7], [1, 6], [2, 2, 3], [1] * 7):
        state, out, start = BucketState(), [], 0
        for size in cuts:
            out += _fold(state, events[start : start + size])
            start += size
        out += _fold(state, [_report()])  # the close-out: nothing stays held
        results.append(sorted((k, v["probability"]) for k, v in _of(out, "r.scores")))
        assert state.pending == {}
    assert results[0] == [("t1", 0.1), ("t2", 0.9), ("t3", 0.1)]
    assert all(r == results[0] for r in results)


def test_records_of_one_message_become_dead_letters_of_their_own() -> None:
    # a message holding a JSON array of three late records: one dead letter per element
    state = BucketState()
    rows = [_browse("c1", T0 + 500, "e0", 1)]
    rows += [{**_browse("c2", T0 + 100, f"e{i}", 7), "element": i} for i in (1, 2, 3)]
    out = _fold(state, rows, watermark_s=T0 + 380)
    letters = sorted(key for key, _ in _of(out, "r.dead-letter"))
    assert letters == ["r.browsing|0|7|1", "r.browsing|0|7|2", "r.browsing|0|7|3"]
    elements = sorted(v["source_element"] for _, v in _of(out, "r.dead-letter"))
    assert elements == [1, 2, 3]


def test_late_duplicate_and_unreadable_rows_become_dead_letters_with_their_reason() -> None:
    state = BucketState()
    bad = _row(INVALID, None, T0, 9, raw=b"{nope", reason="not JSON")
    rows = [
        _browse("c1", T0 + 500, "e1", 1),
        _browse("c1", T0 + 500, "e1", 2),  # the same record delivered again
        _browse("c2", T0 + 100, "e2", 3),  # 280 s behind a watermark at T0 + 380
        bad,
    ]
    out = _fold(state, rows, watermark_s=T0 + 380)
    out += _fold(state, [_report({"r.transactions:0": T0 + 600, "r.browsing:0": T0 + 600})])
    letters = sorted((key, value["reason"]) for key, value in _of(out, "r.dead-letter"))
    assert letters == [
        ("r.browsing|0|2|0", "duplicate: a second delivery of the same record"),
        ("r.browsing|0|3|0", "late: 280 s behind the watermark"),
        ("r.customer|0|9|0", "not JSON"),
    ]
    raw = {key: base64.b64decode(value["raw"]) for key, value in _of(out, "r.dead-letter")}
    assert raw["r.customer|0|9|0"] == b"{nope"
    assert orjson.loads(raw["r.browsing|0|3|0"])["event_id"] == "e2"
    assert sorted(state.customers) == ["c1"]


def test_a_record_behind_the_frontier_is_folded_in_counted_and_a_repeat_is_a_duplicate() -> None:
    state = BucketState()
    _fold(state, [_browse("c1", T0, "e1", 0), _pay("c1", T0 + 10, "t1", 0, "[]")])
    scored = _fold(state, [_report({"r.browsing:0": T0 + 100, "r.transactions:0": T0 + 100})])
    assert [k for k, _ in _of(scored, "r.scores")] == ["t1"]
    assert state.at == T0 + 100
    # 95 s behind the frontier, within the 2-minute limit: folded in, and counted as such
    out = _fold(state, [_browse("c1", T0 + 5, "e9", 7), _browse("c1", T0, "e1", 8)])
    assert _of(out, "r.frontier") == [("report", {"partitions": {}, "after_frontier": 2})]
    assert [(k, v["reason"]) for k, v in _of(out, "r.dead-letter")] == [
        ("r.browsing|0|8|0", "duplicate: a second delivery of the same record")
    ]
    assert "e9" in CustomerState.from_json(state.customers["c1"]).seen
    assert state.pending == {}


def test_profiles_wait_for_the_frontier_like_events_and_never_report_a_partition() -> None:
    state = BucketState(customers={"c9": '{"kept": "as it was, never decoded"}'})
    profile = _row(
        CUSTOMER, "c1", T0, 0, gender="F", birth_day=8000, join_day=19000, home_lat=-6.2,
        home_long=106.8,
    )  # fmt: skip
    assert _fold(state, [profile]) == []
    assert "c1" in state.pending
    assert _fold(state, [_report()]) == []
    assert state.customers["c9"] == '{"kept": "as it was, never decoded"}'
    assert CustomerState.from_json(state.customers["c1"]).profile is not None


def test_an_empty_micro_batch_changes_nothing() -> None:
    state = BucketState(customers={"c1": CustomerState().to_json()})
    before = state.to_columns()
    assert _fold(state, []) == []
    assert state.to_columns() == before
    assert BucketState.from_columns(before) == state


def test_without_the_hold_a_transaction_is_scored_in_the_micro_batch_it_arrives_in() -> None:
    state = BucketState()
    rows = [_browse("c1", T0, "e1", 0), _pay("c1", T0 + 60, "t1", 0, "[]")]
    out = fold_bucket(state, rows, 0, lambda f: [0.5] * len(f), MODEL, TOPICS, None)
    assert [(t, k) for t, k, _ in out] == [("r.scores", "t1")]  # no report, nothing held
    assert state.pending == {}


def test_a_profile_that_arrives_after_the_customer_s_events_still_counts_before_the_frontier() -> (
    None
):
    """Profiles and events are folded in event-time order once the frontier passes them, not in
    the order they arrive: a sign-up delivered after the customer's first payment (a slow
    profile topic) still gives that payment its profile features."""
    seen: list[dict[str, Any]] = []

    def score(features: list[dict[str, Any]]) -> list[float]:
        seen.extend(features)
        return [0.5] * len(features)

    state = BucketState()
    pay = _pay("c1", T0 + 60, "t1", 0, "[]")
    profile = _row(
        CUSTOMER, "c1", T0 - 3600, 0, gender="F", birth_day=8000, join_day=19000,
        home_lat=-6.2, home_long=106.8,
    )  # fmt: skip
    assert fold_bucket(state, [_browse("c1", T0, "e1", 0), pay], 0, score, MODEL, TOPICS, None)
    assert seen and seen[0]["distance_km"] == -1.0  # without the hold: scored with no profile
    seen.clear()
    held = BucketState()
    for rows in ([_browse("c1", T0, "e1", 0), pay], [profile], [_report()]):
        fold_bucket(held, rows, 0, score, MODEL, TOPICS, PARTITIONS)
    ((features,),) = [seen]
    assert features["distance_km"] == 0.0 and features["account_age_days"] > 0


def test_events_delivered_out_of_order_are_folded_in_event_time_order() -> None:
    """Two payments of one customer delivered newest first, within the lateness: the older is
    scored as the customer's first transaction and the newer sees it, as in training."""
    seen: list[dict[str, Any]] = []

    def score(features: list[dict[str, Any]]) -> list[float]:
        seen.extend(features)
        return [0.5] * len(features)

    newer, older = _pay("c1", T0 + 600, "t2", 1, "[]"), _pay("c1", T0 + 60, "t1", 0, "[]")
    state = BucketState()
    # a transaction is folded in no sooner than the micro-batch after it arrived (a conflict
    # over its ids would come back by then: engine.identity)
    out = fold_bucket(state, [newer, older, _report()], 0, score, MODEL, TOPICS, PARTITIONS)
    assert not [key for topic, key, _ in out if topic == "r.scores"]
    out = fold_bucket(state, [_report()], 0, score, MODEL, TOPICS, PARTITIONS)
    assert [key for topic, key, _ in out if topic == "r.scores"] == ["t1", "t2"]
    first, second = seen
    assert first["seconds_since_previous"] > second["seconds_since_previous"] == 540.0


def _claim(pay: dict[str, Any], key: str) -> dict[str, Any]:
    """The claim row of transaction row ``pay`` on ``key`` (engine.scoring's claim rows)."""
    row = _row(CLAIM, pay["customer_id"], pay["ts"], pay["offset"], event_id=key, seq=1)
    row.update(topic=pay["topic"], partition=pay["partition"], element=pay["element"])
    return row


def _conflicts_read_back(out: list[Any]) -> dict[str, Any]:
    ((_, raw),) = [(k, v) for t, k, v in out if t == "r.frontier" and k == "conflicts"]
    return _row(FRONTIER, None, 0, 0, raw=orjson.dumps(raw), topic="r.frontier")


def test_an_id_claimed_by_a_second_customer_is_a_dead_letter_naming_both_owners() -> None:
    """A transaction id under two customers, and a session under two customers: the first
    claim owns the id, the second transaction is a dead letter with both owners in its reason,
    in the bucket that holds it; the same record delivered twice stays a duplicate."""
    first = _pay("c1", T0 + 10, "tx1", 0, "[]")
    second = _pay("c2", T0 + 20, "tx1", 1, "[]") | {"session_id": "s2"}
    sharer = _pay("c3", T0 + 30, "tx3", 2, "[]")  # in c1's session s1
    again = _pay("c1", T0 + 10, "tx1", 0, "[]") | {"offset": 3}  # c1's record delivered twice
    ids = BucketState()  # the bucket the ids hash to
    claims = [
        _claim(p, key)
        for p in (first, second, sharer, again)
        for key in (f"t:{p['transaction_id']}", f"s:{p['session_id']}")
    ]
    found = _fold(ids, claims)
    (conflicts,) = [v for t, k, v in found if k == "conflicts"]
    assert conflicts == {
        "conflicts": {
            "r.transactions:0:1:0": "transaction id tx1 is customer c1's, not customer c2's",
            "r.transactions:0:2:0": "session s1 is customer c1's, not customer c3's",
        }
    }
    # each customer's own bucket: held first, then folded with the conflicts read back
    holders = {c: BucketState() for c in ("c1", "c2", "c3")}
    for p in (first, second, sharer, again):
        assert not _of(_fold(holders[p["customer_id"]], [p]), "r.scores")
    scored, letters = [], []
    for holder in holders.values():
        out = _fold(holder, [_conflicts_read_back(found), _report()])
        scored += [k for k, _ in _of(out, "r.scores")]
        letters += [v["reason"] for _, v in _of(out, "r.dead-letter")]
    assert scored == ["tx1"]
    assert sorted(letters) == [
        "conflict: session s1 is customer c1's, not customer c3's",
        "conflict: transaction id tx1 is customer c1's, not customer c2's",
        "duplicate: a second delivery of the same record",
    ]
    assert all(not h.conflicts for h in holders.values())


def test_a_fresh_transaction_waits_a_micro_batch_for_its_conflicts_unless_no_ids_are_claimed() -> (
    None
):
    """With the identity check a transaction is folded no sooner than the micro-batch after the
    one it came in (its conflicts come back in that one); without (the benchmark's reference),
    the frontier alone holds it."""

    def scored(identities: bool) -> list[list[str]]:
        def score(features: list[dict[str, Any]]) -> list[float]:
            return [0.1 for _ in features]

        state, keys = BucketState(), []
        for rows in ([_pay("c1", T0, "tx1", 0, "[]"), _report()], [_report()]):
            out = fold_bucket(
                state, rows, 0, score, MODEL, TOPICS, PARTITIONS, identities=identities
            )
            keys.append([key for topic, key, _ in out if topic == "r.scores"])
        return keys

    assert scored(identities=True) == [[], ["tx1"]]
    assert scored(identities=False) == [["tx1"], []]


def test_a_bucket_state_with_owners_and_conflicts_survives_its_columns() -> None:
    state = BucketState()
    _fold(state, [_claim(_pay("c1", T0, "tx1", 0, "[]"), "t:tx1")])
    state.conflicts["r.transactions:0:9:0"] = "why"
    again = BucketState.from_columns(state.to_columns())
    assert again.owners.owners == {"t:tx1": ["c1", T0]} and again.conflicts == state.conflicts


def test_scores_and_dead_letters_are_the_contract_s_records_with_their_keys() -> None:
    """What the fold writes is read back by the codec, and keyed as message_key keys it."""
    from fraudlab import codec
    from fraudlab.records import DeadLetter, Score, message_key

    state = BucketState()
    rows = [
        _pay("c1", T0 + 300, "t1", 0, '[{"product_id": "p1", "quantity": 2, "item_price": 5}]'),
        _browse("c2", T0 + 100, "e2", 3),
    ]

    def score(features: list[dict[str, Any]]) -> list[float]:
        return [0.9] * len(features)

    # without the hold: the payment is scored in this micro-batch, the browsing event is late
    out = fold_bucket(state, rows, (T0 + 200) * 1000, score, MODEL, TOPICS, None)
    by_topic = {topic: (key, value) for topic, key, value in out}
    key, value = by_topic["r.scores"]
    score = codec.decode(Score, value.encode())
    assert message_key(score) == key.encode() == b"t1"
    assert (score.shipment_location_lat, score.shipment_location_long) == (-6.2, 106.8)
    assert score.product_metadata == '[{"product_id":"p1","quantity":2,"item_price":5.0}]'
    assert (score.prediction, score.reasons, score.model_name) == (1, "model", "m")
    key, value = by_topic["r.dead-letter"]
    letter = codec.decode(DeadLetter, value.encode())
    assert message_key(letter) == key.encode() == b"r.browsing|0|3|0"
    assert letter.reason == "late: 100 s behind the watermark"


def test_each_potential_fraud_carries_its_explanation_and_no_score_changes() -> None:
    def score(features: list[dict[str, Any]]) -> list[float]:
        return [0.9 if f["n_items"] > 1 else 0.1 for f in features]

    asked: list[list[str]] = []

    def explain(features: list[dict[str, Any]]) -> list[str]:
        asked.append([f["transaction_id"] for f in features])
        return [orjson.dumps({"n_items": f["n_items"]}).decode() for f in features]

    one = "[{'product_id': 7, 'quantity': 1, 'item_price': 50}]"
    two = "[{'product_id': 7, 'quantity': 2, 'item_price': 50}]"
    rows = [_pay("c1", T0, "t1", 0, two), _pay("c1", T0 + 5, "t2", 1, one)]

    def scores(explain_every: bool) -> dict[str, Any]:
        out = fold_bucket(
            BucketState(), rows, 0, score, MODEL, TOPICS, None,
            explain=explain, explain_every=explain_every,
        )  # fmt: skip
        return {key: orjson.loads(value) for topic, key, value in out if topic == "r.scores"}

    flagged = scores(False)
    # one call per micro-batch, for the potential frauds alone
    assert asked == [["t1"]]
    assert orjson.loads(flagged["t1"]["explanation"]) == {"n_items": 2.0}
    assert flagged["t2"]["explanation"] is None
    every = scores(True)
    assert asked[-1] == ["t1", "t2"] and orjson.loads(every["t2"]["explanation"])
    plain = {
        key: orjson.loads(value)
        for topic, key, value in fold_bucket(BucketState(), rows, 0, score, MODEL, TOPICS, None)
        if topic == "r.scores"
    }
    for key, value in plain.items():
        assert {**flagged[key], "explanation": None} == value


def test_a_challenger_is_scored_beside_the_model_and_changes_none_of_its_fields() -> None:
    from engine.verdicts import Challenger

    def score(features: list[dict[str, Any]]) -> list[float]:
        return [0.9 if f["n_items"] > 1 else 0.1 for f in features]

    seen: list[list[str]] = []

    def challenger_score(features: list[dict[str, Any]]) -> list[float]:
        seen.append([f["transaction_id"] for f in features])
        return [0.2 if f["n_items"] > 1 else 0.7 for f in features]

    challenger = Challenger(ModelStamp("m2", "e" * 64, 0.6), challenger_score)
    one = "[{'product_id': 7, 'quantity': 1, 'item_price': 50}]"
    two = "[{'product_id': 7, 'quantity': 2, 'item_price': 50}]"
    rows = [_pay("c1", T0, "t1", 0, two), _pay("c1", T0 + 5, "t2", 1, one)]

    def scores(beside: Challenger | None) -> dict[str, bytes]:
        out = fold_bucket(BucketState(), rows, 0, score, MODEL, TOPICS, None, challenger=beside)
        return {key: value.encode() for topic, key, value in out if topic == "r.scores"}

    alone, both = scores(None), scores(challenger)
    assert seen == [["t1", "t2"]]  # one call for the micro-batch's transactions
    verdicts = {k: orjson.loads(v) for k, v in both.items()}
    assert [
        (v["prediction"], v["challenger_probability"], v["challenger_prediction"])
        for v in verdicts.values()
    ] == [(1, 0.2, 0), (0, 0.7, 1)]
    assert {v["challenger_name"] for v in verdicts.values()} == {"m2"}
    nulled = {
        "challenger_name": None,
        "challenger_digest": None,
        "challenger_probability": None,
        "challenger_prediction": None,
    }
    for key, value in both.items():
        assert orjson.dumps({**orjson.loads(value), **nulled}) == alone[key]


def test_with_the_location_state_transactions_go_to_their_cell_with_how_far_the_bucket_passed() -> (
    None
):
    state = BucketState()
    metadata = "[{'product_id': 7, 'quantity': 1, 'item_price': 50}]"
    first, second = _pay("c1", T0 + 10, "t1", 0, metadata), _pay("c2", T0 + 20, "t2", 1, metadata)
    rows = [first, second, _browse("c3", T0 + 30, "e1", 0)]

    def fold(batch: list[dict[str, Any]]) -> list[Any]:
        def unused(features: list[dict[str, Any]]) -> list[float]:
            raise AssertionError("the location fold scores")

        return fold_bucket(
            state, batch, 0, unused, MODEL, TOPICS, PARTITIONS, cells=4, bucket=1, buckets=2
        )

    # nothing before the frontier yet: no transaction, and the bucket has passed on all before it
    out = fold(rows)
    sent = [(key, orjson.loads(value)) for topic, key, value in out if topic == CELLS]
    assert sorted(k for k, _ in sent) == ["passed:0", "passed:1", "passed:2", "passed:3"]
    assert {tuple(v) for _, v in sent} == {(1, T0 + 10)}  # the first record it holds
    # the close-out: both transactions go on, with their cells, and nothing is held any more
    out = fold([_report()])
    sent = [(key.split(":")[0], orjson.loads(value)) for topic, key, value in out if topic == CELLS]
    transactions = [v for k, v in sent if k == "transaction"]
    assert [t["transaction_id"] for t in transactions] == ["t1", "t2"]
    assert {t["cell"] for t in transactions} == {cell_of("-6.2", "106.8", DEFAULT_RESOLUTION)}
    assert "cell_customers_1h" not in transactions[0]  # the location fold adds them
    assert {tuple(v) for k, v in sent if k == "passed"} == {(1, CLOSED)}
    assert _of([(t, k, orjson.loads(v)) for t, k, v in out], "r.scores") == []
