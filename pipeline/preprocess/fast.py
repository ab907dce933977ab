"""The fast path of ``preprocess_file``: the reference cleaning rules, with the same results, run
mostly inside DuckDB.

Why: the reference path (``handler.preprocess_reference``: ``clean_file`` then ``dedupe.finish``)
runs the rules once per record in Python (about 9 MB/s, 5 µs a row) and writes, then re-reads, a
line-numbered copy for DuckDB's deduplication. Here:

1. ``text.prepare_text`` decodes the whole file as the reference does (the same encoding
   decision) and, unless it already is UTF-8 with LF line ends, writes it once as such;
2. the dialect and the header come from the same first characters, read by the csv module;
3. one DuckDB statement (``fastsql.statement``) turns every non-empty line into a row of a work
   table, in line order (``rowid``), with its kind and, where the statement can be sure of the
   reference's result, the processed cells and a hash of them. The table lives in an uncompressed
   database file in the work dir, deleted at the end: DuckDB writes and re-reads it faster than it
   spills and re-reads an in-memory table of that size;
4. the lines it leaves to Python (malformed quoting, records over several lines, wrong widths,
   cells that reject their row, non-ASCII corner cases: well under 1 % of a typical file) get the
   reference's own per-record code (``clean.clean_record``), fed by the csv module exactly as the
   reference feeds it; rejects are written from there, in line order;
5. later copies of a row are found among the rows whose hash occurs more than once, compared cell
   by cell (a hash collision never drops a row), and the kept rows are written in line order with
   the reference's ``COPY`` options, so the processed file is byte for byte the reference's.

Memory stays bounded: DuckDB gets 40 % of the Lambda's memory (a quarter while Python holds the
rows it decides), Python holds only those rows. Nothing in the work table is ever updated (an
UPDATE of rows spread over a large table costs seconds): see ``_Work``.

The fast path steps aside (``FastPathDeclined``, then the reference path runs) for what it does
not model: a NUL character (its record is rejected), a line over 64 MiB, a delimiter named by
``sep=`` that is not one of ``, ; tab |``, a text holding every spare control character, millions
of empty lines, more columns than MB of DuckDB memory (over 204 in a 512 MB Lambda).

Known difference from the reference, in what is reported only: a file that fails for several
reasons may be reported with another one of them. The whole file is decoded before its header is
read, so a truncated gzip file whose header is also unreadable (a field over 16 MiB) is reported as
truncated, where the reference reports the header.
"""

from __future__ import annotations

import bisect
import csv
import io
import itertools
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
from duckdb.func import FunctionNullHandling

from pipeline.preprocess.clean import (
    MAX_FIELD_CHARS,
    REJECT_COLUMNS,
    CleanCounts,
    Plan,
    clean_record,
    header_columns,
    make_plan,
    read_header,
)
from pipeline.preprocess.clean import (
    OUT as RECORD_OUT,
)
from pipeline.preprocess.clean import (
    REJECT as RECORD_REJECT,
)
from pipeline.preprocess.dedupe import duckdb_memory_mb, too_wide
from pipeline.preprocess.dialect import DELIMITERS, detect_delimiter, excel_separator
from pipeline.preprocess.exceptions import FastPathDeclined
from pipeline.preprocess.fastsql import (
    COVERED,
    EMPTY,
    OUT,
    PYTHON,
    REJECTED,
    LineSource,
    Statement,
    statement,
)
from pipeline.preprocess.rules import Rules
from pipeline.preprocess.text import DUCKDB_LINE_BYTES, READ_BYTES, Text, prepare_text
from pipeline.sqltext import identifier, literal

TABLE = "work.lines"  # in a database file in the work dir: see preprocess()


@dataclass(frozen=True)
class Processed:
    """A preprocessed file on local disk: the cleaned output, its rejects and the accounting."""

    counts: CleanCounts
    encoding: str
    delimiter: str
    output: Path
    rejects: Path
    phases: dict[str, float] = field(default_factory=dict)  # seconds per step, for benchmarks
    python_rows: int = 0  # lines the fast path's statement left to the per-record Python code


