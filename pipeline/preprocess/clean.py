"""Pure cleaning rules for one CSV stream: header normalisation, trimming, empty rows, row
shape. No I/O beyond the file objects it is given, so every rule is tested on strings.

Row accounting is exact: rows_in = rows_out + rows_rejected + rows_empty.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import IO

from pipeline.layout import snake_case
from pipeline.preprocess.exceptions import UnreadableFile

REJECT_COLUMNS = ("source_key", "line_number", "reason", "raw_text")


@dataclass
class CleanCounts:
    rows_in: int = 0
    rows_out: int = 0
    rows_rejected: int = 0
    rows_empty: int = 0
    columns: list[str] = field(default_factory=list)

    def balanced(self) -> bool:
        return self.rows_in == self.rows_out + self.rows_rejected + self.rows_empty


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


def _raw_text(fields: Iterable[str]) -> str:
    return ",".join(fields)


def clean_csv(source: IO[str], out: IO[str], rejects: IO[str], source_key: str) -> CleanCounts:
    """Read CSV text from ``source``; write cleaned rows to ``out`` and rejected rows (with
    line number and reason) to ``rejects``. Raises UnreadableFile when no row can be kept
    because the file has no usable header or no data."""
    reader = csv.reader(source)
    writer = csv.writer(out, lineterminator="\n")
    reject_writer = csv.writer(rejects, lineterminator="\n")
    counts = CleanCounts()

    try:
        header = next((row for row in reader if any(cell.strip() for cell in row)), None)
    except csv.Error as exc:
        raise UnreadableFile(f"{source_key}: not a readable CSV header ({exc})") from None
    if header is None:
        raise UnreadableFile(f"{source_key}: the file is empty (no header, no rows)")
    counts.columns = normalise_header([cell.strip() for cell in header])
    width = len(counts.columns)
    writer.writerow(counts.columns)

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
        cells = [cell.strip() for cell in row]
        if not any(cells):
            counts.rows_empty += 1
        elif len(cells) != width:
            counts.rows_rejected += 1
            reason = f"expected {width} fields, found {len(cells)}"
            reject_writer.writerow((source_key, line_number, reason, _raw_text(row)))
        else:
            counts.rows_out += 1
            writer.writerow(cells)

    if counts.rows_in == counts.rows_empty:
        raise UnreadableFile(f"{source_key}: the file has a header but no data rows")
    return counts
