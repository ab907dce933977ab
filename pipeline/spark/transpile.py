"""Pure translation of a transform's DuckDB SQL into the Spark SQL an AWS Glue 5.0 job runs
(Spark 3.5), naming every construct that will not port or will not give the same rows.

Why: a transform runs in DuckDB on a laptop and in Spark on AWS, and the two must agree.
sqlglot translates what has an equivalent (``string_split`` becomes a regex-quoted ``split``,
DuckDB's NULLS LAST default is written out, list and struct literals, ``QUALIFY``, 1-based list
indexes, DuckDB's NULL-skipping ``concat``). What it cannot translate, or translates into SQL
that runs and gives other results, is reported here, before a Glue job fails or publishes
different numbers.

Two severities:

* a **problem** will not run on Spark 3.5, or will give different results: fix the SQL (the
  message says how); ``csvpipe package glue`` refuses a transform with problems;
* a **warning** may differ depending on the column types or the data: read it and decide.

The rules are ordered tuples, checked on the DuckDB syntax tree (what the author meant) and on
the Spark SQL sqlglot writes (what Spark will be asked to run).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import sqlglot
from sqlglot import exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import ErrorLevel, SqlglotError

from pipeline.spark.functions import SPARK_FUNCTIONS, SPARK_VERSION
from pipeline.transform.sql import Transform

READ, WRITE = "duckdb", "spark"
SNIPPET = 60

Rule = Callable[[exp.Expression, "Source"], str | None]


@dataclass(frozen=True)
class Translation:
    """Spark SQL for one DuckDB query ("" when it could not be translated), and what to look at."""

    spark_sql: str
    problems: tuple[str, ...]
    warnings: tuple[str, ...]


@dataclass(frozen=True)
class Check:
    """The verdict on one transform: its Spark SQL, problems (fix them) and warnings (read them)."""

    name: str
    file: str
    spark_sql: str
    problems: tuple[str, ...]
    warnings: tuple[str, ...]

    @property
    def portable(self) -> bool:
        return not self.problems


def check(transform: Transform) -> Check:
    """Translate one transform and report what will not port."""
    translated = translate(transform.sql)
    return Check(
        name=transform.name,
        file=transform.path.name,
        spark_sql=translated.spark_sql,
        problems=translated.problems,
        warnings=translated.warnings,
    )


def check_all(transforms: Iterable[Transform]) -> list[Check]:
    return [check(transform) for transform in transforms]


def report_lines(result: Check) -> list[str]:
    """What ``csvpipe transform --check`` prints for one transform: a verdict line, then one
    indented line per problem and warning."""
    if result.problems:
        verdict = (
            f"{result.file}: does not port to Spark {SPARK_VERSION} ({_count(result.problems, 'problem')})"
        )
    else:
        verdict = f"{result.file}: ports to Spark {SPARK_VERSION}"
    if result.warnings:
        verdict += f", {_count(result.warnings, 'warning')}"
    return [
        verdict,
        *(f"  problem: {text}" for text in result.problems),
        *(f"  warning: {text}" for text in result.warnings),
    ]


def _count(items: tuple[str, ...], noun: str) -> str:
    return f"{len(items)} {noun}{'' if len(items) == 1 else 's'}"


def translate(sql: str) -> Translation:
    """DuckDB SQL (one query) to Spark SQL, with the problems and warnings it carries."""
    try:
        statements = [s for s in sqlglot.parse(sql, read=READ) if s is not None]
    except SqlglotError as exc:
        return Translation("", (f"sqlglot cannot read it as DuckDB SQL: {_first_line(exc)}",), ())
    if len(statements) != 1:
        return Translation("", (f"a transform is one query; this has {len(statements)} statements",), ())
    (tree,) = statements
    src = Source(sql)
    problems = _apply(_PROBLEMS, tree, src) + _output_names(tree, src)
    warnings = _apply(_WARNINGS, tree, src)

    generator = Dialect.get_or_raise(WRITE).generator(unsupported_level=ErrorLevel.IGNORE, pretty=True)
    spark_sql = generator.generate(tree, copy=True)
    problems += [f"sqlglot cannot translate it: {message}" for message in generator.unsupported_messages]
    problems += _spark_side(spark_sql)
    return Translation(spark_sql, _unique(problems), _unique(warnings))


def _apply(rules: tuple[Rule, ...], tree: exp.Expression, src: Source) -> list[str]:
    found = []
    for node in tree.walk():
        for rule in rules:
            message = rule(node, src)
            if message is not None:
                found.append(src.at(node) + message)
    return found


# DuckDB names of the types sqlglot calls otherwise, for messages in the author's words.
_DUCKDB_TYPE_NAMES = {"INT128": "HUGEINT", "UINT128": "UHUGEINT", "UINT": "UINTEGER"}


class Source:
    """The query's text, to quote constructs as the author wrote them, with their line."""

    def __init__(self, sql: str) -> None:
        self.sql = sql

    def _span(self, node: exp.Expression) -> tuple[int, int] | None:
        positions = [
            (n.meta["start"], n.meta["end"]) for n in node.walk() if "start" in n.meta and "end" in n.meta
        ]
        if not positions:
            return None
        start, end = min(p[0] for p in positions), max(p[1] for p in positions) + 1
        if isinstance(node, exp.Func) and "start" not in node.meta:
            start = self._name_before(start)
        while self.sql.count("(", start, end) > self.sql.count(")", start, end):
            closing = self.sql.find(")", end)
            if closing < 0:
                break
            end = closing + 1
        return start, end

    def _name_before(self, start: int) -> int:
        """Where the call whose first argument starts at ``start`` begins: back over
        ``name (``. sqlglot keeps no position for some functions, only for their arguments."""
        i = start - 1
        while i >= 0 and self.sql[i].isspace():
            i -= 1
        if i < 0 or self.sql[i] != "(":
            return start
        i -= 1
        while i >= 0 and self.sql[i].isspace():
            i -= 1
        end = i + 1
        while i >= 0 and (self.sql[i].isalnum() or self.sql[i] == "_"):
            i -= 1
        return i + 1 if i + 1 < end else start

    def text(self, node: exp.Expression) -> str:
        """The node's text in the query, on one line and shortened."""
        if isinstance(node, exp.DataType):
            name = node.this.name
            return _DUCKDB_TYPE_NAMES.get(name, name)
        span = self._span(node)
        raw = self.sql[span[0] : span[1]] if span else node.sql(dialect=READ)
        text = " ".join(raw.split())
        return text if len(text) <= SNIPPET else text[: SNIPPET - 3] + "..."

    def at(self, node: exp.Expression) -> str:
        """``line N: `` for the node's first line, or nothing when sqlglot kept no position."""
        around: exp.Expression | None = node
        while around is not None:
            span = self._span(around)
            if span is not None:
                return f"line {self.sql.count(chr(10), 0, span[0]) + 1}: "
            around = around.parent
        return ""


