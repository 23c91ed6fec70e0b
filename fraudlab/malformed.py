"""The malformed kinds of a record value: how the simulator breaks one on purpose (a data fault,
:mod:`simulator.faults`), and how a replay rebuilds the same bytes from the fault's record
(:mod:`replay.raw_values`). Deterministic in the random stream it is given.
"""

from __future__ import annotations

import random

import orjson

# fmt: off
MALFORMED_KINDS: tuple[str, ...] = (
    "broken_json", "wrong_types", "invalid_utf8", "oversized", "missing_ts",
)
# fmt: on
OVERSIZED_BYTES = 300_000  # far beyond any real record, well within Kafka's 1 MB default


def malformed_value(kind: str, value: bytes, rng: random.Random) -> bytes:
    """``value`` (a JSON object) broken in the way ``kind`` names."""
    if kind == "broken_json":
        return value[: rng.randrange(1, len(value) - 1)]
    if kind == "invalid_utf8":
        return value.replace(b'":"', b'":"\xff\xfe', 1)
    if kind == "oversized":
        return value[:-1] + b',"padding":"' + b"x" * OVERSIZED_BYTES + b'"}'
    obj = orjson.loads(value)
    if kind == "missing_ts":
        del obj["ts"]
    elif kind == "wrong_types":
        first = next(iter(obj))
        obj[first] = rng.randrange(1_000_000)
        obj["ts"] = str(obj["ts"])
    else:
        raise ValueError(f"unknown malformed kind {kind!r}")
    return orjson.dumps(obj)
