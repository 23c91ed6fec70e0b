"""Message values a replay cannot rebuild from a decoded record, put back as they were sent.

The archive keeps a value it could not decode as raw bytes with its topic, partition and offset,
but not its key; the key is read back from the value where the value still shows it. One data
fault survives decoding: an ``oversized`` record decodes (its padding is an unknown field), so the
archive holds the record without the padding. The faults stream names such records, and the
padding is put back the way the simulator added it, so the engine meets the same dead letter.

>>> from fraudlab.records import Browsing
>>> recovered_key(Browsing, b'{"session_id":1,"customer_id":"C7","ts":"5"}')
b'C7'
>>> recovered_key(Browsing, b'{"session_id":"S1","event_ty') is None
True
>>> len(rebuilt_value("oversized", b'{"a":"b"}')) > 300_000
True
"""

from __future__ import annotations

import random
import re

from fraudlab.malformed import malformed_value
from fraudlab.records import Record

__all__ = ["REBUILT_FAULTS", "rebuilt_value", "recovered_key"]

# Malformed kinds whose value the archive decodes anyway; every other kind is undecodable and
# kept raw. Rebuilding them draws nothing at random, so the bytes come out as first sent.
REBUILT_FAULTS = ("oversized",)


def _field_pattern(name: str) -> re.Pattern[bytes]:
    return re.compile(rb'"' + re.escape(name.encode()) + rb'":"((?:[^"\\]|\\.)*)"')


def recovered_key(cls: type[Record], raw: bytes) -> bytes | None:
    """The message key of a broken value of ``cls``, if every KEY field is still in it as text."""
    parts = []
    for name in cls.KEY:
        found = _field_pattern(name).search(raw)
        if found is None or b"\\" in found.group(1):
            return None
        parts.append(found.group(1))
    return b"|".join(parts)


def rebuilt_value(fault: str, value: bytes) -> bytes:
    """``value`` (a record's encoding) broken again the way the fault ``fault`` broke it."""
    if fault not in REBUILT_FAULTS:
        raise ValueError(f"the fault {fault!r} cannot be rebuilt from a decoded record")
    return malformed_value(fault, value, random.Random(0))
