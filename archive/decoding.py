"""Kafka message values to Arrow tables of records, with every undecodable value kept and explained.

A batch of JSON values is parsed by Arrow's JSON reader against the record's wire schema (its
Arrow schema, with a bool field as the label text it travels as, read afterwards by the codec's
rule), many values per call, so decoding never runs a Python loop per field. A value that is not
a JSON object with every required field of the record, of the right type, is set aside with the
reason (an optional field, one of fraudlab's extras the assignment's datasets lack, may be
missing: it is null); the rest of its batch is still decoded. A value that is not UTF-8 is set
aside too, before parsing: Arrow's reader copies such bytes into its strings unchecked, and
DuckDB then refuses the whole batch. Bad values are found by halving the batch, so a few of them
cost a few extra parses, and a value gets the same verdict (and the same decoded row) whatever
batch it arrives in: a resumed archive holds exactly the rows of an uninterrupted one.

>>> from fraudlab.records import Truth
>>> table, good, bad = decode_values(
...     Truth, [b'{"transaction_id":"t1","is_fraud":"1","pattern":"ato","ts":5}', b"oops"])
>>> table.to_pylist()
[{'transaction_id': 't1', 'is_fraud': True, 'pattern': 'ato', 'ts': 5}]
>>> good, bad
([0], [(1, 'JSON parse error: Invalid value.')])

A message may also hold a JSON array of records (the format most of the assignment's consumers
write); :func:`split_arrays` turns such a message into one value per element first, each decoded
on its own, as the engine reads it.

>>> split_arrays([b'{"a":1}', b'[{"a":2}, {"a":3}]', b"[]"])
([b'{"a":1}', b'{"a":2}', b'{"a":3}'], [0, 1, 1], [0, 0, 1], [(2, 0, 'empty JSON array')])
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
import typing
from collections.abc import Sequence

import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pa_json

from fraudlab.records import EMPTY_ARRAY, Record, fields_of, required_fields
from fraudlab.schemas import arrow_from_wire, arrow_schema, arrow_wire_schema

__all__ = ["decode_values", "split_arrays"]

_MIN_BLOCK = 1 << 20
_ROW_SUFFIX = re.compile(r" in row \d+$")
# a line of the joined values that starts (after blanks) a JSON array
_ARRAY_START = re.compile(rb"(?:^|\n)[ \t\r]*\[")


_SCHEMAS: dict[type[Record], tuple[pa.Schema, pa.Schema, tuple[str, ...]]] = {}


def _schemas(cls: type[Record]) -> tuple[pa.Schema, pa.Schema, tuple[str, ...]]:
    """(schema to store, schema to parse with, the binary fields).

    The record's JSON is parsed with its wire schema (bool fields are label text, read after
    parsing by :func:`fraudlab.schemas.arrow_from_wire`). Binary fields travel as base64 text,
    which Arrow's JSON reader does not decode, so they are parsed as strings and decoded
    afterwards too.
    """
    stored = arrow_schema(cls)
    binary = tuple(f.name for f in stored if pa.types.is_binary(f.type))
    wire = arrow_wire_schema(cls)
    parsed = pa.schema([pa.field(f.name, pa.string()) if f.name in binary else f for f in wire])
    return stored, parsed, binary


def _parse_options(schema: pa.Schema) -> pa_json.ParseOptions:
    return pa_json.ParseOptions(
        explicit_schema=schema, unexpected_field_behavior="ignore", newlines_in_values=False
    )


def _reason(exc: Exception) -> str:
    return _ROW_SUFFIX.sub("", str(exc).strip().splitlines()[0]) or type(exc).__name__


def _single_line(value: bytes) -> bytes | str:
    """``value`` on one line (line breaks are whitespace in JSON), or why it is not JSON."""
    try:
        return orjson.dumps(orjson.loads(value))
    except orjson.JSONDecodeError as exc:
        return f"not JSON: {exc}"


def _not_utf8(value: bytes) -> str | None:
    """Why ``value`` is not UTF-8, or None when it is."""
    if value.isascii():  # the usual case, and faster than decoding
        return None
    try:
        value.decode()
    except UnicodeDecodeError as exc:
        return f"not valid UTF-8: {exc.reason} at byte {exc.start}"
    return None


def _one_line_each(values: Sequence[bytes | None]) -> bytes | None:
    """The values joined by line breaks if every value is non-empty bytes on one line (the usual
    case), else None; checked by C loops over the batch rather than a Python loop per value."""
    if not values or None in values or min(map(len, values)) == 0:  # type: ignore[arg-type]
        return None
    joined = b"\n".join(values)  # type: ignore[arg-type]
    if joined.count(b"\n") != len(values) - 1 or b"\r" in joined:
        return None
    return joined


def _utf8_lines(
    lines: list[bytes], joined: bytes, bad: list[tuple[int, str]]
) -> tuple[list[bytes], list[int]]:
    """The lines that are UTF-8 and their positions; the others go to ``bad`` with the reason.

    ``joined`` is the lines joined by line breaks: one check of it settles the usual batch, since
    an ASCII separator keeps any multi-byte sequence within its value.
    """
    if _not_utf8(joined) is None:
        return lines, list(range(len(lines)))
    reasons = [None if line.isascii() else _not_utf8(line) for line in lines]
    bad.extend((i, why) for i, why in enumerate(reasons) if why is not None)
    idx = [i for i, why in enumerate(reasons) if why is None]
    return [lines[i] for i in idx], idx


def _parse(
    values: Sequence[bytes],
    idx: list[int],
    schema: pa.Schema,
    tables: list[pa.Table],
    good: list[int],
    bad: list[tuple[int, str]],
) -> None:
    """Parse ``values[idx]``; on failure halve until each bad value stands alone."""
    whole = len(idx) == len(values)
    data = b"\n".join(values if whole else [values[i] for i in idx])
    longest = max(map(len, values)) if whole else max(len(values[i]) for i in idx)
    try:
        table = pa_json.read_json(
            # an Arrow buffer, not a Python file: reading it never needs the interpreter
            pa.BufferReader(data),
            read_options=pa_json.ReadOptions(block_size=max(_MIN_BLOCK, 2 * longest + 2)),
            parse_options=_parse_options(schema),
        )
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        table, reason = None, _reason(exc)
    else:
        reason = "not exactly one JSON object"
        if table.num_rows == len(idx):
            tables.append(table)
            good.extend(idx)
            return
    if len(idx) == 1:
        bad.append((idx[0], reason if values[idx[0]].strip() else "empty value"))
        return
    half = len(idx) // 2
    _parse(values, idx[:half], schema, tables, good, bad)
    _parse(values, idx[half:], schema, tables, good, bad)


def _nested_required(cls: type[Record]) -> dict[str, tuple[str, ...]]:
    """Each list-of-records field of ``cls``: the fields its items must have."""
    return {
        f.name: required_fields(typing.get_args(f.type)[0])
        for f in fields_of(cls)
        if typing.get_origin(f.type) is tuple
    }


def _null_rows(
    table: pa.Table, required: tuple[str, ...], nested: dict[str, tuple[str, ...]]
) -> dict[int, str]:
    """Rows where a required field is missing or null, or an item of a list of records lacks
    one of its required fields, and which (optional fields stay null)."""
    found: dict[int, str] = {}
    for name, column in zip(table.column_names, table.columns, strict=True):
        col = column.combine_chunks()
        if col.null_count and name in required:
            for i in pc.indices_nonzero(col.is_null()).to_pylist():
                found.setdefault(i, f"field {name} is missing or null")
        if pa.types.is_list(col.type):
            flat = pc.list_flatten(col)
            item_required = nested.get(name, ())
            fields = (
                flat.field(k).is_null()
                for k in range(flat.type.num_fields)
                if flat.type.field(k).name in item_required
            )
            nulls = functools.reduce(pc.or_, fields, flat.is_null())
            if pc.any(nulls).as_py():
                parents = pc.list_parent_indices(col).filter(nulls)
                for i in parents.to_pylist():
                    found.setdefault(i, f"field {name} holds an incomplete item")
    return found


def _decode_binary(table: pa.Table, fields: tuple[str, ...]) -> tuple[pa.Table, dict[int, str]]:
    """Base64-decode the binary fields; rows whose text is not base64 are reported."""
    found: dict[int, str] = {}
    for name in fields:
        decoded: list[bytes | None] = []
        for i, text in enumerate(table.column(name).to_pylist()):
            try:
                decoded.append(base64.b64decode(text, validate=True))
            except (binascii.Error, ValueError, TypeError):
                decoded.append(None)
                found.setdefault(i, f"field {name} is not base64")
        pos = table.schema.get_field_index(name)
        table = table.set_column(pos, pa.field(name, pa.binary()), pa.array(decoded, pa.binary()))
    return table, found


def split_arrays(
    values: Sequence[bytes | None],
) -> tuple[list[bytes | None], list[int], list[int], list[tuple[int, int, str]]]:
    """The records of messages: a message holding a JSON array gives its elements' JSON, in
    order; any other message (one record, or a value that is no JSON at all) stays as it is.

    Returns (record values, the message each came from, its element: 0 for a message of one
    record, i for an array's i-th), and (message, element, reason) for the messages that hold
    no record at all: empty arrays.
    """
    records = list(values)
    where = list(range(len(records)))
    elements = [0] * len(records)
    try:
        joined = b"\n".join(records)  # type: ignore[arg-type]
    except TypeError:  # a null value among them
        joined = b"\n".join(v or b"" for v in records)
    if _ARRAY_START.search(joined) is None:  # the usual case, settled by one C scan
        return records, where, elements, []
    out: list[bytes | None] = []
    where, elements = [], []
    empty: list[tuple[int, int, str]] = []
    for i, value in enumerate(records):
        items = _array_items(value)
        if items is None:
            out.append(value)
            where.append(i)
            elements.append(0)
        elif not items:
            empty.append((i, 0, EMPTY_ARRAY))
        else:
            out.extend(items)
            where.extend([i] * len(items))
            elements.extend(range(len(items)))
    return out, where, elements, empty


def _array_items(value: bytes | None) -> list[bytes] | None:
    """The JSON of each element when ``value`` is a JSON array, else None."""
    if not value or value.lstrip()[:1] != b"[":
        return None
    try:
        parsed = orjson.loads(value)
    except orjson.JSONDecodeError:
        return None  # not JSON: it is refused as one value, with the parser's reason
    if not isinstance(parsed, list):
        return None
    return [orjson.dumps(item) for item in parsed]


def decode_values(
    cls: type[Record], values: Sequence[bytes | None]
) -> tuple[pa.Table, list[int], list[tuple[int, str]]]:
    """Decode JSON message values of one stream.

    Returns the Arrow table of the decodable records (the record's Arrow schema, in input order),
    the input positions of its rows, and (position, reason) for every value that is not a record.
    """
    stored, parsed, binary = _schemas(cls)
    bad: list[tuple[int, str]] = []
    lines: list[bytes] = []
    idx: list[int] = []
    joined = _one_line_each(values)
    if joined is not None:
        lines, idx = _utf8_lines(list(values), joined, bad)  # type: ignore[arg-type]
        values = ()
    for i, value in enumerate(values):
        if not value or not value.strip():
            bad.append((i, "empty value"))
            continue
        # isascii first: it settles almost every value without a call
        if not value.isascii() and (not_utf8 := _not_utf8(value)) is not None:
            bad.append((i, not_utf8))
            continue
        if b"\n" in value or b"\r" in value:
            line = _single_line(value)
            if isinstance(line, str):
                bad.append((i, line))
                continue
            value = line
        lines.append(value)
        idx.append(i)
    tables: list[pa.Table] = []
    good_pos: list[int] = []
    bad_pos: list[tuple[int, str]] = []
    if lines:
        _parse(lines, list(range(len(lines))), parsed, tables, good_pos, bad_pos)
    table = pa.concat_tables(tables) if tables else parsed.empty_table()
    good = [idx[p] for p in good_pos]
    bad.extend((idx[p], why) for p, why in bad_pos)
    rejected = _null_rows(table, required_fields(cls), _nested_required(cls))
    if binary:
        table, not_base64 = _decode_binary(table, binary)
        for row, why in not_base64.items():
            rejected.setdefault(row, why)
    table, not_labels = arrow_from_wire(cls, table)
    for row, why in not_labels.items():
        rejected.setdefault(row, why)
    if rejected:
        keep = [row for row in range(table.num_rows) if row not in rejected]
        bad.extend((good[row], why) for row, why in rejected.items())
        table = table.take(pa.array(keep, pa.int64()))
        good = [good[row] for row in keep]
    bad.sort()
    return table.cast(stored), good, bad