class _Clock:
    """Seconds per step of the fast path (the benchmark prints them)."""

    def __init__(self) -> None:
        self.phases: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.phases[name] = self.phases.get(name, 0.0) + now - self._last
        self._last = now


def _run(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None) -> list[Any]:
    return con.execute(sql, params or []).fetchall()


def _header(text: Text, key: str, delimiter: str, lines_before: int) -> tuple[list[str], int]:
    """The header as the csv module reads it, and how many lines of the file it ends on."""
    with text.path.open(encoding=text.read_encoding, newline="") as source:
        for _ in range(lines_before):
            source.readline()
        reader = csv.reader(source, delimiter=delimiter)
        header = read_header(reader, key)
        return header, lines_before + reader.line_num


class _NeedsMore(Exception):
    """The record goes on past the lines at hand."""


def _lines_from(first: int, known: dict[int, str], empty: Sequence[int]) -> Iterator[str]:
    """Lines ``first``, ``first + 1``, ... as far as their text is at hand (LF-terminated, as the
    csv module reads them from the file): the lines left to Python and the empty lines."""
    for number in itertools.count(first):
        raw = known.get(number)
        if raw is None:
            at = bisect.bisect_left(empty, number)
            if at == len(empty) or empty[at] != number:
                raise _NeedsMore
            raw = ""
        yield raw + "\n"


class _Numbering:
    """Line numbers of the work table's rows: DuckDB's reader skips empty lines, whose numbers
    the text pass recorded (ascending)."""

    def __init__(self, empty: Sequence[int]) -> None:
        self.empty = empty

    def line(self, row: int) -> int:
        """The line of 0-based row ``row``: one per row before it, plus the empty lines."""
        empty = self.empty
        return row + 1 + bisect.bisect_right(range(len(empty)), row, key=lambda j: empty[j] - j - 1)

    def row(self, line: int) -> int:
        """The row of non-empty line ``line``."""
        return line - 1 - bisect.bisect_left(self.empty, line)

    def empty_between(self, first: int, last: int) -> int:
        """How many of lines ``first``..``last`` are empty."""
        return bisect.bisect_right(self.empty, last) - bisect.bisect_left(self.empty, first)


@dataclass
class _Decided:
    """The rows Python decided, and the lines that turned out to continue a record."""

    rows: dict[int, tuple[int, list[str | None], tuple[str, ...]]]  # line -> kind, cells, nulled
    rejects: list[tuple[int, str, str]]  # line, reason, raw text
    covered: list[tuple[int, int]]  # first and last continuation line of each multi-line record


class _LineCursor:
    """Finds where lines start in the text, scanning forward only: records are read in line
    order, so the text is scanned at most once."""

    def __init__(self, binary: Any, read_bytes: int) -> None:
        self.binary, self.read_bytes, self.line, self.offset = binary, read_bytes, 1, 0

    def offset_of(self, line: int) -> int:
        self.binary.seek(self.offset)
        while line > self.line:
            chunk = self.binary.read(self.read_bytes)
            if not chunk:
                raise ValueError(f"line {line} is past the end of the text")
            ends = chunk.count(b"\n")
            need = line - self.line
            if need > ends:
                self.line, self.offset = self.line + ends, self.offset + len(chunk)
                continue
            at = -1
            for _ in range(need):
                at = chunk.index(b"\n", at + 1)
            self.line, self.offset = line, self.offset + at + 1
        return self.offset


