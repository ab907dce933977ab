"""Pure cleaning rules for one CSV stream: header normalisation and renaming, trimming, NA tokens,
empty rows, NUL bytes, row shape, typed columns, multi-valued columns and the year in titles. No
I/O beyond the file objects it is given, so every rule is tested on strings.

This is the reference definition of the rules. ``clean_record`` decides one record; ``clean_csv``
runs it over a whole stream (the reference path, ``handler.preprocess_reference``), and the fast
path (``pipeline.preprocess.fast``) runs the same ``clean_record`` on the rare records its SQL
leaves to Python, and is tested against ``clean_csv`` file by file.

Row accounting is exact: rows_in = rows_out + rows_rejected + rows_empty + rows_duplicate
(duplicates are counted by the deduplication step that follows).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, NamedTuple

from pipeline.layout import snake_case
from pipeline.preprocess.exceptions import UnreadableFile
from pipeline.preprocess.rules import Rules
from pipeline.preprocess.types import TypeMismatch, converter

REJECT_COLUMNS = ("source_key", "line_number", "reason", "raw_text")
# Python's csv module refuses fields over 128 KiB by default; long text cells are real data.
# Past this a field is rejected as unparseable, which bounds the memory one record can take.
MAX_FIELD_CHARS = 16 * 1024 * 1024
csv.field_size_limit(MAX_FIELD_CHARS)
LINE_COLUMN = "__line"
DEFAULT_RULES = Rules()


@dataclass
class CleanCounts:
    rows_in: int = 0
    rows_out: int = 0
    rows_rejected: int = 0
    rows_empty: int = 0
    rows_duplicate: int = 0
    columns: list[str] = field(default_factory=list)
    # Cells emptied because they were not of their column's type (rule on_error = "null").
    values_nulled: dict[str, int] = field(default_factory=dict)

    def balanced(self) -> bool:
        return self.rows_in == self.rows_out + self.rows_rejected + self.rows_empty + self.rows_duplicate


def normalise_header(names: Sequence[str]) -> list[str]:
    """snake_case, unique names: ``["Movie Id", "movieId", ""]`` ->
    ``["movie_id", "movie_id_2", "column_3"]``."""
    result: list[str] = []
    seen: set[str] = set()
    for position, raw in enumerate(names, start=1):
        base = snake_case(raw) or f"column_{position}"
        if base[0].isdigit():
            base = f"c_{base}"
        name, suffix = base, 2
        while name in seen:
            name, suffix = f"{base}_{suffix}", suffix + 1
        seen.add(name)
        result.append(name)
    return result


def header_columns(header: Sequence[str], rules: Rules, source_key: str) -> list[str]:
    """The processed column names of a file's header: normalised, then renamed by the rules'
    ``[rename]``. Two columns that would end with one name fail the file with one clear line."""
    names = normalise_header([cell.strip() for cell in header])
    if not rules.rename:
        return names
    new = dict(rules.rename)
    columns = [new.get(name, name) for name in names]
    for target in dict.fromkeys(columns):
        sources = [name for name, column in zip(names, columns, strict=True) if column == target]
        if len(sources) > 1:
            renamed = ", ".join(f'{old} = "{new[old]}"' for old in sources if old in new)
            raise UnreadableFile(
                f"{source_key}: columns {' and '.join(sources)} would both be named {target!r} "
                f"(rule [rename] {renamed} of {rules.origin}); remove one of them from the file "
                "or change the rule"
            )
    return columns


def _nul_reason(row: Sequence[str], columns: Sequence[str], width: int) -> str | None:
    """Why a record with a NUL byte is rejected (None without one): NUL is not text, and a stray
    one in an otherwise text file is one damaged record, not a damaged file."""
    for index, cell in enumerate(row):
        if "\x00" in cell:
            where = f"column {columns[index]}" if len(row) == width else f"field {index + 1}"
            return f"a NUL byte in {where} (binary data in a text file)"
    return None


def _raw_text(fields: Iterable[str], delimiter: str = ",") -> str:
    return delimiter.join(_one_newline(field) for field in fields)


def _one_newline(cell: str) -> str:
    """Line breaks inside a cell as LF: a lone CR would be written unquoted by the csv module
    (it quotes only the characters of its line terminator) and split the record on reading."""
    return cell.replace("\r\n", "\n").replace("\r", "\n") if "\r" in cell else cell


_YEAR_IN_TITLE = re.compile(r"\((\d{4})\)\s*$")


def year_from_title(title: str | None) -> str | None:
    """``Toy Story (1995)`` -> ``1995``; None when the title carries no year at its end."""
    if not title:
        return None
    match = _YEAR_IN_TITLE.search(title)
    return match[1] if match else None


def normalise_multi_value(value: str, separator: str, na: frozenset[str] = frozenset()) -> str | None:
    """``Action| comedy |ACTION`` -> ``action|comedy``: lower-cased, trimmed, each value once,
    in first-seen order, so that counts never split by case or spacing. A value that is an NA
    token (``na``: case-folded tokens) is no value: ``Drama|(no genres listed)`` -> ``drama``."""
    seen: dict[str, None] = {}
    for raw in value.split(separator):
        part = raw.strip().lower()
        if part and raw.strip().casefold() not in na:
            seen.setdefault(part, None)
    return separator.join(seen) or None


@dataclass(frozen=True)
class TypedColumn:
    index: int
    name: str
    type: str
    formats: tuple[str, ...]
    convert: Callable[[str], str]
    reject: bool


@dataclass(frozen=True)
class Plan:
    """Per-column work decided once from the header and the rules."""

    columns: list[str]
    typed: tuple[TypedColumn, ...]
    multi_value: frozenset[int]
    year_source: int | None


def make_plan(columns: list[str], rules: Rules) -> Plan:
    """The work for a file whose normalised header is ``columns``: which cells are typed, which
    are multi-valued, and whether a ``year`` column is added (it is then the last column)."""
    by_name = {rule.name: rule for rule in rules.columns if rule.type != "string"}
    typed = tuple(
        TypedColumn(
            i,
            name,
            by_name[name].type,
            by_name[name].formats,
            converter(by_name[name].type, by_name[name].formats),
            by_name[name].on_error == "reject",
        )
        for i, name in enumerate(columns)
        if name in by_name
    )
    multi = frozenset(i for i, name in enumerate(columns) if name in rules.multi_value_columns)
    year_source = None
    if "year" not in columns and rules.year_from in columns:
        year_source = columns.index(rules.year_from)
        columns = [*columns, "year"]
    return Plan(columns, typed, multi, year_source)


def _apply_types(cells: list[str | None], plan: Plan) -> tuple[str | None, list[str]]:
    """Convert typed cells in place; the reject reason when a cell that must convert does not,
    else None and the names of the columns whose cell was nulled by its rule."""
    reasons, nulled = [], []
    for column in plan.typed:
        value = cells[column.index]
        if value is None:
            continue
        try:
            cells[column.index] = column.convert(value)
        except TypeMismatch as exc:
            if column.reject:
                reasons.append(f"column {column.name}: {exc}")
            else:
                cells[column.index] = None
                nulled.append(column.name)
    if reasons:
        return "; ".join(reasons), []
    return None, nulled


# What one record becomes: a processed row, an empty row, or a reject.
OUT, EMPTY, REJECT = 0, 1, 2


class Outcome(NamedTuple):
    """One record after the rules: its kind; for OUT the processed cells and the columns nulled
    by their rule; for REJECT the reason and the record's raw text."""

    kind: int
    cells: list[str | None] | None = None
    nulled: tuple[str, ...] = ()
    reason: str = ""
    raw: str = ""