def _first_line(exc: Exception) -> str:
    return " ".join(str(exc).splitlines()[0].split())


def _unique(items: list[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(items))


# --- problems, found on the DuckDB syntax tree -------------------------------------------------


def _list_comprehension(node: exp.Expression, src: Source) -> str | None:
    if isinstance(node, exp.Comprehension):
        return (
            f"list comprehension [{src.text(node)}]: Spark has none; "
            "use transform(list, x -> ...) or filter(list, x -> ...)"
        )
    return None


def _star_modifiers(node: exp.Expression, src: Source) -> str | None:
    if isinstance(node, exp.Star):
        for arg, clause in (("except_", "EXCLUDE"), ("replace", "REPLACE"), ("rename", "RENAME")):
            if node.args.get(arg):
                return f"SELECT * {clause} (...): Spark {SPARK_VERSION} has no such clause; list the columns"
    return None


def _joins(node: exp.Expression, src: Source) -> str | None:
    if not isinstance(node, exp.Join):
        return None
    method = (node.text("method") or "").upper()
    if method == "ASOF":
        return "ASOF JOIN: Spark has no as-of join; join on a range and keep the latest row per key"
    if method == "POSITIONAL":
        return (
            "POSITIONAL JOIN: Spark reads POSITIONAL as a table alias and cross-joins; "
            "join on row_number() instead"
        )
    return None


def _pattern_operators(node: exp.Expression, src: Source) -> str | None:
    if isinstance(node, exp.SimilarTo):
        return f"SIMILAR TO ({src.text(node)}): Spark has none; use RLIKE with a regular expression"
    if isinstance(node, exp.Glob):
        return f"GLOB ({src.text(node)}): Spark has none; use LIKE ('*' is '%', '?' is '_')"
    return None


def _union_by_name(node: exp.Expression, src: Source) -> str | None:
    if isinstance(node, exp.SetOperation) and node.args.get("by_name"):
        return (
            f"{node.key.upper()} BY NAME: Spark SQL {SPARK_VERSION} matches columns by position; "
            "select the same columns in the same order on both sides"
        )
    return None


def _pivot_statement(node: exp.Expression, src: Source) -> str | None:
    if isinstance(node, exp.Pivot) and (node.parent is None or not node.args.get("fields")):
        word = "UNPIVOT" if node.args.get("unpivot") else "PIVOT"
        return (
            f"DuckDB's {word} statement: Spark needs the clause form with the values listed, "
            f"SELECT * FROM t {word} (... FOR column IN (...))"
        )
    return None


def _table_functions(node: exp.Expression, src: Source) -> str | None:
    if (
        isinstance(node, exp.Table)
        and isinstance(node.this, exp.Func)
        and not isinstance(node.this, exp.Unnest | exp.Explode)
    ):
        return (
            f"{src.text(node.this)} in FROM: a transform reads catalog, reference and output "
            "tables by name, never files or table functions"
        )
    return None


_T = exp.DataType.Type
PORTABLE_TYPES = frozenset(
    {
        _T.BOOLEAN,
        _T.TINYINT,
        _T.SMALLINT,
        _T.INT,
        _T.BIGINT,
        _T.FLOAT,
        _T.DOUBLE,
        _T.DECIMAL,
        _T.VARCHAR,
        _T.CHAR,
        _T.TEXT,
        _T.UUID,
        _T.BLOB,
        _T.BINARY,
        _T.VARBINARY,
        _T.DATE,
        _T.TIMESTAMP,
        _T.DATETIME,
        _T.INTERVAL,
        _T.ARRAY,
        _T.LIST,
        _T.MAP,
        _T.STRUCT,
        _T.NULL,
    }
)


def _types(node: exp.Expression, src: Source) -> str | None:
    if isinstance(node, exp.DataType) and node.this not in PORTABLE_TYPES:
        if node.this in {_T.TIMESTAMPTZ, _T.TIMESTAMPLTZ}:
            return (
                "type TIMESTAMPTZ: Spark's timestamps follow the session time zone and print "
                "differently; use TIMESTAMP (the job runs in UTC)"
            )
        return f"type {src.text(node)} has no Spark {SPARK_VERSION} equivalent; cast to a plain type"
    return None


def _regexp_replace(node: exp.Expression, src: Source) -> str | None:
    if not isinstance(node, exp.RegexpReplace):
        return None
    flags = node.args.get("modifiers")
    text = flags.name if isinstance(flags, exp.Literal) else ""
    if flags is not None and not isinstance(flags, exp.Literal):
        return f"{src.text(node)}: flags that are not a literal cannot be translated"
    other = sorted(set(text) - {"g"})
    if other:
        return (
            f"{src.text(node)}: Spark ignores the flags {''.join(other)!r}; put them in the pattern "
            "instead, e.g. (?i) for 'i'"
        )
    pattern = node.expression
    anchored = isinstance(pattern, exp.Literal) and pattern.name.startswith("^")
    if "g" not in text and not anchored:
        return (
            f"{src.text(node)}: DuckDB replaces the first match only, Spark every match; "
            "add the 'g' flag to mean every match"
        )
    return None


def _like_backslash(node: exp.Expression, src: Source) -> str | None:
    if not isinstance(node, exp.Like | exp.ILike) or isinstance(node.parent, exp.Escape):
        return None
    pattern = node.expression
    if isinstance(pattern, exp.Literal) and "\\" in pattern.name:
        return (
            f"{src.text(node)}: in Spark a backslash escapes the next character of a LIKE pattern, "
            "in DuckDB it is a plain character; add ESCAPE '\\' if you mean escaping"
        )
    return None


def _json_arrows(node: exp.Expression, src: Source) -> str | None:
    if isinstance(node, exp.JSONExtract | exp.JSONExtractScalar):
        return (
            f"{src.text(node)}: -> and ->> read JSON in DuckDB, and Spark has no such operator "
            "(use get_json_object); a lambda ports only inside list_transform or list_filter"
        )
    return None


_PROBLEMS: tuple[Rule, ...] = (
    _list_comprehension,
    _star_modifiers,
    _joins,
    _pattern_operators,
    _union_by_name,
    _pivot_statement,
    _table_functions,
    _types,
    _regexp_replace,
    _like_backslash,
    _json_arrows,
)


def _output_names(tree: exp.Expression, src: Source) -> list[str]:
    """Every output column needs one name in both engines: a bare column or an alias."""
    if not isinstance(tree, exp.Query):
        return []
    problems, seen = [], set()
    for projection in tree.selects:
        if isinstance(projection, exp.Star | exp.Columns) or (
            isinstance(projection, exp.Column) and isinstance(projection.this, exp.Star)
        ):
            continue  # the names are the columns
        if not isinstance(projection, exp.Alias | exp.Column):
            problems.append(
                f"{src.at(projection)}output column {src.text(projection)} has no alias, and DuckDB "
                "and Spark name it differently; add AS <name>"
            )
            continue
        name = projection.alias_or_name.lower()
        if name in seen:
            problems.append(
                f"{src.at(projection)}two output columns are named {name!r}; give each its own alias"
            )
        seen.add(name)
    return problems


# --- warnings, found on the DuckDB syntax tree -------------------------------------------------


def _integer_division(node: exp.Expression, src: Source) -> str | None:
    if isinstance(node, exp.IntDiv):
        return (
            f"{src.text(node)}: // truncates only integers in DuckDB (it divides other numbers "
            "exactly) and fails on zero; Spark's DIV truncates and gives NULL for zero"
        )
    return None


def _projected(node: exp.Expression) -> bool:
    """True when ``node`` is an output column of its SELECT, possibly aliased or windowed."""
    parent = node.parent
    while isinstance(parent, exp.Alias | exp.Window | exp.Paren):
        node, parent = parent, parent.parent
    return isinstance(parent, exp.Select) and node in parent.expressions


def _sum_type(node: exp.Expression, src: Source) -> str | None:
    if isinstance(node, exp.Sum) and _projected(node):
        return (
            f"{src.text(node)}: the sum of integers is HUGEINT in DuckDB (DOUBLE in its Parquet) and "
            "BIGINT in Spark; CAST(sum(...) AS BIGINT) gives both the same type"
        )
    return None


def _array_agg_nulls(node: exp.Expression, src: Source) -> str | None:
    if isinstance(node, exp.ArrayAgg):
        return f"{src.text(node)}: DuckDB keeps NULLs in the list, Spark's collect_list drops them"
    return None


def _qualify_with_order(node: exp.Expression, src: Source) -> str | None:
    if isinstance(node, exp.Select) and node.args.get("qualify") and node.args.get("order"):
        return (
            "QUALIFY with ORDER BY: Spark gets the QUALIFY as a subquery that holds the ORDER BY, "
            "an order Spark keeps in practice but does not promise; order in an outer query"
        )
    return None


def _len(node: exp.Expression, src: Source) -> str | None:
    if isinstance(node, exp.Length) and src.text(node).lower().startswith("len("):
        return f"{src.text(node)}: Spark's length() takes text only; for a list use array_length()"
    return None


_WARNINGS: tuple[Rule, ...] = (_integer_division, _sum_type, _array_agg_nulls, _qualify_with_order, _len)


# --- problems, found on the Spark SQL ----------------------------------------------------------

# Spark syntax that looks like a function call but is not in the function registry.
SYNTAX_CALLS = frozenset({"try_cast"})
_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def _spark_side(spark_sql: str) -> list[str]:
    """Functions the Spark SQL calls that Spark does not have."""
    try:
        tree = sqlglot.parse_one(spark_sql, read=WRITE)
    except SqlglotError as exc:
        return [f"the Spark SQL does not parse: {_first_line(exc)}"]
    problems = []
    for node in tree.find_all(exp.Func):
        if isinstance(node.parent, exp.Table):
            continue  # a table function: reported on the DuckDB side
        name = _called_name(node)
        if name is None or name in SPARK_FUNCTIONS or name in SYNTAX_CALLS:
            continue
        if isinstance(node.parent, exp.WithinGroup) and name in {"percentile_cont", "percentile_disc"}:
            continue
        problems.append(f"function {name}() does not exist in Spark {SPARK_VERSION}")
    return problems


def _called_name(node: exp.Func) -> str | None:
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    match = _CALL.match(node.sql(dialect=WRITE))
    return match[1].lower() if match else None
