"""The streaming fold of one state bucket: a micro-batch of events in, Kafka sink rows out.

Spark groups a micro-batch's rows by a stable bucket of the customer id
(:func:`engine.scoring.state_bucket`) and calls :func:`fold_bucket` once per bucket, with the
bucket's stored customer states (customer id -> the JSON of a
:class:`~engine.features.CustomerState`). Only the customers the micro-batch touches are decoded
and encoded again; the others stay the strings they were. Each customer's events are folded by
:func:`engine.feature_frames.fold_events`, the code training uses, and every transaction of the
bucket is then scored in one vectorised call. Pure: fed with lists in unit tests.

Every input row comes out once: a transaction as a score, a browsing event or profile folded in
silently, and anything else as a dead letter with its reason (a value that could not be parsed,
a record behind the watermark, a second delivery of the same record), so that
produced = scored + folded in + dropped as late + duplicates + dead-lettered, each term counted.

>>> states = {}
>>> events = [_event("c1", 0, 100, "e1"), _event("c1", 0, 90, "e1")]
>>> rows = fold_bucket(states, events, watermark_ms=0, score=lambda rows: [0.0] * len(rows),
...                    model=ModelStamp("m", "d" * 64, 0.5), topics=TOPICS)
>>> [(r[0], orjson.loads(base64.b64decode(orjson.loads(r[2])["raw"]))["ts"]) for r in rows]
[('fraudlab.r.dead-letter', 100)]
>>> sorted(states)
['c1']
"""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Callable, Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

import orjson

from engine.feature_frames import CUSTOMER, INVALID, SOURCE_COLUMNS, fold_events
from engine.features import CustomerState, line_items_json

SCORED, LATE, DUPLICATE = "scored", "late", "duplicate"
# (topic, key, value) of a Kafka sink row
SinkRow = tuple[str, str, str]
Scorer = Callable[[list[dict[str, Any]]], Iterable[float]]


@dataclass(frozen=True)
class ModelStamp:
    """What each score says of the model that gave it, and the threshold of its prediction."""

    name: str
    digest: str
    threshold: float


def _compact(obj: dict[str, Any]) -> bytes:
    # null fields are left out, as Spark's to_json writes them
    return orjson.dumps({k: v for k, v in obj.items() if v is not None})


def _dead_letter(raw: bytes, reason: str, e: dict[str, Any], ts: int, topic: str) -> SinkRow:
    source = [e[c] for c in SOURCE_COLUMNS]
    letter = {
        "raw": base64.b64encode(raw).decode("ascii"),
        "reason": reason,
        "source_topic": source[0],
        "source_partition": None if source[1] is None else int(source[1]),
        "source_offset": None if source[2] is None else int(source[2]),
        "ts": int(ts),
    }
    key = "|".join("" if s is None else str(int(s) if i else s) for i, s in enumerate(source))
    return (topic, key, _compact(letter).decode())


def _skipped(e: dict[str, Any], outcome: str, note: str, topic: str) -> SinkRow:
    """A record that was read but not folded in, as a dead letter naming what it was."""
    ids = {k: e[k] for k in ("event_id", "customer_id", "session_id", "transaction_id")}
    raw = _compact({**ids, "ts": int(e["ts"])})
    return _dead_letter(raw, f"{outcome}: {note}", e, e["ts"], topic)


def _score(row: dict[str, Any], probability: float, model: ModelStamp, topic: str) -> SinkRow:
    score = {
        "transaction_id": row["transaction_id"],
        "session_id": row["session_id"],
        "customer_id": row["customer_id"],
        "ts": int(row["ts"]),
        "probability": probability,
        "prediction": int(probability >= model.threshold),
        "model_name": model.name,
        "model_digest": model.digest,
        "total_amount": row["total_amount"],
        "shipment_location_lat": row["shipment_lat"],
        "shipment_location_long": row["shipment_long"],
        "product_metadata": line_items_json(row["product_metadata"]),
    }
    return (topic, str(row["transaction_id"]), _compact(score).decode())


def fold_bucket(
    states: MutableMapping[str, str],
    events: Iterable[dict[str, Any]],
    watermark_ms: int,
    score: Scorer,
    model: ModelStamp,
    topics: dict[str, str],
) -> list[SinkRow]:
    """Fold one micro-batch of a bucket's rows into ``states`` (updated in place).

    ``events`` are rows in :data:`engine.feature_frames.EVENT_COLUMNS` (plus ``raw`` and
    ``reason`` for values that could not be parsed); ``score`` maps feature rows to fraud
    probabilities. Returns the Kafka sink rows: scores and dead letters, customers in id order.
    """
    by_customer: dict[str, list[dict[str, Any]]] = defaultdict(list)
    out: list[SinkRow] = []
    for e in events:
        if e["kind"] == INVALID:
            out.append(
                _dead_letter(e["raw"] or b"", e["reason"], e, e["ts"], topics["dead-letter"])
            )
        else:
            by_customer[e["customer_id"]].append(e)
    features: list[dict[str, Any]] = []
    for customer in sorted(by_customer):
        stored = states.get(customer)
        state = CustomerState.from_json(stored) if stored else CustomerState()
        on_time = []
        for e in by_customer[customer]:
            behind_s = (watermark_ms - int(e["ts"]) * 1000) / 1000
            if e["kind"] != CUSTOMER and behind_s > 0:
                note = f"{behind_s:.0f} s behind the watermark"
                out.append(_skipped(e, LATE, note, topics["dead-letter"]))
            else:
                on_time.append(e)
        rows, duplicates = fold_events(state, on_time)
        features.extend(rows)
        for e in duplicates:
            note = "a second delivery of the same record"
            out.append(_skipped(e, DUPLICATE, note, topics["dead-letter"]))
        states[customer] = state.to_json()
    if features:
        probabilities = score(features)
        out.extend(
            _score(row, float(p), model, topics["scores"])
            for row, p in zip(features, probabilities, strict=True)
        )
    return out


TOPICS = {"dead-letter": "fraudlab.r.dead-letter", "scores": "fraudlab.r.scores"}


def _event(customer: str, kind: int, ts: int, event_id: str) -> dict[str, Any]:
    """A browsing event (kind 0) with only the fields the fold reads (for examples)."""
    return {
        "customer_id": customer,
        "kind": kind,
        "ts": ts,
        "seq": 0,
        "session_id": "s1",
        "event_type": "HP",
        "device_type": "Android",
        "traffic_source": "WEB",
        "transaction_id": None,
        "event_id": event_id,
        "topic": "fraudlab.r.browsing",
        "partition": 0,
        "offset": ts,
    }