_EMPTY = Outcome(EMPTY)


def clean_record(
    row: list[str],
    plan: Plan,
    rules: Rules,
    width: int,
    delimiter: str,
    line_number: int,
    last_line: int,
) -> Outcome:
    """The rules for one record as the csv module read it (``row``), which began on
    ``line_number`` and ended on ``last_line``. The one definition of a record's fate: the
    reference loop below and the fast path's rare rows (pipeline.preprocess.fast) both call it."""
    na = rules.na_set
    cells: list[str | None] = [_one_newline(cell).strip() for cell in row]
    cells = [None if cell is not None and cell.casefold() in na else cell for cell in cells]
    if not any(cells):
        return _EMPTY
    if "\x00" in "".join(row):  # one join: 0.1 µs a record
        reason = _nul_reason(row, plan.columns, width) or ""
        return Outcome(REJECT, reason=reason, raw=_raw_text(row, delimiter).replace("\x00", "\\x00"))
    if len(cells) != width:
        reason = f"expected {width} fields, found {len(cells)}"
        if last_line > line_number:
            reason += f" in a record spanning lines {line_number}-{last_line} (an unbalanced quote?)"
        return Outcome(REJECT, reason=reason, raw=_raw_text(row, delimiter))
    nulled: list[str] = []
    if plan.typed:
        reason, nulled = _apply_types(cells, plan)
        if reason:
            return Outcome(REJECT, reason=reason, raw=_raw_text(row, delimiter))
    for index in plan.multi_value:
        if cells[index] is not None:
            cells[index] = normalise_multi_value(cells[index], rules.multi_value_separator, na)
    if plan.year_source is not None:
        cells.append(year_from_title(cells[plan.year_source]))
    return Outcome(OUT, cells, tuple(nulled))


