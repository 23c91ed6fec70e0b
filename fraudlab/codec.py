"""Records to and from JSON message values: the one serialization of the wire format.

Values are compact JSON objects with the contract's field order; ``bytes`` travel as base64
(as Spark's ``to_json`` writes binary columns). An optional field may be missing or null.

A ``bool`` field (truth's ``is_fraud``) travels as text, as every input field but ``ts`` does:
written ``"1"`` or ``"0"`` (the assignment's own label form), read back from any form of a yes/no
label the project accepts (1/0, 1.0/0.0, true/false, yes/no, in any case: one rule,
:func:`fraudlab.field_values.fraud_label`); other text, or a JSON value that is not text, is
malformed. Readers that do not go through :func:`decode` read such a field by the same rule:
:func:`fraudlab.schemas.arrow_from_wire` (the archive, training) and
:func:`fraudlab.schemas.spark_from_wire`.

>>> from fraudlab.records import Truth
>>> encode(Truth("t1", True, "card_testing", 1700000000))
b'{"transaction_id":"t1","is_fraud":"1","pattern":"card_testing","ts":1700000000}'
>>> decode(Truth, encode(Truth("t1", False, "", 5)))
Truth(transaction_id='t1', is_fraud=False, pattern='', ts=5)
>>> decode(Truth, b'{"transaction_id":"t2","is_fraud":"TRUE","pattern":"ato","ts":5}').is_fraud
True
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

from fraudlab.field_values import fraud_label
from fraudlab.records import FieldSpec, Record, fields_of

R = TypeVar("R", bound=Record)


def _default(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"cannot encode {type(value).__name__}")


# how a bool field is written, and the fast way back for those two texts
_WIRE_FLAGS: dict[bool, str] = {True: "1", False: "0"}
_FLAGS_READ = {text: flag for flag, text in _WIRE_FLAGS.items()}

_Writer = Callable[[Any], Any]
_WRITERS: dict[type[Record], _Writer | None] = {}


def _writer(cls: type[Record]) -> _Writer | None:
    """What turns a record of ``cls`` into the object its JSON writes, made on first use; None
    where orjson's own writing of the dataclass is that JSON (no bool field in it)."""
    if cls not in _WRITERS:
        _WRITERS[cls] = _new_writer(cls)
    return _WRITERS[cls]


def _new_writer(cls: type[Record]) -> _Writer | None:
    specs = fields_of(cls)
    converted = {f.name: convert for f in specs if (convert := _wire_value(f)) is not None}
    if not converted:
        return None
    names = tuple(f.name for f in specs)

    def write(record: Any) -> dict[str, Any]:
        obj = {name: getattr(record, name) for name in names}
        for name, convert in converted.items():
            if obj[name] is not None:
                obj[name] = convert(obj[name])
        return obj

    return write


def _write_flag(name: str) -> _Writer:
    def write(value: Any) -> str:
        if value is not True and value is not False:
            raise TypeError(f"field {name} is a bool, not {value!r}")
        return _WIRE_FLAGS[value]

    return write


def _wire_value(f: FieldSpec) -> _Writer | None:
    """What turns a field's value into the value its JSON writes, or None where orjson writes
    it so already."""
    if f.type is bool:
        return _write_flag(f.name)
    if f.type in (str, int, float, bytes):
        return None
    write_item = _writer(_nested(f.type))
    if write_item is None:
        return None
    return lambda items: [write_item(item) for item in items]


def encode(record: Record) -> bytes:
    """The JSON message value of a record."""
    write = _writer(type(record))
    return orjson.dumps(record if write is None else write(record), default=_default)


def encode_list(records: Iterable[Record]) -> bytes:
    """A JSON array of records, each as :func:`encode` writes it (a score's product_metadata
    is the list of its transaction's line items).

    >>> from fraudlab.records import LineItem
    >>> encode_list([LineItem("28999", 2, 1000.0)])
    b'[{"product_id":"28999","quantity":2,"item_price":1000.0}]'
    """
    return b"[" + b",".join(map(encode, records)) + b"]"


def to_dict(record: Record) -> dict[str, Any]:
    """A record as its JSON object, a plain dict in contract order (nested records as dicts,
    a bool field as its text, bytes as base64)."""
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
    is not yet the field's value (bool labels, base64 bytes, nested records)."""
    specs = fields_of(cls)
    names = tuple(f.name for f in specs)
    required = tuple(i for i, f in enumerate(specs) if not f.optional)
    converted = tuple(
        (i, convert) for i, f in enumerate(specs) if (convert := _conversion(f)) is not None
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


def _read_flag(name: str) -> Callable[[Any], bool]:
    def read(value: Any) -> bool:
        flag = None
        if isinstance(value, str):
            flag = _FLAGS_READ.get(value)
            if flag is None:
                flag = fraud_label(value)
        if flag is None:
            raise ValueError(
                f"field {name} is {value!r}, not a label (1 or 0, true or false, yes or no)"
            )
        return flag

    return read


def _conversion(f: FieldSpec) -> Callable[[Any], Any] | None:
    """What turns a field's JSON value into its value, or None where they are the same."""
    if f.type is bool:
        return _read_flag(f.name)
    if f.type in (str, int, float):
        return None
    if f.type is bytes:
        return lambda value: base64.b64decode(value) if isinstance(value, str) else value
    read_item = _reader(_nested(f.type))
    return lambda items: tuple(read_item(item) for item in items)


def _nested(tp: Any) -> type[Record]:
    """The record class of a ``tuple[SomeRecord, ...]`` field type."""
    (inner, _) = tp.__args__
    return cast(type[Record], inner)


def decode(cls: type[R], value: bytes) -> R:
    """A record from its JSON message value; raises ValueError or KeyError when malformed."""
    return cast(R, _reader(cls)(orjson.loads(value)))
