"""The event-time frontier of a run's input: how far in event time every input partition has
delivered, so that a transaction is scored only once everything its customer did before it
has been read, wherever the micro-batches were cut.

A producer writes each input partition in event-time order (the simulator, the CSV producer and
the replay all do), and Spark reads a partition as contiguous offset ranges. So once a partition
has delivered a record at time ``t``, every record of it before ``t`` has been delivered too.
The frontier is the least, over the run's input partitions (browsing and transactions), of the
greatest event time each has delivered: every record earlier than the frontier has been read.
Records are held in the fold's state until the frontier passes them (:mod:`engine.bucket_fold`).

Each state bucket sees only its own customers' records, so what it learns of a partition is
shared with the others through an engine-internal topic (:func:`frontier_topic`): a bucket
whose records moved a partition's greatest time writes a report, and the scoring query reads
every report back into every bucket in a later micro-batch (about one trigger later). At the end
of a run the engine writes a close-out report: nothing more will arrive, so nothing stays held.

>>> known = merge({}, {"t.browsing:0": 120, "t.transactions:0": 90})
>>> frontier(known, ["t.browsing:0", "t.transactions:0", "t.transactions:1"])
>>> frontier(merge(known, {"t.transactions:1": 100}), ["t.browsing:0", "t.transactions:0"])
90
>>> frontier(merge(known, decode_report(close_out_report())), ["t.browsing:0"]) == CLOSED
True
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import orjson

from fraudlab.runs import validate_run_id
from fraudlab.topics import PREFIX

# the frontier once the run has been closed out: later than any event time
CLOSED = 2**62
# the key of the close-out in a report's partitions
CLOSE_OUT = "*"
STREAM = "engine-frontier"


def frontier_topic(run_id: str) -> str:
    """The engine-internal topic of a run's frontier reports (never archived or exported)."""
    return f"{PREFIX}.{validate_run_id(run_id)}.{STREAM}"


def partition_key(topic: str, partition: int) -> str:
    """How a frontier names an input partition: ``topic:partition``."""
    return f"{topic}:{int(partition)}"


def merge(known: Mapping[str, int], learned: Mapping[str, int]) -> dict[str, int]:
    """The greatest event time (s) delivered by each partition, from both mappings."""
    merged = dict(known)
    for key, ts in learned.items():
        if ts > merged.get(key, -CLOSED):
            merged[key] = int(ts)
    return merged


def frontier(known: Mapping[str, int], partitions: Iterable[str]) -> int | None:
    """Event time (s) before which every record of ``partitions`` has been delivered: the least
    greatest time of any of them (and of any other partition known to have delivered), or
    :data:`CLOSED` once the run was closed out; None while a partition has delivered nothing."""
    if CLOSE_OUT in known:
        return CLOSED
    times = [known.get(p) for p in {*partitions, *known}]
    if not times or any(t is None for t in times):
        return None
    return min(t for t in times if t is not None)


def report(advanced: Mapping[str, int], after_frontier: int = 0) -> bytes:
    """The value of a frontier report: partitions whose greatest delivered time advanced, and
    how many records arrived after the frontier had passed them (within the lateness limit:
    folded in, but after transactions they preceded were scored)."""
    return orjson.dumps(
        {"partitions": dict(sorted(advanced.items())), "after_frontier": int(after_frontier)}
    )


def close_out_report() -> bytes:
    """The value of the report that closes a run's frontier: every record has been read."""
    return orjson.dumps({"partitions": {CLOSE_OUT: CLOSED}})


def decode_report(value: bytes | str | None) -> dict[str, int]:
    """The partitions of a report ({} for a value that is not one: it is ignored)."""
    try:
        parsed = orjson.loads(value or b"")
        return {str(k): int(v) for k, v in parsed["partitions"].items()}
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
        return {}


__all__ = [
    "CLOSED",
    "close_out_report",
    "decode_report",
    "frontier",
    "frontier_topic",
    "merge",
    "partition_key",
    "report",
]
