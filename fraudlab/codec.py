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
import operator
from collections.abc import Callable, Iterable
from typing import Any, TypeVar, cast

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


def encode_list(records: Iterable[Record]) -> bytes:
    """A JSON array of records, each as :func:`encode` writes it (a score's product_metadata
    is the list of its transaction's line items).

    >>> from fraudlab.records import LineItem
    >>> encode_list([LineItem("28999", 2, 1000.0)])
    b'[{"product_id":"28999","quantity":2,"item_price":1000.0}]'
    """
    return b"[" + b",".join(map(encode, records)) + b"]"


def to_dict(record: Record) -> dict[str, Any]:
    """A record as a plain dict (nested records as dicts), in contract order."""
    return orjson.loads(encode(record))


_Reader = Callable[[Any], Any]
_READERS: dict[type[Record], _Reader] = {}


def _reader(cls: type[Record]) -> _Reader:
    """The reader of a record class's JSON objects, made on first use."""
    read = _READERS.get(cls)
    if read is None:
        read = _READERS[cls] = _new_reader(cls)
    return read


def _new_reader(cls: type[Record]) -> _Reader:
    """How a record of ``cls`` is built from its JSON object, worked out once per class: the
    field names in order, which of them a record may lack, and the few fields whose JSON value
    is not yet the field's value (base64 bytes, nested records)."""
    specs = fields_of(cls)
    names = tuple(f.name for f in specs)
    required = tuple(i for i, f in enumerate(specs) if not f.optional)
    converted = tuple(
        (i, convert) for i, f in enumerate(specs) if (convert := _conversion(f.type)) is not None
    )

    if required == tuple(range(len(required))) and len(required) > 1:
        # the usual layout, required fields first: taken by one C call, which raises the
        # KeyError of a missing one itself
        take_required = operator.itemgetter(*names[: len(required)])
        optional = names[len(required) :]

        def values_of(obj: dict[str, Any]) -> list[Any]:
            return [*take_required(obj), *map(obj.get, optional)]

    else:

        def values_of(obj: dict[str, Any]) -> list[Any]:
            values = list(map(obj.get, names))
            if None in values:  # missing, or null (a required field is null only if sent so)
                for i in required:
                    if values[i] is None and names[i] not in obj:
                        raise KeyError(names[i])
            return values

    def read(obj: Any) -> Any:
        if not isinstance(obj, dict):
            raise ValueError(f"expected a JSON object, got {type(obj).__name__}")
        values = values_of(obj)
        for i, convert in converted:
            if values[i] is not None:
                values[i] = convert(values[i])
        return cls(*values)

    return read


def _conversion(tp: Any) -> Callable[[Any], Any] | None:
    """What turns a field's JSON value into its value, or None where they are the same."""
    if tp in (str, int, float, bool):
        return None
    if tp is bytes:
        return lambda value: base64.b64decode(value) if isinstance(value, str) else value
    (inner, _) = tp.__args__
    read_item = _reader(inner)
    return lambda items: tuple(read_item(item) for item in items)


def decode(cls: type[R], value: bytes) -> R:
    """A record from its JSON message value; raises ValueError or KeyError when malformed."""
    return cast(R, _reader(cls)(orjson.loads(value)))
