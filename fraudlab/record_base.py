"""What every record of the contract shares: the marker base that says how a record travels,
and the functions that read a record class's fields and key.

The records themselves are in :mod:`fraudlab.records` (and :mod:`fraudlab.run_records`).

>>> from fraudlab.records import Truth
>>> [f.name for f in fields_of(Truth)]
['transaction_id', 'is_fraud', 'pattern', 'ts']
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from types import NoneType, UnionType
from typing import Any, ClassVar, cast, get_args, get_type_hints

__all__ = [
    "FieldSpec",
    "Record",
    "assignment_columns",
    "field_names",
    "fields_of",
    "message_key",
    "required_fields",
]


class Record:
    """Marker base of every record class; the class attributes say how it travels.

    STREAM: the stream (topic suffix and archive table) the record belongs to.
    KEY: the fields whose values, joined by '|', form the Kafka message key (and the archive's
    primary key of a result).
    RUN_IN_KEY: whether the message key starts with the run id (``run|key``): a report window's
    key names its run and window, so that a consumer of several runs' reports, or of a window
    written again after a crash, tells each window apart by its key alone.
    ASSIGNMENT_COLUMNS: how many leading fields are the assignment's own columns.
    """

    STREAM: ClassVar[str]
    KEY: ClassVar[tuple[str, ...]]
    RUN_IN_KEY: ClassVar[bool] = False
    ASSIGNMENT_COLUMNS: ClassVar[int] = 0


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """One field of a record: its name, Python type (str, int, float, bytes or a tuple), and
    whether a record may lack it (typed ``X | None`` in the record class)."""

    name: str
    type: Any
    optional: bool = False


def fields_of(cls: type[Record]) -> tuple[FieldSpec, ...]:
    """The fields of a record class, in contract order, with resolved types."""
    # resolving type hints costs about a millisecond: once per class
    return _fields_of(cast(type, cls))


@functools.cache
def _fields_of(cls: type) -> tuple[FieldSpec, ...]:
    hints = get_type_hints(cls)
    return tuple(_field_spec(f.name, hints[f.name]) for f in dataclasses.fields(cls))


def _field_spec(name: str, hint: Any) -> FieldSpec:
    if isinstance(hint, UnionType):
        (inner,) = (arg for arg in get_args(hint) if arg is not NoneType)
        return FieldSpec(name, inner, optional=True)
    return FieldSpec(name, hint)


def required_fields(cls: type[Record]) -> tuple[str, ...]:
    """The fields every record of the class has (all but the optional ones), in contract order."""
    return tuple(f.name for f in fields_of(cls) if not f.optional)


def field_names(cls: type[Record]) -> tuple[str, ...]:
    """The field names of a record class, in contract order."""
    return tuple(f.name for f in dataclasses.fields(cls))  # type: ignore[arg-type]


def assignment_columns(cls: type[Record]) -> tuple[str, ...]:
    """The leading fields that are the assignment's own columns, in the assignment's order."""
    return field_names(cls)[: cls.ASSIGNMENT_COLUMNS]


def message_key(record: Record, run_id: str | None = None) -> bytes:
    """The Kafka key of a record: its KEY fields joined by '|', UTF-8, after the run id for a
    record whose key names its run (RUN_IN_KEY).

    >>> from fraudlab.records import FraudAlerts
    >>> message_key(FraudAlerts(100, 220, 0, ()), "r1")
    b'r1|100|220'
    """
    fields = [str(getattr(record, name)) for name in record.KEY]
    if record.RUN_IN_KEY:
        if not run_id:
            raise ValueError(f"a {record.STREAM} key names its run: give the run id")
        fields.insert(0, run_id)
    return "|".join(fields).encode()
