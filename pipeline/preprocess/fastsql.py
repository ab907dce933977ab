"""The cleaning rules as one DuckDB statement over a file's lines: pure text generation.

Why SQL: the reference rules (``clean.clean_record``) run once per record in Python, about 5 µs a
row; as vectorised DuckDB expressions they cost about a microsecond of CPU a row, on both cores.

Why DuckDB's CSV reader with quoting switched off: it then splits a line at every delimiter,
exactly as the csv module splits a line without quotes, one row per non-empty line, in order (it
skips empty lines; the text pass records their numbers, so every row's line number is known). A
line with a quote is put back together from its pieces and split by one regular expression that
accepts RFC 4180 quoting only, where the csv module and the expression agree; DuckDB's own quote
handling differs from the csv module's on malformed quoting, so it is not used.

Every row gets a ``kind``. The statement settles a row only where its result is certainly the
reference's; any other row is ``PYTHON`` and keeps its raw line, and the fast path runs the
reference code on it. Python decides:

* lines with a quote that are not a complete RFC 4180 record with the header's width (a stray or
  unclosed quote, text after a closing quote, a quoted field that goes on over the next lines);
* rows with the wrong number of fields (the reject reason, or whether the row is empty), and rows
  over the csv module's field limit;
* non-ASCII cells where a rule depends on Unicode tables: a short cell that might case-fold to an
  NA token, a multi-valued cell (lower-casing), a title whose last characters are not ASCII
  (``\\d`` in the year pattern takes any script's digits), a bool cell;
* typed cells not in their canonical spelling that the statement cannot convert for sure (an
  integer out of range or a malformed decimal is settled here; a decimal with an exponent, a date
  that is not ``YYYY-MM-DD``, a timestamp that is not ``YYYY-MM-DD HH:MM:SS`` go to Python, which
  tries every accepted format), and every cell that rejects its row: reject reasons are always
  written by the reference code.

So the statement never writes a reject and never guesses: on input it cannot be sure of, the fast
path is slower, not different. Lists are avoided where a string function will do, and dropped as
soon as they are used: in DuckDB a list carried through a query level, or built under a CASE,
costs as much as the level's work.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.preprocess.clean import Plan, TypedColumn
from pipeline.preprocess.rules import Rules
from pipeline.preprocess.types import FALSE_WORDS, TRUE_WORDS
from pipeline.sqltext import literal

# Row kinds: the statement's (OUT, EMPTY, PYTHON), then Python's decisions (OUT, EMPTY, REJECTED,
# COVERED: a line inside a record that goes on over several lines).
OUT, EMPTY, PYTHON, REJECTED, COVERED = range(5)
# Every character str.isspace() accepts: what str.strip() removes (checked by a unit test).
WHITESPACE = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
# ISO forms the statement settles; the Python converters accept more.
_ISO_DATE = "[0-9]{4}-[0-9]{2}-[0-9]{2}"
_ISO_TIMESTAMP = _ISO_DATE + "[ T]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"


@dataclass(frozen=True)
class LineSource:
    """How DuckDB reads the text, and what is known about the text."""

    path: str
    null_marker: str  # a control character absent from the text: DuckDB's null string
    delimiter: str  # the CSV delimiter
    max_line_bytes: int
    ascii: bool  # the whole text is ASCII
    quotes: bool  # the text contains a quote character somewhere
    ascii_whitespace: frozenset[str]  # ASCII whitespace other than space and line ends, if present
    field_limit: int | None = None  # the csv module's field limit, when a line may reach it


@dataclass(frozen=True)
class Statement:
    sql: str  # CREATE TABLE <table> AS ...
    output: list[str]  # work-table columns holding the processed columns, in order
    nulled: list[str]  # work-table flag columns, one per typed column whose rule nulls
    nulled_names: list[str]  # the processed column name of each flag


def _regex(text: str) -> str:
    """``text`` as an RE2 literal, also inside a character class."""
    return "".join("\\t" if c == "\t" else re.escape(c) if not c.isalnum() else c for c in text)


def _words(words: frozenset[str] | set[str]) -> str:
    return "(" + ", ".join(literal(w) for w in sorted(words)) + ")"


class _Builder:
    """Per-cell expressions, named after the rule they implement. Cells are ``x<i>`` as split,
    ``s<i>``/``t<i>`` trimmed, ``u<i>`` with NA tokens as NULL, ``v<i>`` typed; ``q`` says the
    line has a quote."""

    def __init__(self, source: LineSource, plan: Plan, rules: Rules, width: int) -> None:
        self.source, self.plan, self.rules, self.width = source, plan, rules, width
        self.cells = range(1, width + 1)
        # Pieces of a line split at every delimiter: a line with a quoted delimiter has more than
        # ``width``; one with ``pieces`` or more may have been cut short by the reader.
        self.pieces = width + max(4, min(width, 60))
        self.tokens = sorted(rules.na_set)
        self.max_token = max((len(t) for t in self.tokens), default=0)
        # Can a cell carry ASCII whitespace that DuckDB's trim() keeps? Only inside quotes when
        # the delimiter is the only such character in the text (tab-separated files).
        spare = source.ascii_whitespace - {source.delimiter}
        if not source.ascii_whitespace:
            self.may_hold_whitespace = "false"
        elif not spare:
            self.may_hold_whitespace = "q"
        else:
            self.may_hold_whitespace = "true"

    def ascii(self, x: str) -> str:
        return "true" if self.source.ascii else f"(strlen({x}) = length({x}))"

    # reading and splitting
    def read(self) -> str:
        s = self.source
        columns = ", ".join(f"'c{n}': 'VARCHAR'" for n in range(1, self.pieces + 1))
        return (
            f"read_csv({literal(s.path)}, header = false, auto_detect = false, "
            f"delim = {literal(s.delimiter)}, quote = '', escape = '', new_line = '\\n', "
            f"strict_mode = false, null_padding = true, nullstr = {literal(s.null_marker)}, "
            f"max_line_size = {s.max_line_bytes}, columns = {{{columns}}})"
        )

    def joined(self) -> str:
        """The line put back together from its pieces (NULL pieces are the missing ones)."""
        pieces = ", ".join(f"c{n}" for n in range(1, self.pieces + 1))
        return f"concat_ws({literal(self.source.delimiter)}, {pieces})"

    def quoted_fields(self) -> str:
        """A quoted line split into ``width`` fields (struct fields f1, f2...) by one regular
        expression that takes RFC 4180 quoting only: quotes around whole fields, doubled inside
        them. The csv module reads such a line the same way. On any other line every field is
        empty, and no field starts with a quote. Doubled quotes make the expression slower, so
        the simpler one is used for lines without them."""
        d = _regex(self.source.delimiter)
        simple = f'("[^"]*"|[^"{d}]*)'
        doubled = f'("(?:[^"]|"")*"|[^"{d}]*)'
        names = ", ".join(f"'f{i}'" for i in self.cells)

        def extract(field: str) -> str:
            pattern = "^" + d.join([field] * self.width) + "$"
            return f"regexp_extract(line, {literal(pattern)}, [{names}])"

        return f"CASE WHEN contains(line, '\"\"') THEN {extract(doubled)} ELSE {extract(simple)} END"

    def unquoted(self, g: str) -> str:
        """A field as the csv module reads it: without its quotes, doubled quotes as one."""
        inner = f"substr({g}, 2, length({g}) - 2)"
        return (
            f"CASE WHEN NOT starts_with({g}, '\"') THEN {g} "
            f"WHEN contains({g}, '\"\"') THEN replace({inner}, '\"\"', '\"') ELSE {inner} END"
        )

    # cells
    def trimmed(self, i: int) -> str:
        """str.strip(), first step: DuckDB's trim() removes spaces only, and only a cell that
        starts or ends with one is trimmed."""
        x = f"x{i}"
        return f"CASE WHEN ord({x}) = 32 OR ends_with({x}, ' ') THEN trim({x}) ELSE {x} END"

    def stripped(self, i: int) -> str:
        """str.strip(), second step: a cell that may start or end with other whitespace (a
        non-ASCII cell; any cell when the text holds ASCII whitespace other than spaces, or a
        quoted cell when that is only the delimiter) is checked, and trimmed by every whitespace
        character when it does (DuckDB's trim with a character list costs microseconds)."""
        s = f"s{i}"
        if self.may_hold_whitespace == "false" and self.source.ascii:
            return s
        other = "".join(f"\\x{{{ord(c):x}}}" for c in WHITESPACE if c != " ")
        check = f"regexp_matches({s}, '^[{other}]|[{other}]$')"
        if self.may_hold_whitespace == "false":
            check = f"strlen({s}) <> length({s}) AND {check}"
        elif self.may_hold_whitespace == "q":
            check = f"(q OR strlen({s}) <> length({s})) AND {check}"
        return f"CASE WHEN {check} THEN trim({s}, {literal(WHITESPACE)}) ELSE {s} END"

    def na(self, i: int) -> tuple[str, str]:
        """(the cell with NA tokens as NULL, is Python needed). A cell is NA when its casefold
        is a token: for an ASCII cell casefold is lower(); a longer cell cannot casefold to a
        token (casefold never shortens); a short non-ASCII cell is Python's."""
        t = f"t{i}"
        if not self.tokens:
            return t, "false"
        tokens = _words(set(self.tokens))
        if self.source.ascii:
            value = (
                f"CASE WHEN strlen({t}) > {self.max_token} THEN {t} "
                f"WHEN lower({t}) IN {tokens} THEN NULL ELSE {t} END"
            )
            return value, "false"
        longest = 4 * self.max_token  # bytes
        value = (
            f"CASE WHEN strlen({t}) > {longest} THEN {t} "
            f"WHEN lower({t}) IN {tokens} AND strlen({t}) = length({t}) THEN NULL ELSE {t} END"
        )
        unsure = (
            f"CASE WHEN strlen({t}) > {longest} THEN false "
            f"ELSE strlen({t}) <> length({t}) AND length({t}) <= {self.max_token} END"
        )
        return value, unsure

    def typed(self, column: TypedColumn, u: str, v: str) -> tuple[str, str, str]:
        """(the converted value of cell ``u``, it did not convert, the statement cannot be sure);
        the last two are evaluated a level later, where ``v`` is the converted value."""
        kind = column.type
        if kind == "int":
            number = f"TRY_CAST({u} AS BIGINT)"
            value = (
                f"CASE WHEN CAST({number} AS VARCHAR) = {u} THEN {u} "
                f"WHEN regexp_full_match({u}, '[+-]?[0-9]+') THEN CAST({number} AS VARCHAR) END"
            )
            return value, f"({u} IS NOT NULL AND {v} IS NULL)", "false"
        if kind == "decimal":
            plain = r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)"
            parts = f"regexp_extract({u}, '^([+-]?)([0-9]*)\\.?([0-9]*)$', ['s', 'i', 'f'])"
            digits = f"ltrim(({parts}).i, '0')"
            zero = f"({digits} = '' AND ltrim(({parts}).f, '0') = '')"
            value = (
                f"CASE WHEN regexp_full_match({u}, {literal(plain)}) THEN "
                f"CASE WHEN ({parts}).s = '-' AND NOT {zero} THEN '-' ELSE '' END "
                f"|| CASE WHEN {digits} = '' THEN '0' ELSE {digits} END "
                f"|| CASE WHEN ({parts}).f = '' THEN '' ELSE '.' || ({parts}).f END END"
            )
            exponent = literal(plain + "[eE][+-]?[0-9]+")
            unsure = f"regexp_full_match({u}, {exponent})"
            return value, f"({u} IS NOT NULL AND {v} IS NULL AND NOT {unsure})", f"({unsure})"
        if kind == "bool":
            word = f"lower({u})"
            ascii_ = self.ascii(u)
            value = (
                f"CASE WHEN {ascii_} AND {word} IN {_words(TRUE_WORDS)} THEN 'true' "
                f"WHEN {ascii_} AND {word} IN {_words(FALSE_WORDS)} THEN 'false' END"
            )
            longest = max(map(len, TRUE_WORDS | FALSE_WORDS))
            unsure = "false" if self.source.ascii else f"(NOT {ascii_} AND length({u}) <= {longest})"
            return value, f"({u} IS NOT NULL AND {v} IS NULL AND NOT {unsure})", f"({unsure})"
        if kind == "date" and (not column.formats or column.formats[0] == "%Y-%m-%d"):
            value = (
                f"CASE WHEN regexp_full_match({u}, '{_ISO_DATE}') AND NOT starts_with({u}, '0000') "
                f"AND TRY_CAST({u} AS DATE) IS NOT NULL THEN {u} END"
            )
            return value, "false", f"({u} IS NOT NULL AND {v} IS NULL)"
        if kind == "timestamp":
            value = (
                f"CASE WHEN regexp_full_match({u}, '{_ISO_TIMESTAMP}') AND NOT starts_with({u}, '0000') "
                f"AND TRY_CAST({u} AS TIMESTAMP) IS NOT NULL THEN replace({u}, 'T', ' ') END"
            )
            return value, "false", f"({u} IS NOT NULL AND {v} IS NULL)"
        # Dates in other formats: Python converts every one.
        return "NULL", "false", f"({u} IS NOT NULL)"

    def multi_value_parts(self, i: int) -> tuple[str, str]:
        """The parts of a multi-valued cell, lower-cased (``lv<i>`` is the lower-cased cell), with
        the spaces around separators removed; and when Python is needed: a cell that is not
        ASCII (Unicode lower-casing), or ASCII whitespace other than spaces in the text."""
        v, lv, sep = f"v{i}", f"lv{i}", self.rules.multi_value_separator
        touching = f"contains({lv}, {literal(' ' + sep)}) OR contains({lv}, {literal(sep + ' ')})"
        spaced = f"regexp_replace({lv}, {literal(' *' + _regex(sep) + ' *')}, {literal(sep)}, 'g')"
        parts = f"string_split(CASE WHEN {touching} THEN {spaced} ELSE {lv} END, {literal(sep)})"
        unsure = [] if self.source.ascii else [f"NOT {self.ascii(v)}"]
        if self.may_hold_whitespace != "false":
            ws = _regex("".join(sorted(self.source.ascii_whitespace)))
            check = f"regexp_matches({v}, '[{ws}]')"
            unsure.append(check if self.may_hold_whitespace == "true" else f"(q AND {check})")
        return parts, "(" + (" OR ".join(unsure) or "false") + ")"

    def multi_value(self, i: int) -> str:
        """normalise_multi_value from the parts: empty ones and NA tokens dropped, the first of
        equal ones kept, joined."""
        sep = literal(self.rules.multi_value_separator)
        p = f"p{i}"
        # An NA token among the values is no value. Parts here are ASCII (others are Python's),
        # whose case folding is lower(): the parts are lower-cased already.
        tokens = [token for token in self.tokens if token]
        na = f" AND x NOT IN {_words(set(tokens))}" if tokens else ""
        kept = f"x <> ''{na} AND list_position({p}, x) = k"
        return f"array_to_string(list_filter({p}, lambda x, k: {kept}), {sep})"

    def year(self, y: str) -> tuple[str, str]:
        """year_from_title: ``(dddd)`` at the end of the title (the title has no whitespace at
        its end: cells are stripped); a title whose last characters are not ASCII is Python's
        (its ``\\d`` takes any script's digits)."""
        ends = f"ends_with({y}, ')')"
        value = f"CASE WHEN {y} GLOB '*([0-9][0-9][0-9][0-9])' THEN left(right({y}, 5), 4) END"
        if self.source.ascii:
            return value, "false"
        tail = f"right({y}, 6)"
        return value, (
            f"CASE WHEN {ends} AND strlen({y}) <> length({y}) "
            f"THEN strlen({tail}) <> length({tail}) ELSE false END"
        )


