"""The streaming fold of one state bucket: a micro-batch of events in, Kafka sink rows out.

Spark groups a micro-batch's rows by a stable bucket of the customer id
(:func:`engine.scoring.state_bucket`) and calls :func:`fold_bucket` once per bucket, with the
bucket's stored customer states (customer id -> the JSON of a
:class:`~features.definition.CustomerState`). Only the customers the micro-batch touches are decoded
and encoded again; the others stay the strings they were. Each customer's events are folded by
:func:`features.frames.fold_events`, the code training uses, and every transaction of the
bucket is then scored in one vectorised call, or, with the location state, passed on to the
location fold (:mod:`engine.cell_fold`), which scores it. Pure: fed with lists in unit tests.

A record waits in the bucket's state until the run's frontier (:mod:`engine.frontier`) has
passed its event time, and is then folded in (time, seq) order: a transaction's features hold
everything its customer did before it and nothing after, wherever micro-batches were cut.

Every input row comes out once: a transaction as a score, a browsing event or profile folded in
silently, and anything else as a dead letter with its reason (a value that could not be parsed,
a record behind the watermark, a second delivery of the same record), so that produced = scored
+ folded in + dropped as late + duplicates + dead-lettered, each term counted once the run is
closed out. A record that arrives within the lateness limit but after the frontier passed it is
folded in when it arrives, and counted in the bucket's frontier report as ``after_frontier``.

>>> state = BucketState()
>>> events = [_event("c1", 0, 100, "e1"), _event("c1", 0, 90, "e1")]
>>> rows = fold_bucket(state, events, watermark_ms=0, score=lambda rows: [0.0] * len(rows),
...                    model=ModelStamp("m", "d" * 64, 0.5), topics=TOPICS)
>>> sorted(state.pending)  # held: the frontier has not passed them yet
['c1']
>>> rows = fold_bucket(state, [_close_out()], watermark_ms=0, score=lambda rows: [],
...                    model=ModelStamp("m", "d" * 64, 0.5), topics=TOPICS)
>>> ((topic, _, value),) = rows
>>> from fraudlab import codec
>>> letter = codec.decode(DeadLetter, value.encode())
>>> topic, letter.reason, orjson.loads(letter.raw)["ts"]
('fraudlab.r.dead-letter', 'duplicate: a second delivery of the same record', 100)
>>> sorted(state.customers), state.pending
(['c1'], {})
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import orjson

from engine.cell_fold import to_cells
from engine.frontier import (
    CLOSED,
    close_out_report,
    decode_report,
    frontier,
    merge,
    partition_key,
    report,
)
from engine.identity import (
    Owners,
    conflicts_message,
    decode_conflicts,
    position,
    take_identities,
)
from engine.verdicts import (
    Challenger,
    Explainer,
    ModelStamp,
    Scorer,
    SinkRow,
    sink_row,
    verdict_rows,
)
from features.definition import CustomerState
from features.frames import (
    CLAIM,
    CUSTOMER,
    EVENT_COLUMNS,
    FRONTIER,
    INVALID,
    RULE_CHANGE,
    SOURCE_COLUMNS,
    TRANSACTION,
    fold_events,
)
from features.location import DEFAULT_RESOLUTION, NO_FIGURES
from fraudlab.records import DeadLetter
from rulebook.rules import RuleBook, RuleChange, RuleError, rule_book_of

SCORED, LATE, DUPLICATE, CONFLICT = "scored", "late", "duplicate", "conflict"


def _compact(obj: dict[str, Any]) -> bytes:
    # null fields are left out, as Spark's to_json writes them
    return orjson.dumps({k: v for k, v in obj.items() if v is not None})


def _dead_letter(raw: bytes, reason: str, e: dict[str, Any], ts: int, topic: str) -> SinkRow:
    source_topic, partition, offset, element = (e[c] for c in SOURCE_COLUMNS)
    letter = DeadLetter(
        raw=raw,
        reason=reason,
        source_topic=source_topic,
        source_partition=int(partition),
        source_offset=int(offset),
        source_element=0 if element is None else int(element),
        ts=int(ts),
    )
    return sink_row(topic, letter)


def _skipped(e: dict[str, Any], outcome: str, note: str, topic: str) -> SinkRow:
    """A record that was read but not folded in, as a dead letter naming what it was."""
    ids = {k: e[k] for k in ("event_id", "customer_id", "session_id", "transaction_id")}
    raw = _compact({**ids, "ts": int(e["ts"])})
    return _dead_letter(raw, f"{outcome}: {note}", e, e["ts"], topic)


@dataclass
class BucketState:
    """What one state bucket keeps between micro-batches.

    ``customers``: customer id -> the JSON of its :class:`~features.definition.CustomerState` (only
    the customers a micro-batch touches are decoded); ``pending``: customer id -> its events not
    yet folded in, held until the frontier passes them; ``known``: the greatest event time each
    input partition is known to have delivered (:mod:`engine.frontier`); ``at``: the frontier
    the bucket last folded up to (None before the first); ``rules``: the run's rule changes
    (:mod:`rulebook.rules`) as their rules-topic messages, in the order they arrived; ``owners``:
    the owner of each id whose claims come to this bucket, and ``conflicts``: record position
    -> why it is a dead letter, for held transactions that claimed another customer's id
    (:mod:`engine.identity`).
    """

    customers: dict[str, str] = field(default_factory=dict)
    pending: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    known: dict[str, int] = field(default_factory=dict)
    at: int | None = None
    rules: list[str] = field(default_factory=list)
    owners: Owners = field(default_factory=Owners)
    conflicts: dict[str, str] = field(default_factory=dict)

    def to_columns(self) -> tuple[str, str, str, str]:
        """The state as Spark keeps it: three JSON strings (a held event as the list of its
        :data:`~features.frames.EVENT_COLUMNS` values, without their names)."""
        pending = {
            c: [[e[k] for k in EVENT_COLUMNS] for e in held] for c, held in self.pending.items()
        }
        return (
            orjson.dumps(self.customers).decode(),
            orjson.dumps(pending).decode(),
            orjson.dumps({"known": self.known, "at": self.at, "rules": self.rules}).decode(),
            orjson.dumps({"owners": self.owners.owners, "conflicts": self.conflicts}).decode(),
        )

    @classmethod
    def from_columns(cls, columns: tuple[str, str, str, str] | None) -> BucketState:
        if columns is None:
            return cls()
        customers, pending, position, identities = (orjson.loads(c) for c in columns)
        held = {
            c: [dict(zip(EVENT_COLUMNS, values, strict=True)) for values in events]
            for c, events in pending.items()
        }
        return cls(
            customers,
            held,
            position["known"],
            position["at"],
            position.get("rules", []),
            Owners(identities["owners"]),
            identities["conflicts"],
        )

    def rule_book(self) -> RuleBook:
        """The rules of the run as this bucket has read them (built once per worker for the
        same changes: conditions are compiled once)."""
        return rule_book_of(tuple(self.rules))


def fold_bucket(
    state: BucketState,
    events: Iterable[dict[str, Any]],
    watermark_ms: int,
    score: Scorer,
    model: ModelStamp,
    topics: dict[str, str],
    partitions: Iterable[str] | None = (),
    share: bool = True,
    bucket: int = 0,
    explain: Explainer | None = None,
    explain_every: bool = False,
    challenger: Challenger | None = None,
    cells: int | None = None,
    resolution: int = DEFAULT_RESOLUTION,
    buckets: int = 1,
    identities: bool = True,
) -> list[SinkRow]:
    """Fold one micro-batch of a bucket's rows into ``state`` (updated in place).

    ``events`` are rows in :data:`features.frames.EVENT_COLUMNS` (plus ``raw`` and
    ``reason`` for values that could not be parsed, and for frontier reports, kind
    :data:`~features.frames.FRONTIER`); ``score`` maps feature rows to fraud
    probabilities; ``partitions`` names the run's input partitions (``topic:partition``), or is
    None to fold every record in the micro-batch it arrives in, without the hold (the
    benchmark's reference: scores then depend on where micro-batches are cut). With ``share``
    False, reports carry only the count of records that arrived after the frontier (a backlog
    read available-now needs no report to move on: its close-out frees what is held).

    Rule changes (kind :data:`~features.frames.RULE_CHANGE`, read into every bucket) join the
    bucket's rule book; each scored transaction is then decided by the model and the rules in
    force at its event time (:meth:`rulebook.rules.RuleBook.decide`). A change that cannot be
    used is a dead letter with its one-sentence reason, written by bucket 0 alone (``bucket``),
    and changes nothing.

    ``explain`` gives the explanation of feature rows (:mod:`models.explanations`): every
    potential fraud carries its own, and with ``explain_every`` every score does; the
    probabilities stay the scorer's, so explanations change no score. A ``challenger`` scores
    the same rows beside the model (:mod:`engine.verdicts`); the model alone decides.

    With ``cells`` (the number of location-cell buckets; ``buckets``, of customer buckets, this
    one being ``bucket``), the transactions are not scored here:
    each feature row, with the location cell of its shipping address at H3 ``resolution``, goes
    to its cell's bucket of the location fold (:mod:`engine.cell_fold`), which adds the cell's
    figures and scores it, together with this bucket's rule changes and how far it has passed
    every transaction on (:func:`engine.cell_fold.to_cells`). Without, the cell figures are
    zero.

    A record is held until the frontier (:func:`engine.frontier.frontier`) passes its event
    time, then folded in (time, seq) order, so a transaction's features hold everything its
    customer did before it and nothing after, however the stream was cut. Returns the Kafka
    sink rows: scores, dead letters, and a frontier report when this bucket's records moved a
    partition's greatest delivered time.
    """
    out: list[SinkRow] = []
    arrived: list[dict[str, Any]] = []
    learned: dict[str, int] = {}
    delivered: dict[str, int] = {}
    changes: list[dict[str, Any]] = []
    claims: list[dict[str, Any]] = []
    conflicts: dict[str, str] = {}
    for e in events:
        kind = e["kind"]
        if kind == FRONTIER:
            learned = merge(learned, decode_report(e["raw"]))
            conflicts.update(decode_conflicts(e["raw"]))
        elif kind == CLAIM:
            claims.append(e)
        elif kind == RULE_CHANGE:
            changes.append(e)
        elif kind == INVALID:
            out.append(
                _dead_letter(e["raw"] or b"", e["reason"], e, e["ts"], topics["dead-letter"])
            )
        else:
            arrived.append(e)
            if kind != CUSTOMER:
                key = partition_key(e["topic"], e["partition"])
                delivered[key] = max(int(e["ts"]), delivered.get(key, int(e["ts"])))
    # in log order, whatever order the micro-batch brought them in: every bucket's book is the same
    accepted: list[str] = []
    for e in sorted(changes, key=lambda e: (int(e["partition"]), int(e["offset"]))):
        refused = _rule_change(state, e)
        if refused is not None and bucket == 0:
            out.append(_dead_letter(e["raw"] or b"", refused, e, 0, topics["dead-letter"]))
        elif refused is None:
            accepted.append(state.rules[-1])
    before = state.known
    advanced = {k: ts for k, ts in delivered.items() if ts > before.get(k, -CLOSED)}
    state.known = merge(merge(before, learned), delivered)

    touched: dict[str, CustomerState] = {}

    def customer_state(customer: str) -> CustomerState:
        if customer not in touched:
            stored = state.customers.get(customer)
            touched[customer] = CustomerState.from_json(stored) if stored else CustomerState()
        return touched[customer]

    behind = 0
    for e in sorted(arrived, key=lambda e: str(e["customer_id"])):
        if e["kind"] != CUSTOMER:
            behind_s = (watermark_ms - int(e["ts"]) * 1000) / 1000
            if behind_s > 0:
                note = f"{behind_s:.0f} s behind the watermark"
                out.append(_skipped(e, LATE, note, topics["dead-letter"]))
                continue
            # within the lateness limit but after the frontier passed it: folded in now, after
            # what its customer did later (a transaction before it was scored without it)
            behind += partitions is not None and state.at is not None and int(e["ts"]) < state.at
        state.pending.setdefault(e["customer_id"], []).append(e)
    found = take_identities(
        state.owners, state.conflicts, state.pending, claims, conflicts, watermark_ms
    )
    if found and "frontier" in topics:
        out.append((topics["frontier"], "conflicts", conflicts_message(found).decode()))
    # a transaction claims its ids in the micro-batch it arrives in; a conflict comes back in
    # the next one: it is folded in no sooner (with the hold)
    fresh = (
        {position(e) for e in arrived if e["kind"] == TRANSACTION}
        if identities and partitions is not None
        else set()
    )
    shared = advanced if share else {}
    if (shared or behind) and partitions is not None and "frontier" in topics:
        out.append((topics["frontier"], "report", report(shared, behind).decode()))

    now = CLOSED if partitions is None else frontier(state.known, partitions)
    features: list[dict[str, Any]] = []
    if now is not None:
        for customer in sorted(state.pending):
            due = _take_due(state, customer, now, fresh)
            if not due:
                continue
            due = [e for e in due if not _conflicted(state, e, out, topics["dead-letter"])]
            rows, duplicates = fold_events(customer_state(customer), due, resolution)
            features.extend(rows)
            for e in duplicates:
                note = "a second delivery of the same record"
                out.append(_skipped(e, DUPLICATE, note, topics["dead-letter"]))
        state.at = now if state.at is None else max(state.at, now)
    for customer, customer_state_ in touched.items():
        state.customers[customer] = customer_state_.to_json()
    if cells is None:
        for row in features:
            row.update(NO_FIGURES)
        out.extend(
            verdict_rows(
                features,
                state.rule_book(),
                score,
                model,
                topics["scores"],
                explain,
                explain_every,
                challenger,
            )
        )
    else:
        passed = CLOSED if partitions is None else _passed(state)
        out.extend(to_cells(features, accepted, passed, bucket, cells, buckets))
    return out


def _passed(state: BucketState) -> int | None:
    """The event time before which this bucket has passed on every transaction it will ever
    fold (but those that arrive after the frontier passed them): its frontier, or the time of
    the first record it still holds if that is earlier; None before it has a frontier."""
    if state.at is None:
        return None
    held = (int(e["ts"]) for pending in state.pending.values() for e in pending)
    return min(state.at, min(held, default=state.at))


def _fold_order(e: dict[str, Any]) -> tuple[int, int]:
    return int(e["ts"]), int(e["seq"])


def _take_due(state: BucketState, customer: str, now: int, fresh: set[str]) -> list[dict[str, Any]]:
    """Take a customer's held records that are due (before the frontier ``now``), in fold
    order, up to its first transaction that arrived in this micro-batch (``fresh``): that one
    and what follows it wait for the next."""
    held = state.pending[customer]
    due = sorted((e for e in held if int(e["ts"]) < now), key=_fold_order)
    if fresh:
        # only a transaction is fresh: the position of any other record is never formatted
        first = (i for i, e in enumerate(due) if e["kind"] == TRANSACTION and position(e) in fresh)
        due = due[: next(first, len(due))]
    taken = {id(e) for e in due}
    rest = [e for e in held if id(e) not in taken]
    if rest:
        state.pending[customer] = rest
    else:
        del state.pending[customer]
    return due


def _conflicted(state: BucketState, e: dict[str, Any], out: list[SinkRow], topic: str) -> bool:
    """Whether a due record is a transaction that claimed another customer's id: then it is a
    dead letter naming both owners, and is not folded in."""
    if e["kind"] != TRANSACTION or not state.conflicts:
        return False
    reason = state.conflicts.pop(position(e), None)
    if reason is None:
        return False
    out.append(_skipped(e, CONFLICT, reason, topic))
    return True


def _rule_change(state: BucketState, e: dict[str, Any]) -> str | None:
    """Add the rule change of row ``e`` to the bucket's rules; the reason it was refused, if so."""
    raw = e["raw"] or b""
    where = f"rule change at {e['topic']} partition {e['partition']} offset {e['offset']}"
    try:
        RuleChange.from_json(raw, where)
    except RuleError as exc:
        return str(exc)
    state.rules.append(raw.decode() if isinstance(raw, bytes) else str(raw))
    return None


TOPICS = {"dead-letter": "fraudlab.r.dead-letter", "scores": "fraudlab.r.scores"}


def _close_out() -> dict[str, Any]:
    """The close-out report as the fold reads it (for examples)."""
    return {"kind": FRONTIER, "raw": close_out_report(), "ts": 0}


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
        "element": 0,
    }
