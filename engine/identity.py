"""Who owns a transaction id or a session id: a record id claimed by a second customer is a
dead letter, scored once as its first owner's.

Every transaction claims its transaction id and its session id for its customer. The claims
travel beside the records, in the same micro-batch, to the state bucket of each id (a stable
hash of the id, :func:`engine.scoring.state_bucket` of a claim row), which keeps the id's owner
for an hour of event time after its last claim. An id's owner is the customer of its first
claim: claims are taken in the order their micro-batches came, and within one micro-batch in
(ts, topic, partition, offset, element) order. A claim by another customer is a conflict. The
id's bucket writes its conflicts to the engine-internal frontier topic (:mod:`engine.frontier`),
which the next micro-batch reads into every bucket; the transaction's own bucket folds a
transaction in no sooner than the micro-batch after the one it arrived in, so the conflict is
there when it would be, and the transaction becomes a dead letter whose reason names both
owners instead of a score. The same record delivered twice claims for the same customer: that
is no conflict, and the fold counts it a duplicate as before.

>>> owners = Owners()
>>> owners.claim("t:tx1", "c1", 100), owners.claim("t:tx1", "c1", 101)
(None, None)
>>> owners.claim("t:tx1", "c2", 105)
'c1'
>>> conflict_reason("t:tx1", "c1", "c2")
"transaction id tx1 is customer c1's, not customer c2's"
>>> decode_conflicts(conflicts_message({"t:0:5:0": "x"}))
{'t:0:5:0': 'x'}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

# how long (event time, s) an id's owner is kept after its last claim: as long as the fold
# remembers a record id to tell a second delivery (features.definition.DEDUPE_S)
OWNER_TTL_S = 3600
TRANSACTION_ID, SESSION_ID = "t:", "s:"
KINDS = {TRANSACTION_ID: "transaction id", SESSION_ID: "session"}


def claim_keys(transaction_id: str | None, session_id: str | None) -> list[str]:
    """The ids a transaction claims, as claim keys (``t:ID``, ``s:ID``; empty ids claim nothing).

    >>> claim_keys("tx1", ""), claim_keys("tx1", "s9")
    (['t:tx1'], ['t:tx1', 's:s9'])
    """
    ids = ((TRANSACTION_ID, transaction_id), (SESSION_ID, session_id))
    return [prefix + value for prefix, value in ids if value]


def position(e: Mapping[str, Any]) -> str:
    """Where a record came from in Kafka, as one string: ``topic:partition:offset:element``."""
    return f"{e['topic']}:{int(e['partition'])}:{int(e['offset'])}:{int(e['element'] or 0)}"


def conflict_reason(key: str, owner: str, claimant: str) -> str:
    """Why a claim on ``key`` by ``claimant`` is refused: the id and both owners."""
    kind = KINDS[key[:2]]
    return f"{kind} {key[2:]} is customer {owner}'s, not customer {claimant}'s"


@dataclass
class Owners:
    """The owner of each id whose claims came to one state bucket: claim key -> [customer,
    event time (s) of its last claim]."""

    owners: dict[str, list[Any]] = field(default_factory=dict)

    def claim(self, key: str, customer: str, ts: int) -> str | None:
        """Take ``customer``'s claim on ``key`` at event time ``ts``: None when the id is (now)
        theirs, else the id's owner (a conflict)."""
        held = self.owners.get(key)
        if held is None or ts - held[1] > OWNER_TTL_S:
            self.owners[key] = [customer, ts]
            return None
        if held[0] != customer:
            return str(held[0])
        held[1] = max(held[1], ts)
        return None

    def expire(self, now: int) -> None:
        """Forget the ids whose last claim is more than :data:`OWNER_TTL_S` before ``now``."""
        if self.owners and now - min(t for _, t in self.owners.values()) > OWNER_TTL_S:
            self.owners = {k: v for k, v in self.owners.items() if now - v[1] <= OWNER_TTL_S}


def conflicts_message(found: Mapping[str, str]) -> bytes:
    """The frontier-topic message of a bucket's conflicts: record position -> reason."""
    return orjson.dumps({"conflicts": dict(sorted(found.items()))})


def decode_conflicts(value: bytes | str | None) -> dict[str, str]:
    """The conflicts of a frontier-topic message ({} for any other message)."""
    try:
        parsed = orjson.loads(value or b"")
        return {str(k): str(v) for k, v in parsed.get("conflicts", {}).items()}
    except (orjson.JSONDecodeError, AttributeError, TypeError):
        return {}


def take_identities(
    owners: Owners,
    held_conflicts: dict[str, str],
    pending: Mapping[str, list[dict[str, Any]]],
    claims: list[dict[str, Any]],
    conflicts: Mapping[str, str],
    watermark_ms: int,
) -> dict[str, str]:
    """One bucket's part in a micro-batch: keep, in ``held_conflicts``, the ``conflicts`` read
    back that concern the records it holds (``pending``, customer -> held records; every bucket
    reads every conflict), then take the ``claims`` that came to it on its ``owners``; the
    conflicts those claims met (record position -> why), for the frontier topic."""
    if conflicts:
        holding = {position(e) for held in pending.values() for e in held}
        held_conflicts.update({p: why for p, why in conflicts.items() if p in holding})
    return _take_claims(owners, claims, watermark_ms)


def _take_claims(owners: Owners, claims: list[dict[str, Any]], watermark_ms: int) -> dict[str, str]:
    """Take a micro-batch's claims on a bucket's ids, in (ts, position) order; the positions of
    the records whose claim met another owner, with why. A claim behind the watermark is not
    taken: its record is dropped as late."""
    found: dict[str, str] = {}
    if not claims:
        return found
    ordered = sorted(
        (c for c in claims if int(c["ts"]) * 1000 >= watermark_ms),
        key=lambda c: (int(c["ts"]), position(c), c["event_id"]),
    )
    for c in ordered:
        key, claimant = str(c["event_id"]), str(c["customer_id"])
        owner = owners.claim(key, claimant, int(c["ts"]))
        if owner is not None:
            where = position(c)
            reason = conflict_reason(key, owner, claimant)
            found[where] = f"{found[where]}; {reason}" if where in found else reason
    if ordered:
        owners.expire(int(ordered[-1]["ts"]))
    return found


__all__ = [
    "OWNER_TTL_S",
    "Owners",
    "claim_keys",
    "conflict_reason",
    "conflicts_message",
    "decode_conflicts",
    "position",
    "take_identities",
]
