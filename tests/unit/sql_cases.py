"""SQL test tables shared by the DuckDB-side unit tests and the Spark tests (tests/spark/): what
ports to Spark and what does not, and formula-like cells with what a CSV must show for them."""

from __future__ import annotations

# (DuckDB SQL, the Spark SQL it becomes, whitespace aside). Tables: t(a INT, b INT, s VARCHAR,
# l INT[], d DATE) and u(a INT, c VARCHAR), as created in tests/spark/test_spark_sql.py.
PORTS: list[tuple[str, str]] = [
    (
        "SELECT a, unnest(string_split(s, '|')) AS part FROM t ORDER BY a, part",
        "SELECT a, EXPLODE(SPLIT(s, CONCAT('\\\\Q', '|', '\\\\E'))) AS part FROM t "
        "ORDER BY a NULLS LAST, part NULLS LAST",
    ),
    ("SELECT b FROM t ORDER BY b", "SELECT b FROM t ORDER BY b NULLS LAST"),
    ("SELECT b FROM t ORDER BY b DESC", "SELECT b FROM t ORDER BY b DESC"),
    ("SELECT * FROM t ORDER BY ALL", "SELECT * FROM t ORDER BY ALL NULLS LAST"),
    (
        "SELECT a % 2 AS odd, count(*) AS n FROM t GROUP BY ALL ORDER BY odd",
        "SELECT a % 2 AS odd, COUNT(*) AS n FROM t GROUP BY ALL ORDER BY odd NULLS LAST",
    ),
    (
        "SELECT a, b FROM t QUALIFY row_number() OVER (PARTITION BY a % 2 ORDER BY a) = 1",
        "SELECT a, b FROM (SELECT a, b, ROW_NUMBER() OVER (PARTITION BY a % 2 ORDER BY a NULLS LAST) AS _w "
        "FROM t) AS _t WHERE _w = 1",
    ),
    (
        "SELECT a, l[1] AS first, [10, 20, 30][2] AS second FROM t ORDER BY a",
        "SELECT a, l[0] AS first, ARRAY(10, 20, 30)[1] AS second FROM t ORDER BY a NULLS LAST",
    ),
    (
        "SELECT a, {'x': a, 'y': s} AS pair FROM t ORDER BY a",
        "SELECT a, STRUCT(a AS x, s AS y) AS pair FROM t ORDER BY a NULLS LAST",
    ),
    (
        "SELECT a, list_transform(l, lambda x: x * 2) AS doubled, list_filter(l, lambda x: x > 1) AS big "
        "FROM t ORDER BY a",
        "SELECT a, TRANSFORM(l, x -> x * 2) AS doubled, FILTER(l, x -> x > 1) AS big "
        "FROM t ORDER BY a NULLS LAST",
    ),
    (
        "SELECT a, concat(s, '-', b) AS joined FROM t ORDER BY a",
        "SELECT a, CONCAT(COALESCE(s, ''), '-', COALESCE(b, '')) AS joined FROM t ORDER BY a NULLS LAST",
    ),
    ("FROM u ORDER BY a", "SELECT * FROM u ORDER BY a NULLS LAST"),
    (
        "SELECT a, strftime(d, '%Y-%m') AS month, extract(year FROM d) AS y FROM t ORDER BY a",
        "SELECT a, DATE_FORMAT(d, 'yyyy-MM') AS month, EXTRACT(YEAR FROM d) AS y FROM t "
        "ORDER BY a NULLS LAST",
    ),
    (
        "SELECT a, try_cast(s AS INTEGER) AS n, a::DOUBLE / 2 AS half, CAST(a AS VARCHAR) AS txt "
        "FROM t ORDER BY a",
        "SELECT a, TRY_CAST(s AS INT) AS n, CAST(a AS DOUBLE) / 2 AS half, CAST(a AS STRING) AS txt FROM t "
        "ORDER BY a NULLS LAST",
    ),
    (
        "SELECT a, round(a / 3, 2) AS r, greatest(a, b) AS g, b IS DISTINCT FROM 10 AS other "
        "FROM t ORDER BY a",
        "SELECT a, ROUND(a / 3, 2) AS r, GREATEST(a, b) AS g, b IS DISTINCT FROM 10 AS other FROM t "
        "ORDER BY a NULLS LAST",
    ),
    (
        "SELECT a, if(a > 1, 'big', 'small') AS size, nullif(b, 10) AS nb, coalesce(s, '?') AS cs "
        "FROM t ORDER BY a",
        "SELECT a, IF(a > 1, 'big', 'small') AS size, NULLIF(b, 10) AS nb, COALESCE(s, '?') AS cs FROM t "
        "ORDER BY a NULLS LAST",
    ),
    (
        "SELECT a, upper(s) AS up, lower(trim(s)) AS low, s ILIKE 'A%' AS starts FROM t ORDER BY a",
        "SELECT a, UPPER(s) AS up, LOWER(TRIM(s)) AS low, s ILIKE 'A%' AS starts FROM t "
        "ORDER BY a NULLS LAST",
    ),
    (
        "SELECT a, s LIKE 'a!_b' ESCAPE '!' AS exact, regexp_replace(s, '[aeiou]', '-', 'g') AS masked "
        "FROM t ORDER BY a",
        "SELECT a, s LIKE 'a!_b' ESCAPE '!' AS exact, REGEXP_REPLACE(s, '[aeiou]', '-') AS masked FROM t "
        "ORDER BY a NULLS LAST",
    ),
    (
        "SELECT t.a, u.c FROM t LEFT JOIN u ON u.a = t.a ORDER BY t.a",
        "SELECT t.a, u.c FROM t LEFT JOIN u ON u.a = t.a ORDER BY t.a NULLS LAST",
    ),
    (
        "SELECT a FROM t SEMI JOIN u USING (a) ORDER BY a",
        "SELECT a FROM t SEMI JOIN u USING (a) ORDER BY a NULLS LAST",
    ),
    (
        "WITH w AS (SELECT a, count(*) OVER (ORDER BY a) AS running FROM t) SELECT * FROM w ORDER BY a",
        "WITH w AS (SELECT a, COUNT(*) OVER (ORDER BY a NULLS LAST) AS running FROM t) SELECT * FROM w "
        "ORDER BY a NULLS LAST",
    ),
    (
        "SELECT a % 2 AS odd, count(*) FILTER (WHERE b > 10) AS big, count(DISTINCT s) AS kinds FROM t "
        "GROUP BY a % 2 HAVING count(*) > 0 ORDER BY odd",
        "SELECT a % 2 AS odd, COUNT(*) FILTER(WHERE b > 10) AS big, COUNT(DISTINCT s) AS kinds FROM t "
        "GROUP BY a % 2 HAVING COUNT(*) > 0 ORDER BY odd NULLS LAST",
    ),
    (
        "SELECT a FROM t UNION ALL SELECT a FROM u ORDER BY a",
        "SELECT a FROM t UNION ALL SELECT a FROM u ORDER BY a NULLS LAST",
    ),
]

