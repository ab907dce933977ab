"""Pure cleaning rules for one CSV stream: header normalisation, trimming, NA tokens, empty
rows, row shape, multi-valued columns and the year in titles. No I/O beyond the file objects it
is given, so every rule is tested on strings.

Row accounting is exact: rows_in = rows_out + rows_rejected + rows_empty + rows_duplicate
(duplicates are counted by the deduplication step that follows).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO

from pipeline.layout import snake_case
from pipeline.preprocess.exceptions import UnreadableFile
from pipeline.preprocess.rules import Rules

REJECT_COLUMNS = ("source_key", "line_number", "reason", "raw_text")
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


def _raw_text(fields: Iterable[str], delimiter: str = ",") -> str:
    return delimiter.join(fields)


_YEAR_IN_TITLE = re.compile(r"\((\d{4})\)\s*$")


def year_from_title(title: str | None) -> str | None:
    """``Toy Story (1995)`` -> ``1995``; None when the title carries no year at its end."""
    if not title:
        return None
    match = _YEAR_IN_TITLE.search(title)
    return match[1] if match else None


def normalise_multi_value(value: str, separator: str) -> str | None:
    """``Action| comedy |ACTION`` -> ``action|comedy``: lower-cased, trimmed, each value once,
    in first-seen order, so that counts never split by case or spacing."""
    seen: dict[str, None] = {}
    for part in value.split(separator):
        part = part.strip().lower()
        if part:
            seen.setdefault(part, None)
    return separator.join(seen) or None


@dataclass(frozen=True)
class _Plan:
    """Per-column work decided once from the header and the rules."""

    columns: list[str]
    multi_value: frozenset[int]
    year_source: int | None


def _plan(columns: list[str], rules: Rules) -> _Plan:
    multi = frozenset(i for i, name in enumerate(columns) if name in rules.multi_value_columns)
    year_source = None
    if "year" not in columns and rules.year_from in columns:
        year_source = columns.index(rules.year_from)
        columns = [*columns, "year"]
    return _Plan(columns, multi, year_source)


def clean_csv(
    source: IO[str],
    out: IO[str],
    rejects: IO[str],
    source_key: str,
    rules: Rules = DEFAULT_RULES,
    delimiter: str = ",",
    with_line_numbers: bool = False,
) -> CleanCounts:
    """Read CSV text from ``source``; write cleaned rows to ``out`` (comma-delimited, NULL as an
    empty field) and rejected rows (with line number and reason) to ``rejects``. With
    ``with_line_numbers`` each output row starts with the line its record began on, for the
    deduplication step. Raises UnreadableFile when the file has no usable header or no data."""
    reader = csv.reader(source, delimiter=delimiter)
    writer = csv.writer(out, lineterminator="\n")
    reject_writer = csv.writer(rejects, lineterminator="\n")
    counts = CleanCounts()
    na = rules.na_set

    try:
        header = next((row for row in reader if any(cell.strip() for cell in row)), None)
    except csv.Error as exc:
        raise UnreadableFile(f"{source_key}: not a readable CSV header ({exc})") from None
    if header is None:
        raise UnreadableFile(f"{source_key}: the file is empty (no header, no rows)")
    width = len(header)
    plan = _plan(normalise_header([cell.strip() for cell in header]), rules)
    counts.columns = plan.columns
    writer.writerow([LINE_COLUMN, *plan.columns] if with_line_numbers else plan.columns)

    reject_writer.writerow(REJECT_COLUMNS)
    while True:
        line_number = reader.line_num + 1  # where the next record starts
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
        cells: list[str | None] = [cell.strip() for cell in row]
        cells = [None if cell is not None and cell.casefold() in na else cell for cell in cells]
        if not any(cells):
            counts.rows_empty += 1
            continue
        if len(cells) != width:
            counts.rows_rejected += 1
            reason = f"expected {width} fields, found {len(cells)}"
            reject_writer.writerow((source_key, line_number, reason, _raw_text(row, delimiter)))
            continue
        for index in plan.multi_value:
            if cells[index] is not None:
                cells[index] = normalise_multi_value(cells[index], rules.multi_value_separator)
        if plan.year_source is not None:
            cells.append(year_from_title(cells[plan.year_source]))
        counts.rows_out += 1
        writer.writerow([line_number, *cells] if with_line_numbers else cells)

    if counts.rows_in == counts.rows_empty:
        raise UnreadableFile(f"{source_key}: the file has a header but no data rows")
    return counts
