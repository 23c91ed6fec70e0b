"""Spark, Arrow and DuckDB schemas, derived from the record contract in :mod:`fraudlab.records`.

Nothing here names a field: every schema is computed from the record classes, so the three
always agree. pyspark and pyarrow are imported only by the function that needs them.

A record's JSON (:mod:`fraudlab.codec`) carries a ``bool`` field as its label text ("1" or
"0"). A reader that parses the JSON itself (Arrow's JSON reader in the archive, Spark's
``from_json``) parses it with the *wire* schema, where such a field is a string, and turns the
result into the record's types with :func:`arrow_from_wire` or :func:`spark_from_wire`, both
reading the label by the codec's one rule.

>>> from fraudlab.records import Truth
>>> duckdb_columns(Truth)
'transaction_id VARCHAR, is_fraud BOOLEAN, pattern VARCHAR, ts BIGINT'
>>> [f.type for f in arrow_wire_schema(Truth)][:2]
[DataType(string), DataType(string)]
"""

from __future__ import annotations

import typing
from typing import TYPE_CHECKING, Any

from fraudlab.field_values import fraud_label_column, fraud_labels
from fraudlab.records import Record, fields_of

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import Column
    from pyspark.sql.types import DataType, StructType

__all__ = [
    "arrow_from_wire",
    "arrow_schema",
    "arrow_wire_schema",
    "duckdb_columns",
    "duckdb_table_ddl",
    "flag_fields",
    "spark_from_wire",
    "spark_schema",
    "spark_wire_schema",
    "table_name",
]

# Scalar Python types of the contract and their names in each system.
_SCALARS: dict[type, tuple[str, str, str]] = {
    # python: (spark type class, arrow factory, duckdb)
    str: ("StringType", "string", "VARCHAR"),
    int: ("LongType", "int64", "BIGINT"),
    float: ("DoubleType", "float64", "DOUBLE"),
    bool: ("BooleanType", "bool_", "BOOLEAN"),
    bytes: ("BinaryType", "binary", "BLOB"),
}


def _nested_record(tp: Any) -> type[Record]:
    """The record class of a ``tuple[SomeRecord, ...]`` field type."""
    if typing.get_origin(tp) is not tuple:
        raise TypeError(f"unsupported field type in the record contract: {tp!r}")
    (inner, _ellipsis) = typing.get_args(tp)
    return inner


def _spark_type(tp: Any) -> DataType:
    from pyspark.sql import types as T

    if tp in _SCALARS:
        return getattr(T, _SCALARS[tp][0])()
    return T.ArrayType(spark_schema(_nested_record(tp)), containsNull=False)


def spark_schema(cls: type[Record]) -> StructType:
    """The Spark StructType of a record."""
    from pyspark.sql import types as T

    return T.StructType([T.StructField(f.name, _spark_type(f.type), True) for f in fields_of(cls)])


def _arrow_type(tp: Any) -> pa.DataType:
    import pyarrow as pa

    if tp in _SCALARS:
        return getattr(pa, _SCALARS[tp][1])()
    nested = arrow_schema(_nested_record(tp))
    return pa.list_(pa.struct(list(nested)))


def arrow_schema(cls: type[Record]) -> pa.Schema:
    """The pyarrow schema of a record."""
    import pyarrow as pa

    return pa.schema([pa.field(f.name, _arrow_type(f.type)) for f in fields_of(cls)])


def flag_fields(cls: type[Record]) -> tuple[str, ...]:
    """The ``bool`` fields of a record: those that travel as label text."""
    return tuple(f.name for f in fields_of(cls) if f.type is bool)


def arrow_wire_schema(cls: type[Record]) -> pa.Schema:
    """The Arrow schema of a record's JSON as it travels: its bool fields as strings."""
    import pyarrow as pa

    flags = flag_fields(cls)
    schema = arrow_schema(cls)
    return pa.schema([f.with_type(pa.string()) if f.name in flags else f for f in schema])


def arrow_from_wire(cls: type[Record], table: pa.Table) -> tuple[pa.Table, dict[int, str]]:
    """A table of :func:`arrow_wire_schema` with its bool fields read by the codec's rule
    (:func:`fraudlab.field_values.fraud_labels`), and {row: why} for the rows where a field's
    text is no label (its value is then null).

    >>> import pyarrow as pa
    >>> from fraudlab.records import Truth
    >>> wire = pa.Table.from_pylist(
    ...     [{"transaction_id": "t1", "is_fraud": "1", "pattern": "ato", "ts": 5},
    ...      {"transaction_id": "t2", "is_fraud": "perhaps", "pattern": "", "ts": 6}],
    ...     schema=arrow_wire_schema(Truth))
    >>> table, bad = arrow_from_wire(Truth, wire)
    >>> table.column("is_fraud").to_pylist(), bad
    ([True, None], {1: 'field is_fraud is not a label (1 or 0, true or false, yes or no)'})
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    bad: dict[int, str] = {}
    for name in flag_fields(cls):
        texts = table.column(name)
        flags = fraud_labels(texts)
        unread = pc.and_(pc.is_null(flags), pc.is_valid(texts))
        for i in pc.indices_nonzero(unread).to_pylist():
            bad.setdefault(i, f"field {name} is not a label (1 or 0, true or false, yes or no)")
        pos = table.schema.get_field_index(name)
        table = table.set_column(pos, pa.field(name, pa.bool_()), flags)
    return table, bad


def spark_wire_schema(cls: type[Record]) -> StructType:
    """The Spark schema to parse a record's JSON with (``from_json``): bool fields as strings."""
    from pyspark.sql import types as T

    flags = flag_fields(cls)
    return T.StructType(
        [
            T.StructField(f.name, T.StringType(), True) if f.name in flags else f
            for f in spark_schema(cls).fields
        ]
    )


def spark_from_wire(cls: type[Record], record: Column) -> list[Column]:
    """The record's fields, in contract order, from a struct column parsed with
    :func:`spark_wire_schema`: bool fields read by the codec's rule
    (:func:`fraudlab.field_values.fraud_label_column`), null where a text is no label."""
    flags = flag_fields(cls)
    return [
        (fraud_label_column(record[f.name]) if f.name in flags else record[f.name]).alias(f.name)
        for f in fields_of(cls)
    ]


def _duckdb_type(tp: Any) -> str:
    if tp in _SCALARS:
        return _SCALARS[tp][2]
    inner = ", ".join(f"{f.name} {_duckdb_type(f.type)}" for f in fields_of(_nested_record(tp)))
    return f"STRUCT({inner})[]"


def duckdb_column_types(cls: type[Record]) -> dict[str, str]:
    """The DuckDB type of each column of a record's table, in contract order."""
    return {f.name: _duckdb_type(f.type) for f in fields_of(cls)}


def duckdb_columns(cls: type[Record]) -> str:
    """The column list of a record's DuckDB table, as used inside CREATE TABLE."""
    return ", ".join(f"{name} {tp}" for name, tp in duckdb_column_types(cls).items())


def table_name(cls: type[Record]) -> str:
    """The archive table of a record's stream: its stream name with '-' as '_'."""
    return cls.STREAM.replace("-", "_")


def duckdb_table_ddl(cls: type[Record]) -> str:
    """CREATE TABLE IF NOT EXISTS for a record's archive table."""
    return f"CREATE TABLE IF NOT EXISTS {table_name(cls)} ({duckdb_columns(cls)})"
