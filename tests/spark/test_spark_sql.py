"""The check's claims, tried on both engines: every construct said to port gives the same
columns and rows in DuckDB and, translated, in Spark 3.5; every construct reported as a problem
fails on Spark or gives something else; and the list of Spark's functions the check uses is
the running Spark's.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import duckdb
import pytest
import sqlglot

from pipeline.spark.functions import SPARK_FUNCTIONS, SPARK_VERSION
from pipeline.spark.transpile import translate
from tests.unit.sql_cases import PORTS, PROBLEMS

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = [pytest.mark.slow, pytest.mark.spark]

T_SCHEMA = "a int, b int, s string, l array<int>, d date"
T_ROWS = [
    (1, 10, "a_b", [1, 2], dt.date(2020, 1, 15)),
    (2, None, "x|y|z", [3], dt.date(2021, 6, 1)),
    (3, 30, "Apple", [], dt.date(1999, 12, 31)),
    (-7, 40, None, None, None),
    (5, 10, "a\\_b", [5, 1, 9], dt.date(2024, 2, 29)),
]
U_SCHEMA = "a int, c string"
U_ROWS = [(1, "one"), (3, "three"), (5, "five")]


@pytest.fixture(scope="module")
def engines(spark: SparkSession) -> Iterator[tuple[duckdb.DuckDBPyConnection, SparkSession]]:
    con = duckdb.connect()
    con.execute("CREATE TABLE t (a INTEGER, b INTEGER, s VARCHAR, l INTEGER[], d DATE)")
    con.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?)", T_ROWS)
    con.execute("CREATE TABLE u (a INTEGER, c VARCHAR)")
    con.executemany("INSERT INTO u VALUES (?, ?)", U_ROWS)
    spark.createDataFrame(T_ROWS, T_SCHEMA).createOrReplaceTempView("t")
    spark.createDataFrame(U_ROWS, U_SCHEMA).createOrReplaceTempView("u")
    yield con, spark
    con.close()
    for view in ("t", "u"):
        spark.catalog.dropTempView(view)


def plain(value: Any) -> Any:
    """One Python shape for both engines' values: structs as dicts, floats to 12 digits."""
    if hasattr(value, "asDict"):
        return {k: plain(v) for k, v in value.asDict().items()}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, float) and not math.isnan(value):
        return float(f"{value:.12g}")
    return value


def run_duckdb(con: duckdb.DuckDBPyConnection, sql: str) -> tuple[list[str], list[Any]]:
    cursor = con.execute(sql)
    return [c[0] for c in cursor.description], plain(cursor.fetchall())


def run_spark(spark: SparkSession, sql: str) -> tuple[list[str], list[Any]]:
    frame = spark.sql(sql)
    return frame.columns, plain([tuple(row) for row in frame.collect()])


def ordered(sql: str, rows: list[Any]) -> list[Any]:
    """The rows, sorted unless the query orders them itself."""
    ordering = sqlglot.parse_one(sql, read="duckdb").args.get("order")
    return rows if ordering is not None else sorted(rows, key=repr)


@pytest.mark.parametrize("duckdb_sql", [sql for sql, _ in PORTS])
def test_what_ports_gives_the_same_columns_and_rows_on_spark(
    engines: tuple[duckdb.DuckDBPyConnection, SparkSession], duckdb_sql: str
) -> None:
    con, spark = engines
    translated = translate(duckdb_sql)
    assert translated.problems == ()
    duck_columns, duck_rows = run_duckdb(con, duckdb_sql)
    spark_columns, spark_rows = run_spark(spark, translated.spark_sql)
    assert spark_columns == duck_columns
    assert ordered(duckdb_sql, spark_rows) == ordered(duckdb_sql, duck_rows)


@pytest.mark.parametrize(
    ("duckdb_sql", "on_spark"), [(sql, kind) for sql, _, kind in PROBLEMS if kind is not None]
)
def test_what_is_reported_fails_or_differs_on_spark(
    engines: tuple[duckdb.DuckDBPyConnection, SparkSession], duckdb_sql: str, on_spark: str
) -> None:
    from pyspark.errors import PySparkException

    con, spark = engines
    spark_sql = translate(duckdb_sql).spark_sql
    if on_spark == "fails":
        with pytest.raises(PySparkException):
            run_spark(spark, spark_sql)
        return
    duck = run_duckdb(con, duckdb_sql)
    assert run_spark(spark, spark_sql) != duck


def test_the_function_list_is_the_running_sparks(spark: SparkSession) -> None:
    assert spark.version.startswith(SPARK_VERSION + ".")
    running = {f.name for f in spark.catalog.listFunctions() if f.name.replace("_", "").isalnum()}
    assert sorted(running - SPARK_FUNCTIONS) == [], "new in this Spark: add to pipeline/spark/functions.py"
    assert sorted(SPARK_FUNCTIONS - running) == [], (
        "gone from this Spark: remove from pipeline/spark/functions.py"
    )
