"""The DuckDB -> Spark SQL check, table-driven: constructs that port (and what they become),
constructs reported as problems or warnings, and the check of the shipped transforms.

``tests/spark/test_spark_sql.py`` runs the same tables on DuckDB and on Spark 3.5: what is said
to port must give the same rows in both, what is reported must fail or differ on Spark.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.settings import PACKAGED_TRANSFORMS
from pipeline.spark.transpile import check, report_lines, translate
from pipeline.transform.sql import discover, parse_transform
from tests.unit.sql_cases import PORTS, PROBLEMS

WARNINGS: list[tuple[str, str]] = [
    ("SELECT a // 2 AS half FROM t", "// truncates only integers in DuckDB"),
    ("SELECT sum(a) AS total FROM t", "the sum of integers is HUGEINT in DuckDB"),
    ("SELECT a, sum(b) OVER (ORDER BY a) AS running FROM t", "the sum of integers is HUGEINT"),
    ("SELECT array_agg(s) AS ss FROM t", "Spark's collect_list drops them"),
    (
        "SELECT a FROM t QUALIFY row_number() OVER (PARTITION BY b ORDER BY a) = 1 ORDER BY a",
        "QUALIFY with ORDER BY",
    ),
    ("SELECT a, len(l) AS n FROM t", "len(l): Spark's length() takes text only"),
]


def flat(sql: str) -> str:
    return " ".join(sql.split()).replace("( ", "(").replace(" )", ")")


@pytest.mark.parametrize(("duckdb_sql", "spark_sql"), PORTS)
def test_constructs_that_port_become_this_spark_sql(duckdb_sql: str, spark_sql: str) -> None:
    translated = translate(duckdb_sql)
    assert translated.problems == ()
    assert translated.warnings == ()
    assert flat(translated.spark_sql) == flat(spark_sql)


@pytest.mark.parametrize(("duckdb_sql", "fragment", "on_spark"), PROBLEMS)
def test_constructs_that_will_not_port_are_reported_once(
    duckdb_sql: str, fragment: str, on_spark: str | None
) -> None:
    (problem,) = translate(duckdb_sql).problems
    assert fragment in problem
    assert "\n" not in problem


@pytest.mark.parametrize(("duckdb_sql", "fragment"), WARNINGS)
def test_constructs_that_may_differ_are_warned_about(duckdb_sql: str, fragment: str) -> None:
    translated = translate(duckdb_sql)
    assert translated.problems == ()
    (warning,) = translated.warnings
    assert fragment in warning


def test_a_sum_cast_to_bigint_is_not_warned_about() -> None:
    assert translate("SELECT CAST(sum(a) AS BIGINT) AS total FROM t").warnings == ()


def test_problems_name_the_line_and_quote_the_sql_as_written() -> None:
    sql = "SELECT\n    a,\n    string_agg(s, ',')\nFROM t"
    problems = translate(sql).problems
    assert problems[0] == (
        "line 3: output column string_agg(s, ',') has no alias, and DuckDB and Spark name it differently; "
        "add AS <name>"
    )
    assert problems[1] == "function listagg() does not exist in Spark 3.5"


def test_an_anchored_regexp_replace_replaces_once_in_both() -> None:
    assert translate("SELECT regexp_replace(s, '^a', 'b') AS r FROM t").problems == ()


@pytest.mark.parametrize("transform", discover(PACKAGED_TRANSFORMS), ids=lambda t: t.name)
def test_every_shipped_transform_ports_without_warnings(transform: object) -> None:
    result = check(transform)  # type: ignore[arg-type]
    assert result.problems == () and result.warnings == (), report_lines(result)
    assert result.portable
    assert "NULLS LAST" in result.spark_sql or "ORDER BY" not in result.spark_sql


def test_the_check_report_reads_as_one_verdict_then_one_line_each(tmp_path: Path) -> None:
    path = tmp_path / "per_decade.sql"
    path.write_text(
        "SELECT year // 10 AS decade, string_agg(title, ', ') AS titles FROM movies GROUP BY 1;\n"
    )
    lines = report_lines(check(parse_transform(path)))
    assert lines == [
        "per_decade.sql: does not port to Spark 3.5 (1 problem), 1 warning",
        "  problem: function listagg() does not exist in Spark 3.5",
        "  warning: line 1: year // 10: // truncates only integers in DuckDB (it divides other numbers "
        "exactly) and fails on zero; Spark's DIV truncates and gives NULL for zero",
    ]
    ok = tmp_path / "ok.sql"
    ok.write_text("SELECT genre, count(*) AS movies FROM movies GROUP BY genre")
    assert report_lines(check(parse_transform(ok))) == ["ok.sql: ports to Spark 3.5"]