class _Decider:
    """Runs the reference per-record code on the lines the statement left to Python."""

    def __init__(
        self, text: Text, plan: Plan, rules: Rules, width: int, delimiter: str, read_bytes: int
    ) -> None:
        self.text, self.plan, self.rules, self.width, self.delimiter = text, plan, rules, width, delimiter
        self.read_bytes = read_bytes

    def _record(self, line: int, row: list[str], last: int, decided: _Decided) -> None:
        outcome = clean_record(row, self.plan, self.rules, self.width, self.delimiter, line, last)
        if outcome.kind == RECORD_REJECT:
            decided.rejects.append((line, outcome.reason, outcome.raw))
            decided.rows[line] = (REJECTED, [], ())
        elif outcome.kind == RECORD_OUT:
            decided.rows[line] = (OUT, outcome.cells or [], outcome.nulled)
        else:
            decided.rows[line] = (EMPTY, [], ())

    def decide(self, starts: dict[int, str | None], empty: Sequence[int]) -> _Decided:
        """``starts``: line number -> raw text (None when the reader cut it short) of every line
        left to Python, each the first line of a record unless an earlier record goes on over
        it. A record is read from its first line over the lines at hand (those and the empty
        lines); one that goes on over a line the statement kept is read from the text file, as
        the reference reads it."""
        decided = _Decided({}, [], [])
        known = {line: raw for line, raw in starts.items() if raw is not None}
        covered_to = 0
        with self.text.path.open("rb") as binary:
            cursor = _LineCursor(binary, self.read_bytes)
            for line in sorted(starts):
                if line <= covered_to:
                    continue  # inside the record before it
                reader = csv.reader(_lines_from(line, known, empty), delimiter=self.delimiter)
                source = None
                row: list[str] | None = None
                error: csv.Error | None = None
                try:
                    row = next(reader)
                except _NeedsMore:
                    binary.seek(cursor.offset_of(line))
                    source = io.TextIOWrapper(binary, encoding="utf-8", newline="")
                    reader = csv.reader(source, delimiter=self.delimiter)
                    try:
                        row = next(reader)
                    except csv.Error as exc:
                        error = exc
                except csv.Error as exc:
                    error = exc
                last = line + reader.line_num - 1
                if source is not None:
                    source.detach()
                if row is not None:
                    self._record(line, row, last, decided)
                else:
                    decided.rejects.append((line, f"unparseable CSV: {error}", ""))
                    decided.rows[line] = (REJECTED, [], ())
                if last > line:
                    decided.covered.append((line + 1, last))
                covered_to = last
        return decided


