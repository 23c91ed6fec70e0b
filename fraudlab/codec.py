"""Records to and from JSON message values: the one serialization of the wire format.

Values are compact JSON objects with the contract's field order; ``bytes`` travel as base64
(as Spark's ``to_json`` writes binary columns). An optional field may be missing or null.

>>> from fraudlab.records import Truth
>>> encode(Truth("t1", "1", "card_testing", 1700000000))
b'{"transaction_id":"t1","is_fraud":"1","pattern":"card_testing","ts":1700000000}'
>>> decode(Truth, encode(Truth("t1", "0", "", 5)))
Truth(transaction_id='t1', is_fraud='0', pattern='', ts=5)
>>> from fraudlab.records import Product
>>> decode(Product, b'{"id":"7","gender":"Men","baseColour":"Navy","season":"Fall","year":"2011",'
...     b'"usage":"Casual","productDisplayName":"Shirt","category_id":"1","ts":5}').price is None
True
"""

from __future__ import annotations

import base64
from typing import Any, TypeVar

import orjson

from fraudlab.records import Record, fields_of

R = TypeVar("R", bound=Record)


def _default(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot encode {type(value).__name__}")


def encode(record: Record) -> bytes:
    """The JSON message value of a record."""
    return orjson.dumps(record, default=_default)


def to_dict(record: Record) -> dict[str, Any]:
    """A record as a plain dict (nested records as dicts), in contract order."""
    return orjson.loads(encode(record))


def _build(cls: type[R], obj: dict[str, Any]) -> R:
    values = []
    for f in fields_of(cls):
        value = obj.get(f.name) if f.optional else obj[f.name]
        if value is None:
            pass  # an optional field the record lacks (a required one is null only if sent so)
        elif f.type is bytes and isinstance(value, str):
            value = base64.b64decode(value)
        elif f.type not in (str, int, float, bool, bytes):
            (inner, _) = f.type.__args__
            value = tuple(_build(inner, item) for item in value)
        values.append(value)
    return cls(*values)


def decode(cls: type[R], value: bytes) -> R:
    """A record from its JSON message value; raises ValueError or KeyError when malformed."""
    obj = orjson.loads(value)
    if not isinstance(obj, dict):
        raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
    return _build(cls, obj)
