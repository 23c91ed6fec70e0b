"""The Spark, Arrow and DuckDB schemas all derive from the record contract and agree."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
from pyspark.sql import types as T

from fraudlab import codec
from fraudlab.records import (
    NESTED_RECORDS,
    STREAM_RECORDS,
    AlertedTransaction,
    FraudAlerts,
    Record,
    fields_of,
)
from fraudlab.schemas import arrow_schema, duckdb_table_ddl, spark_schema, table_name

ALL_RECORDS = STREAM_RECORDS + NESTED_RECORDS

# What each system calls the contract's scalar types; compared by kind, not by spelling.
SPARK_KIND = {
    T.StringType: "str",
    T.LongType: "int",
    T.DoubleType: "float",
    T.BooleanType: "bool",
    T.BinaryType: "bytes",
}
ARROW_KIND = {
    pa.string(): "str",
    pa.int64(): "int",
    pa.float64(): "float",
    pa.bool_(): "bool",
    pa.binary(): "binary",
}
DUCKDB_KIND = {
    "VARCHAR": "str",
    "BIGINT": "int",
    "DOUBLE": "float",
    "BOOLEAN": "bool",
    "BLOB": "bytes",
}


def _spark_kind(dt: T.DataType) -> object:
    if isinstance(dt, T.ArrayType):
        return [(f.name, _spark_kind(f.dataType)) for f in dt.elementType.fields]
    return SPARK_KIND[type(dt)]


def _arrow_kind(dt: pa.DataType) -> object:
    if pa.types.is_list(dt):
        return [(f.name, _arrow_kind(f.type)) for f in dt.value_type]
    kind = ARROW_KIND[dt]
    return "bytes" if kind == "binary" else kind


def _duckdb_kind(dt: object) -> object:
    text = str(dt)
    if text.endswith("[]"):
        inner = dt.child  # type: ignore[attr-defined]
        return [(name, _duckdb_kind(child)) for name, child in inner.children]
    return DUCKDB_KIND[text]


@pytest.mark.parametrize("cls", ALL_RECORDS, ids=lambda c: c.__name__)
def test_spark_and_arrow_schemas_agree_field_by_field(cls: type[Record]) -> None:
    spark = [(f.name, _spark_kind(f.dataType)) for f in spark_schema(cls).fields]
    arrow = [(f.name, _arrow_kind(f.type)) for f in arrow_schema(cls)]
    assert spark == arrow
    assert [name for name, _ in spark] == [f.name for f in fields_of(cls)]


@pytest.mark.parametrize("cls", STREAM_RECORDS, ids=lambda c: c.__name__)
def test_duckdb_table_agrees_with_arrow(cls: type[Record]) -> None:
    con = duckdb.connect()
    con.execute(duckdb_table_ddl(cls))
    rel = con.table(table_name(cls))
    duck = [(name, _duckdb_kind(dt)) for name, dt in zip(rel.columns, rel.types, strict=True)]
    arrow = [(f.name, _arrow_kind(f.type)) for f in arrow_schema(cls)]
    assert duck == arrow


def test_arrow_batch_of_decoded_records_inserts_into_duckdb() -> None:
    """A record that went through JSON lands in DuckDB through its Arrow schema unchanged."""
    alert = FraudAlerts(
        1_700_000_000,
        1_700_000_120,
        1,
        (AlertedTransaction("t1", "s1", "c1", 1_700_000_050, 99.5, -6.2, 106.8, 0.91),),
    )
    back = codec.decode(FraudAlerts, codec.encode(alert))
    assert back == alert
    table = pa.Table.from_pylist([codec.to_dict(back)], schema=arrow_schema(FraudAlerts))
    con = duckdb.connect()
    con.execute(duckdb_table_ddl(FraudAlerts))
    con.register("batch", table)
    con.execute("INSERT INTO fraud_alerts SELECT * FROM batch")
    row = con.execute(
        "SELECT count, transactions[1].transaction_id, transactions[1].probability "
        "FROM fraud_alerts"
    ).fetchone()
    assert row == (1, "t1", 0.91)