# (DuckDB SQL, a fragment of the one problem reported, what Spark does with the translation:
# "fails" to run, runs and "differs" from DuckDB, or None when not run on the engines).
PROBLEMS: list[tuple[str, str, str | None]] = [
    ("SELECT [x * 2 FOR x IN l] AS doubled FROM t", "list comprehension [x * 2 FOR x IN l]", "fails"),
    ("SELECT * EXCLUDE (l) FROM t", "SELECT * EXCLUDE", "fails"),
    ("SELECT * REPLACE (a + 1 AS a) FROM t", "SELECT * REPLACE", "fails"),
    ("SELECT COLUMNS('a|b') FROM t", "function columns() does not exist", "fails"),
    ("SELECT t.a, u.c FROM t ASOF JOIN u ON t.a >= u.a", "ASOF JOIN", "fails"),
    ("SELECT * FROM t POSITIONAL JOIN u", "POSITIONAL JOIN", "differs"),
    ("SELECT a FROM t WHERE s SIMILAR TO 'a.*'", "SIMILAR TO", "fails"),
    ("SELECT a FROM t WHERE s GLOB 'a*'", "GLOB", "fails"),
    ("SELECT a FROM t UNION BY NAME SELECT a FROM u", "UNION BY NAME", "fails"),
    ("PIVOT t ON s USING count(*)", "DuckDB's PIVOT statement", "fails"),
    ("SELECT * FROM read_csv('movies.csv')", "in FROM: a transform reads", "fails"),
    ("SELECT * FROM range(3)", "in FROM: a transform reads", None),
    ("SELECT CAST(a AS HUGEINT) AS h FROM t", "type HUGEINT has no Spark 3.5 equivalent", "fails"),
    ("SELECT CAST('10:30:00' AS TIME) AS t0", "type TIME has no Spark 3.5 equivalent", "differs"),
    ("SELECT CAST(d AS TIMESTAMPTZ) AS z FROM t", "type TIMESTAMPTZ", None),
    ("SELECT a, regexp_replace(s, '[a-z]', '-') AS r FROM t", "replaces the first match only", "differs"),
    ("SELECT a, regexp_replace(s, 'a', '-', 'gi') AS r FROM t", "Spark ignores the flags 'i'", "differs"),
    ("SELECT a FROM t WHERE s LIKE 'a\\_b'", "a backslash escapes the next character", "differs"),
    ("SELECT a -> '$.x' AS j FROM t", "-> and ->> read JSON in DuckDB", None),
    ("SELECT string_agg(s, ',') AS all_s FROM t", "function listagg() does not exist", "fails"),
    ("SELECT regexp_split_to_array(s, '[|]') AS parts FROM t", "function regexp_split_to_array()", "fails"),
    ("SELECT quantile_cont(a, 0.5) AS q FROM t", "function percentile_cont() does not exist", "fails"),
    ("SELECT count(*) FROM t", "output column count(*) has no alias", "differs"),
    ("SELECT a, a FROM t", "two output columns are named 'a'", None),
    ("SELECT 1 AS x; SELECT 2 AS y", "a transform is one query; this has 2 statements", None),
    ("SELECT FROM WHERE", "sqlglot cannot read it as DuckDB SQL", None),
]

# (DuckDB SQL, a fragment of the one warning): may differ, depending on types or data.


# Formula-like cells and what the CSV must show; fullwidth signs (U+FF1D ...) are formulas to spreadsheets
# with East Asian input too. Shared with the Spark job's test (tests/spark/test_glue_job.py).
FORMULA_CELLS = {
    "=1+1": "'=1+1",
    "\uff1dSUM(A1)": "'\uff1dSUM(A1)",
    "\uff0b1": "'\uff0b1",
    "\uff0d1": "'\uff0d1",
    "\uff20A1": "'\uff20A1",
    "-5": "-5",  # a number, not a formula
    "a\uff1db": "a\uff1db",  # only a leading sign counts
}
