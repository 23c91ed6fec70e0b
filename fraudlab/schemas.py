"""Spark, Arrow and DuckDB schemas, derived from the record contract in :mod:`fraudlab.records`.

Nothing here names a field: every schema is computed from the record classes, so the three
always agree. pyspark and pyarrow are imported only by the function that needs them.

>>> from fraudlab.records import Truth
>>> duckdb_columns(Truth)
'transaction_id VARCHAR, is_fraud VARCHAR, pattern VARCHAR, ts BIGINT'
"""

from __future__ import annotations

import typing
from typing import TYPE_CHECKING, Any

from fraudlab.records import Record, fields_of

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql.types import DataType, StructType

__all__ = ["arrow_schema", "duckdb_columns", "duckdb_table_ddl", "spark_schema", "table_name"]

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


def _duckdb_type(tp: Any) -> str:
    if tp in _SCALARS:
        return _SCALARS[tp][2]
    inner = ", ".join(f"{f.name} {_duckdb_type(f.type)}" for f in fields_of(_nested_record(tp)))
    return f"STRUCT({inner})[]"


def duckdb_columns(cls: type[Record]) -> str:
    """The column list of a record's DuckDB table, as used inside CREATE TABLE."""
    return ", ".join(f"{f.name} {_duckdb_type(f.type)}" for f in fields_of(cls))


def table_name(cls: type[Record]) -> str:
    """The archive table of a record's stream: its stream name with '-' as '_'."""
    return cls.STREAM.replace("-", "_")


def duckdb_table_ddl(cls: type[Record]) -> str:
    """CREATE TABLE IF NOT EXISTS for a record's archive table."""
    return f"CREATE TABLE IF NOT EXISTS {table_name(cls)} ({duckdb_columns(cls)})"