class _Work:
    """The work table after the statement, with the rows Python decided, as DuckDB sees them.

    Nothing in the work table is updated (an UPDATE of rows spread over a large table costs
    seconds): the rows Python decided are a small table, the rows to leave out (lines inside
    a record read over several lines, later copies of a row) are the bits of one bitstring indexed
    by row id, and the values of the rows Python keeps come from a scalar function while the output
    is written in row order (a join would not keep the order)."""

    def __init__(self, con: duckdb.DuckDBPyConnection, stmt: Statement, first_row: int, rows: int) -> None:
        self.con, self.stmt, self.first_row, self.rows = con, stmt, first_row, rows
        self.kept: dict[int, list[str | None]] = {}  # row -> processed cells, for the rows Python keeps

    def add_decided(self, path: Path, decided: _Decided, numbering: _Numbering) -> None:
        """The rows Python decided (row id, kind, cells, nulled flags) and the lines inside
        multi-line records, as tables ``decided`` and ``covered``."""
        stmt = self.stmt
        blank: list[str | None] = [None] * len(stmt.output)
        unflagged = [False] * len(stmt.nulled)
        with path.open("w", encoding="utf-8", newline="") as sink:
            writer = csv.writer(sink, lineterminator="\n")
            for line, (kind, cells, nulled) in decided.rows.items():
                row = numbering.row(line)
                if kind == OUT:
                    cells = [cell or None for cell in cells]  # '' is NULL, as DuckDB reads it back
                    self.kept[row] = cells
                    writer.writerow([row, kind, *cells, *(name in nulled for name in stmt.nulled_names)])
                else:
                    writer.writerow([row, kind, *blank, *unflagged])
            for first, last in decided.covered:
                # The non-empty lines of a record's continuation: consecutive rows.
                for row in range(numbering.row(first), numbering.row(last + 1)):
                    writer.writerow([row, COVERED, *blank, *unflagged])
        columns = {"r": "BIGINT", "kind": "UTINYINT"}
        columns |= {name: "VARCHAR" for name in stmt.output}
        columns |= {name: "BOOLEAN" for name in stmt.nulled}
        spec = ", ".join(f"{literal(name)}: {literal(kind)}" for name, kind in columns.items())
        _run(
            self.con,
            f"CREATE TEMP TABLE decided AS SELECT * FROM read_csv({literal(str(path))}, header = false, "
            f"auto_detect = false, delim = ',', quote = '\"', escape = '\"', columns = {{{spec}}})",
        )
        _run(self.con, f"CREATE TEMP TABLE covered AS SELECT r FROM decided WHERE kind = {COVERED}")
        _run(self.con, "CREATE TEMP TABLE dropped AS SELECT r FROM covered")

    def statement_rows(self, kind: int) -> str:
        """The statement's rows of ``kind`` that are records (lines inside a record are not)."""
        return f"kind = {kind} AND rowid >= {self.first_row} AND rowid NOT IN (SELECT r FROM covered)"

    def counts(self, columns: list[str]) -> CleanCounts:
        """The accounting of the records: the statement's rows, then Python's."""
        stmt, first = self.stmt, self.first_row
        kinds = dict(
            _run(self.con, f"SELECT kind, count(*) FROM {TABLE} WHERE rowid >= {first} GROUP BY kind")
        )
        inside = _run(
            self.con,
            f"SELECT kind, count(*) FROM {TABLE} WHERE rowid IN (SELECT r FROM covered) GROUP BY kind",
        )
        for kind, count in inside:
            kinds[kind] -= count
        python = dict(
            _run(self.con, f"SELECT kind, count(*) FROM decided WHERE kind <> {COVERED} GROUP BY kind")
        )
        if kinds.get(PYTHON, 0) != sum(python.values()):
            raise RuntimeError("the rows left to Python and the rows it decided differ")  # a bug
        counts = CleanCounts(columns=columns)
        counts.rows_out = kinds.get(OUT, 0) + python.get(OUT, 0)
        counts.rows_rejected = python.get(REJECTED, 0)
        counts.rows_empty = kinds.get(EMPTY, 0) + python.get(EMPTY, 0)
        counts.rows_in = counts.rows_out + counts.rows_rejected + counts.rows_empty
        if stmt.nulled:
            # In the order the reference first meets them: by first row, then by column.
            parts = ", ".join(f"count(*) FILTER ({flag}), min(r) FILTER ({flag})" for flag in stmt.nulled)
            flags = ", ".join(stmt.nulled)
            flagged = f"SELECT rowid AS r, {flags} FROM {TABLE} WHERE {self.statement_rows(OUT)}"
            flagged += f" UNION ALL SELECT r, {flags} FROM decided WHERE kind = {OUT}"
            (found,) = _run(self.con, f"SELECT {parts} FROM ({flagged})")
            met = [
                (found[2 * n + 1], n, name, int(found[2 * n]))
                for n, name in enumerate(stmt.nulled_names)
                if found[2 * n]
            ]
            counts.values_nulled = {name: count for _, _, name, count in sorted(met)}
        return counts

    def leave_out_duplicates(self) -> None:
        """Every later copy of a kept row is left out. Rows are compared cell by cell (NULLs
        equal, as GROUP BY compares them), only among the rows whose hash occurs more than once
        (lines inside records count too: a superset) and the rows Python kept."""
        cells = ", ".join(self.stmt.output)
        _run(
            self.con,
            f"CREATE TEMP TABLE repeated AS SELECT h FROM {TABLE} WHERE kind = {OUT} "
            f"AND rowid >= {self.first_row} GROUP BY h HAVING count(*) > 1 "
            f"UNION SELECT hash({cells}) FROM decided WHERE kind = {OUT}",
        )
        candidates = (
            f"SELECT rowid AS r, {cells} FROM {TABLE} WHERE {self.statement_rows(OUT)} "
            f"AND h IN (SELECT h FROM repeated) UNION ALL SELECT r, {cells} FROM decided WHERE kind = {OUT}"
        )
        _run(
            self.con,
            f"INSERT INTO dropped SELECT r FROM ({candidates}) "
            f"QUALIFY row_number() OVER (PARTITION BY {cells} ORDER BY r) > 1",
        )

    def _bits(self, name: str, rows_sql: str) -> bool:
        """``name`` := a bitstring with the bits of ``rows_sql``'s row ids set; False when none."""
        ((count,),) = _run(self.con, f"SELECT count(*) FROM ({rows_sql})")
        if count:
            _run(
                self.con,
                f"SET VARIABLE {name} = "
                f"(SELECT bitstring_agg(r::BIGINT, 0, {self.rows - 1}) FROM ({rows_sql}))",
            )
        return bool(count)

    def write(self, output: Path, names: list[str]) -> int:
        """COPY the kept rows in row order, with the reference's options; the rows written."""
        stmt, kept = self.stmt, self.kept
        conditions = [f"rowid >= {self.first_row}"]
        if self._bits("dropped", "SELECT r FROM dropped"):
            conditions.append("get_bit(getvariable('dropped'), rowid::INTEGER) = 0")
        if kept and self._bits("kept", f"SELECT r FROM decided WHERE kind = {OUT}"):
            self.con.create_function(
                "kept_cell",
                lambda row, index: kept[row][index],
                [duckdb.sqltype("BIGINT"), duckdb.sqltype("INTEGER")],
                duckdb.sqltype("VARCHAR"),
                null_handling=FunctionNullHandling.SPECIAL,  # a kept cell may be NULL
            )
            conditions.append(
                f"(kind = {OUT} OR kind = {PYTHON} AND get_bit(getvariable('kept'), rowid::INTEGER) = 1)"
            )
            selected = ", ".join(
                f"CASE WHEN kind = {PYTHON} THEN kept_cell(rowid, {n}) ELSE {cell} END AS {identifier(name)}"
                for n, (cell, name) in enumerate(zip(stmt.output, names, strict=True))
            )
        else:
            conditions.append(f"kind = {OUT}")
            selected = ", ".join(
                f"{cell} AS {identifier(name)}" for cell, name in zip(stmt.output, names, strict=True)
            )
        ((written,),) = _run(
            self.con,
            f"COPY (SELECT {selected} FROM {TABLE} WHERE {' AND '.join(conditions)}) "
            f"TO {literal(str(output))} (FORMAT csv, HEADER true, DELIMITER ',')",
        )
        return int(written)


