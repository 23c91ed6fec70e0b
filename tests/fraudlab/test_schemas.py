"""The Spark, Arrow and DuckDB schemas all derive from the record contract and agree."""

from __future__ import annotations

from typing import Any

import duckdb
import orjson
import pyarrow as pa
import pytest
from label_texts import LABELS
from pyspark.sql import functions as F
from pyspark.sql import types as T

from fraudlab import codec
from fraudlab.records import (
    NESTED_RECORDS,
    STREAM_RECORDS,
    AlertedTransaction,
    FraudAlerts,
    Record,
    Truth,
    fields_of,
)
from fraudlab.schemas import (
    arrow_schema,
    duckdb_table_ddl,
    flag_fields,
    spark_from_wire,
    spark_schema,
    spark_wire_schema,
    table_name,
)

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


def test_bool_fields_are_the_records_own() -> None:
    """The wire schemas and their readers turn a record's own bool fields to label text and
    back; a nested record with a bool field would need them to reach into lists."""
    assert [cls for cls in NESTED_RECORDS if flag_fields(cls)] == []
    assert [cls.__name__ for cls in STREAM_RECORDS if flag_fields(cls)] == ["Truth"]


@pytest.mark.spark
def test_spark_reads_labels_by_the_same_rule(spark: Any) -> None:
    rows = [
        (codec.encode(Truth(f"t{i}", True, "", i)).replace(b'"1"', orjson.dumps(text)),)
        for i, text in enumerate([*LABELS, None])
    ]
    frame = spark.createDataFrame(rows, "value binary").select(
        F.from_json(F.col("value").cast("string"), spark_wire_schema(Truth)).alias("r")
    )
    read = frame.select(*spark_from_wire(Truth, F.col("r"))).orderBy("ts").collect()
    assert [r.is_fraud for r in read] == [*LABELS.values(), None]
    assert [f.dataType for f in frame.select(*spark_from_wire(Truth, F.col("r"))).schema][1] == (
        T.BooleanType()
    )