class _Levels:
    """Query levels l0, l1, ...: each selects from the one before it."""

    def __init__(self) -> None:
        self.sql: list[str] = []

    def add(self, columns: list[str], source: str | None = None) -> None:
        source = source or f"l{len(self.sql) - 1}"
        self.sql.append(f"SELECT {', '.join(columns)} FROM {source}")

    def with_clause(self) -> str:
        return ",\n".join(f"l{n} AS ({sql})" for n, sql in enumerate(self.sql))

    @property
    def last(self) -> str:
        return f"l{len(self.sql) - 1}"


def _any(conditions: list[str]) -> str:
    kept = [c for c in conditions if c not in ("false", "(false)")]
    return "(" + " OR ".join(kept) + ")" if kept else "false"


def statement(source: LineSource, plan: Plan, rules: Rules, width: int, table: str) -> Statement:
    """``CREATE TABLE table AS``: one row per non-empty line of the text, in order, with its kind,
    its processed cells (work columns ``o1``...), a hash of them, a flag per cell nulled by its
    rule, and the raw line for the rows Python decides (NULL when the reader cut it short)."""
    b = _Builder(source, plan, rules, width)
    cells = list(b.cells)
    n = b.pieces
    levels = _Levels()
    levels.sql.append(f"SELECT * FROM {b.read()}")
    pieces = [f"c{k}" for k in range(1, n + 1)]
    # q: the line has a quote; shaped: the statement has its ``width`` fields.
    if source.quotes:
        # A quoted line: put back together, then split into ``width`` fields by one regular
        # expression that matches RFC 4180 quoting only (``m``; all empty for any other line,
        # which goes to Python).
        q = " OR ".join(f"contains(c{k}, '\"')" for k in range(1, n + 1))
        levels.add([*pieces, f"({q}) IS TRUE AS q"])  # missing pieces are NULL
        joined = f"CASE WHEN q AND c{n} IS NULL THEN {b.joined()} END"
        levels.add([*pieces, "q", f"{joined} AS line"])
        levels.add([*pieces, "q", "line", f"CASE WHEN q THEN {b.quoted_fields()} END AS m"])
        matched = " OR ".join(f"starts_with(m.f{i}, '\"')" for i in cells)
        shaped = (
            f"CASE WHEN NOT q THEN c{width} IS NOT NULL AND c{width + 1} IS NULL "
            f"ELSE coalesce({matched}, false) END"
        )
        xs = [f"CASE WHEN NOT q THEN c{i} ELSE {b.unquoted(f'm.f{i}')} END AS x{i}" for i in cells]
        raw = f"CASE WHEN q THEN line WHEN NOT ({shaped}) AND c{n} IS NULL THEN {b.joined()} END"
    else:
        levels.add([*pieces, "false AS q"])
        shaped = f"c{width} IS NOT NULL AND c{width + 1} IS NULL"
        xs = [f"c{i} AS x{i}" for i in cells]
        raw = f"CASE WHEN NOT ({shaped}) AND c{n} IS NULL THEN {b.joined()} END"
    if source.field_limit is not None:
        # A field over the csv module's limit is an unparseable record: Python's to report.
        length = " + ".join(f"coalesce(strlen(c{k}), 0)" for k in range(1, n + 1))
        shaped = f"({shaped}) AND {length} < {source.field_limit}"
    levels.add(["q", f"({shaped}) AS shaped", f"{raw} AS early_raw", *xs])
    xcols = [f"x{i}" for i in cells]
    row = ["q", "shaped", "early_raw", *xcols]
    levels.add([*row, *(f"{b.trimmed(i)} AS s{i}" for i in cells)])
    levels.add([*row, *(f"{b.stripped(i)} AS t{i}" for i in cells)])

    us, na_unsure = [], []
    for i in cells:
        value, unsure = b.na(i)
        us.append(f"{value} AS u{i}")
        na_unsure.append(unsure)
    levels.add([*row, *us, f"{_any(na_unsure)} AS undecided"])

    # Typed cells: v<i> is the converted value (NULL when the rule nulls it), nul<i> the flag.
    typed = {column.index + 1: column for column in plan.typed}
    vs, nulled, flags, flag_names = [], [], [], []
    undecided = ["undecided"]
    for i in cells:
        if i not in typed:
            vs.append(f"u{i} AS v{i}")
            continue
        column = typed[i]
        value, failed, unsure = b.typed(column, f"u{i}", f"v{i}")
        vs.append(f"{value} AS v{i}")
        if column.reject:
            undecided += [failed, unsure]
        else:
            undecided.append(unsure)
            nulled.append(f"{failed} AS nul{i}")
            flags.append(f"nul{i}")
            flag_names.append(column.name)
    blank = " AND ".join(f"coalesce(u{i}, '') = ''" for i in cells)
    us_kept = [f"u{i}" for i in cells if i in typed]
    levels.add([*row, "undecided", *us_kept, *vs, f"({blank}) AS blank"])
    # Whether a typed cell failed: from the cell and its converted value (computed once).
    levels.add([*row, *(f"v{i}" for i in cells), "blank", *nulled, f"{_any(undecided)} AS undecided"])
    row += ["blank", *flags]
    values = [f"v{i}" for i in cells]

    # Multi-valued cells: the lower-cased cell, then its parts, then the parts kept, joined.
    finals = {i: f"v{i}" for i in cells}
    multi = sorted(index + 1 for index in plan.multi_value)
    if multi:
        parts, unsure_mv = [], ["undecided"]
        for i in multi:
            part, unsure = b.multi_value_parts(i)
            parts.append(f"{part} AS p{i}")
            unsure_mv.append(unsure)
        levels.add(
            [*row, f"{_any(unsure_mv)} AS undecided", *values, *(f"lower(v{i}) AS lv{i}" for i in multi)]
        )
        levels.add([*row, "undecided", *values, *parts])
        for i in multi:
            finals[i] = b.multi_value(i)

    outputs = [f"nullif({finals[i]}, '')" for i in cells]
    last_undecided = "undecided"
    if plan.year_source is not None:
        if plan.year_source + 1 in multi:
            # The year is read from the normalised cell: one more level.
            levels.add([*row, "undecided", *(f"{finals[i]} AS f{i}" for i in cells)])
            outputs = [f"nullif(f{i}, '')" for i in cells]
            finals = {i: f"f{i}" for i in cells}
        value, unsure = b.year(finals[plan.year_source + 1])
        outputs.append(value)
        last_undecided = _any(["undecided", unsure])
    output = [f"o{k}" for k in range(1, len(outputs) + 1)]
    levels.add(
        [
            *row,
            f"{last_undecided} AS undecided",
            *(f"{expr} AS {name}" for expr, name in zip(outputs, output, strict=True)),
        ]
    )
    kind = (
        f"CASE WHEN NOT shaped THEN {PYTHON} WHEN blank THEN {EMPTY} WHEN undecided THEN {PYTHON} "
        f"ELSE {OUT} END"
    )
    raw = (
        f"CASE WHEN kind <> {PYTHON} THEN NULL WHEN q OR NOT shaped THEN early_raw "
        f"ELSE concat_ws({literal(source.delimiter)}, {', '.join(xcols)}) END"
    )
    sql = (
        f"CREATE TABLE {table} AS WITH {levels.with_clause()},\n"
        f"k AS (SELECT *, ({kind})::UTINYINT AS kind FROM {levels.last})\n"
        f"SELECT kind, hash({', '.join(output)}) AS h, {', '.join([*output, *flags])}, {raw} AS raw FROM k"
    )
    return Statement(sql, output, flags, flag_names)