def preprocess(
    local: Path,
    key: str,
    rules: Rules,
    work_dir: Path,
    memory_mb: int,
    *,
    keep_input: bool = True,
    read_bytes: int = READ_BYTES,
) -> Processed:
    """``handler.preprocess_file``'s contract, the same results; raises FastPathDeclined before it
    touches ``local`` when it does not handle the file. ``read_bytes``: the size of each read of
    the file (tests use tiny reads to cross every boundary)."""
    clock = _Clock()
    text = prepare_text(local, key, work_dir, read_bytes=read_bytes)
    if not text.fits:
        raise FastPathDeclined("a NUL character, a line over 64 MiB or millions of empty lines")
    if not text.free_controls:
        raise FastPathDeclined("no control character is free to stand for missing fields")
    hint = excel_separator(text.sample)
    delimiter = hint or detect_delimiter(text.sample)
    if delimiter not in DELIMITERS:
        raise FastPathDeclined(f"delimiter {delimiter!r}")
    header, header_lines = _header(text, key, delimiter, 1 if hint else 0)
    width = len(header)
    duckdb_mb = duckdb_memory_mb(memory_mb)
    if too_wide(width, memory_mb):
        # Every level of the statement holds a chunk of its columns per thread: measured, 200
        # columns need about 200 MB of DuckDB's memory; 300 under a 205 MB limit came to 95 % of
        # a 512 MB budget.
        raise FastPathDeclined(f"{width} columns, over one per MB of DuckDB's memory")
    plan = make_plan(header_columns(header, rules, key), rules)
    source = LineSource(
        path=str(text.path),
        null_marker=text.free_controls[0],
        delimiter=delimiter,
        max_line_bytes=max(DUCKDB_LINE_BYTES, text.longest_line + 1024),
        ascii=text.ascii,
        quotes=text.quotes,
        ascii_whitespace=text.ascii_whitespace,
        field_limit=MAX_FIELD_CHARS if text.longest_line >= MAX_FIELD_CHARS else None,
    )
    stmt = statement(source, plan, rules, width, TABLE)
    clock.lap("text")
    numbering = _Numbering(text.empty_lines)
    first_row = numbering.row(header_lines + 1)  # rows before it are the header's lines
    output, rejects, decided_csv = work_dir / "clean.csv", work_dir / "rejects.csv", work_dir / "decided.csv"
    config: dict[str, Any] = {
        "memory_limit": f"{duckdb_mb}MB",
        "temp_directory": str(work_dir),
        "threads": 2,
        "preserve_insertion_order": True,
    }
    database = work_dir / "work.duckdb"
    # The work table holds about twice the text. When that fits in DuckDB's memory, it stays
    # there; else it goes to a database file, uncompressed: DuckDB writes and re-reads that faster
    # than it spills and re-reads an in-memory table, and compressing it costs more than it saves.
    in_memory = 2 * text.path.stat().st_size < duckdb_mb * 2**20
    with duckdb.connect(config=config) as con:
        _run(con, "ATTACH ':memory:' AS work" if in_memory else f"ATTACH {literal(str(database))} AS work")
        _run(con, "SET force_compression = 'uncompressed'")
        _run(con, "SET checkpoint_on_detach = 'DISABLED'")  # the file is deleted after use
        _run(con, stmt.sql)
        clock.lap("statement")
        ((rows,),) = _run(con, f"SELECT count(*) FROM {TABLE}")
        if rows != text.lines - len(text.empty_lines):
            raise FastPathDeclined(f"the reader gave {rows} rows for {text.lines} lines")  # never seen
        if not keep_input and text.path != local:
            local.unlink()  # the Lambda's /tmp is small: the raw copy is not needed past this point
        # While Python holds the rows it decides, DuckDB holds less: its buffers go to the spill
        # folder, so that both stay within the Lambda's memory.
        _run(con, f"SET memory_limit = '{max(64, memory_mb // 4)}MB'")
        starts = {
            numbering.line(row): raw
            for row, raw in _run(
                con, f"SELECT rowid, raw FROM {TABLE} WHERE kind = {PYTHON} AND rowid >= ?", [first_row]
            )
        }
        decider = _Decider(text, plan, rules, width, delimiter, read_bytes)
        decided = decider.decide(starts, text.empty_lines)
        if text.path != local:
            text.path.unlink()
        elif not keep_input:
            local.unlink()
        work = _Work(con, stmt, first_row, rows)
        work.add_decided(decided_csv, decided, numbering)
        python_rows = len(starts)
        with rejects.open("w", encoding="utf-8", newline="") as sink:
            writer = csv.writer(sink, lineterminator="\n")
            writer.writerow(REJECT_COLUMNS)
            writer.writerows((key, line, reason, raw) for line, reason, raw in sorted(decided.rejects))
        covered = decided.covered
        del starts, decided  # only the rows Python keeps stay in memory (work.kept)
        _run(con, f"SET memory_limit = '{config['memory_limit']}'")
        decided_csv.unlink()
        clock.lap("python")
        counts = work.counts(plan.columns)
        # Empty lines are records too, but not the ones before the header or inside a record.
        empty_records = numbering.empty_between(header_lines + 1, text.lines)
        empty_records -= sum(numbering.empty_between(first, last) for first, last in covered)
        counts.rows_empty += empty_records
        counts.rows_in += empty_records
        if rules.dedupe:
            work.leave_out_duplicates()
        clock.lap("dedupe")
        written = work.write(output, plan.columns)
        _run(con, "DETACH work")
    for leftover in (database, database.with_name(database.name + ".wal")):
        leftover.unlink(missing_ok=True)
    counts.rows_duplicate, counts.rows_out = counts.rows_out - written, written
    clock.lap("write")
    return Processed(counts, text.encoding, delimiter, output, rejects, clock.phases, python_rows)
