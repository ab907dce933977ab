"""The reference path's last step, in DuckDB: drop exact duplicate rows (the first one is kept, in
the input's order) and write the processed CSV.

Why DuckDB: exact deduplication needs to remember every distinct row. DuckDB does it under a
memory limit and spills to a temporary folder, so a file far larger than the Lambda's memory
still deduplicates in bounded memory. (The fast path, ``pipeline.preprocess.fast``, deduplicates
its own work table the same way and writes with the same options.)

Except for wide files and small ones, deduplicated in Python instead. DuckDB holds a vector of
every column per chunk of rows, about 1 MB of its memory a column (measured), so 10,000 columns
cannot fit a Lambda's memory; a wide file has few rows for its size, so its rows' digests fit
anywhere. A small file is done before DuckDB would have opened a connection (measured: 8 ms
against 23 ms for 100 KB; even at about 500 KB), and small files are the common case. Python
writes DuckDB's bytes: the same quoting (``_line``), checked by a unit test.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
from pathlib import Path

import duckdb

from pipeline.preprocess.clean import LINE_COLUMN
from pipeline.preprocess.text import DUCKDB_LINE_BYTES, longest_line
from pipeline.sqltext import identifier, literal

# Numbered files up to this size are deduplicated in Python (see the module's docstring).
PYTHON_MAX_BYTES = 256 * 1024
# What makes DuckDB's CSV writer quote a cell (checked over every ASCII character): the delimiter,
# the quote, a line end, and ``#``.
_NEEDS_QUOTES = re.compile('[,"\n\r#]')


def duckdb_memory_mb(memory_mb: int) -> int:
    """DuckDB's share of the Lambda's memory: 40 %, the rest being Python's and DuckDB's own
    allocations outside its limit."""
    return max(64, memory_mb * 2 // 5)


def too_wide(columns: int, memory_mb: int) -> bool:
    """More columns than MB of DuckDB's memory (measured: about 1 MB a column)."""
    return columns > duckdb_memory_mb(memory_mb)


def _line(cells: list[str]) -> str:
    """One CSV line as DuckDB's ``COPY (FORMAT csv, DELIMITER ',')`` writes it (a NULL and an empty
    cell both read as ``''`` here, and DuckDB writes a NULL as nothing)."""
    return (
        ",".join(
            '"' + cell.replace('"', '""') + '"' if _NEEDS_QUOTES.search(cell) else cell for cell in cells
        )
        + "\n"
    )


def _finish_in_python(numbered: Path, out: Path, columns: list[str], *, dedupe: bool) -> int:
    """``finish`` for wide and small files: the numbered file is in line order, so the first of
    equal rows is the first met. A row is remembered by a 128-bit digest of its cells (a collision,
    which would drop a row, is about as likely as 2**-64 for four billion distinct rows)."""
    seen: set[bytes] = set()
    written = 0
    with (
        numbered.open(encoding="utf-8", newline="") as source,
        out.open("w", encoding="utf-8", newline="") as sink,
    ):
        reader = csv.reader(source)
        next(reader, None)  # the numbered file's header
        sink.write(_line(columns))
        for row in reader:
            cells = row[1:]
            if dedupe:
                digest = hashlib.blake2b(json.dumps(cells).encode(), digest_size=16).digest()
                if digest in seen:
                    continue
                seen.add(digest)
            sink.write(_line(cells))
            written += 1
    return written


def finish(
    numbered: Path,
    out: Path,
    columns: list[str],
    *,
    dedupe: bool,
    tmp_dir: Path,
    memory_mb: int,
    python_max_bytes: int = PYTHON_MAX_BYTES,
) -> int:
    """Write ``out`` from the line-numbered cleaned file; returns the number of rows written.
    ``python_max_bytes``: the largest numbered file deduplicated in Python (tests set it to -1 to
    have DuckDB do a small one)."""
    if too_wide(len(columns), memory_mb) or numbered.stat().st_size <= python_max_bytes:
        return _finish_in_python(numbered, out, columns, dedupe=dedupe)
    types = ", ".join(f"{literal(name)}: 'VARCHAR'" for name in columns)
    # Cells hold up to 16 Mi characters: rows longer than DuckDB's default line limit are real.
    line_bytes = max(DUCKDB_LINE_BYTES, longest_line(numbered) + 1024)
    source = (
        f"read_csv({literal(str(numbered))}, header = true, auto_detect = false, delim = ',', "
        f"quote = '\"', escape = '\"', max_line_size = {line_bytes}, "
        f"columns = {{{literal(LINE_COLUMN)}: 'BIGINT', {types}}})"
    )
    selected = ", ".join(identifier(name) for name in columns)
    if dedupe:
        query = (
            f"SELECT {selected} FROM (SELECT {selected}, min({identifier(LINE_COLUMN)}) AS __first "
            f"FROM {source} GROUP BY ALL) ORDER BY __first"
        )
    else:
        query = f"SELECT {selected} FROM {source} ORDER BY {identifier(LINE_COLUMN)}"
    config = {
        "memory_limit": f"{duckdb_memory_mb(memory_mb)}MB",
        "temp_directory": str(tmp_dir),
        "threads": 2,
    }
    with duckdb.connect(config=config) as con:
        # COPY answers with the number of rows it wrote.
        (written,) = con.execute(
            f"COPY ({query}) TO {literal(str(out))} (FORMAT csv, HEADER true, DELIMITER ',')"
        ).fetchone()
    return int(written)