def count_nulled(counts: CleanCounts, nulled: Iterable[str]) -> None:
    """Cells nulled by their rule are counted only for rows that are kept."""
    for name in nulled:
        counts.values_nulled[name] = counts.values_nulled.get(name, 0) + 1


def read_header(reader: Iterator[list[str]], source_key: str) -> list[str]:
    """The first record with a non-blank cell; the records before it are not rows."""
    try:
        header = next((row for row in reader if any(cell.strip() for cell in row)), None)
    except csv.Error as exc:
        raise UnreadableFile(f"{source_key}: not a readable CSV header ({exc})") from None
    if header is None:
        raise UnreadableFile(f"{source_key}: the file is empty (no header, no rows)")
    return header


def clean_csv(
    source: IO[str],
    out: IO[str],
    rejects: IO[str],
    source_key: str,
    rules: Rules = DEFAULT_RULES,
    delimiter: str = ",",
    with_line_numbers: bool = False,
    lines_before: int = 0,
) -> CleanCounts:
    """Read CSV text from ``source``; write cleaned rows to ``out`` (comma-delimited, NULL as an
    empty field) and rejected rows (with line number and reason) to ``rejects``. With
    ``with_line_numbers`` each output row starts with the line its record began on, for the
    deduplication step; ``lines_before`` is how many lines of the file precede ``source``.
    Raises UnreadableFile when the file has no usable header (a header alone is a valid empty
    file) or its renamed columns collide."""
    reader = csv.reader(source, delimiter=delimiter)
    writer = csv.writer(out, lineterminator="\n")
    reject_writer = csv.writer(rejects, lineterminator="\n")
    counts = CleanCounts()

    header = read_header(reader, source_key)
    width = len(header)
    plan = make_plan(header_columns(header, rules, source_key), rules)
    counts.columns = plan.columns
    writer.writerow([LINE_COLUMN, *plan.columns] if with_line_numbers else plan.columns)

    reject_writer.writerow(REJECT_COLUMNS)
    while True:
        line_number = lines_before + reader.line_num + 1  # where the next record starts
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            counts.rows_in += 1
            counts.rows_rejected += 1
            reject_writer.writerow((source_key, line_number, f"unparseable CSV: {exc}", ""))
            continue
        counts.rows_in += 1
        outcome = clean_record(
            row, plan, rules, width, delimiter, line_number, lines_before + reader.line_num
        )
        if outcome.kind == EMPTY:
            counts.rows_empty += 1
        elif outcome.kind == REJECT:
            counts.rows_rejected += 1
            reject_writer.writerow((source_key, line_number, outcome.reason, outcome.raw))
        else:
            count_nulled(counts, outcome.nulled)
            counts.rows_out += 1
            cells = outcome.cells or []
            writer.writerow([line_number, *cells] if with_line_numbers else cells)

    # A header and no rows (a day with nothing to report) is a valid empty file: its processed
    # file is the header alone, so the table is created or kept.
    return counts
