"""The reference path's last step, in DuckDB: drop exact duplicate rows (the first one is kept, in
the input's order) and write the processed CSV.

Why DuckDB: exact deduplication needs to remember every distinct row. DuckDB does it under a
memory limit and spills to a temporary folder, so a file far larger than the Lambda's memory
still deduplicates in bounded memory. (The fast path, ``pipeline.preprocess.fast``, deduplicates
its own work table the same way and writes with the same options.)
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipeline.preprocess.clean import LINE_COLUMN
from pipeline.preprocess.text import DUCKDB_LINE_BYTES, longest_line
from pipeline.sqltext import identifier, literal


def finish(
    numbered: Path, out: Path, columns: list[str], *, dedupe: bool, tmp_dir: Path, memory_mb: int
) -> int:
    """Write ``out`` from the line-numbered cleaned file; returns the number of rows written."""
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
        "memory_limit": f"{max(64, memory_mb // 2)}MB",
        "temp_directory": str(tmp_dir),
        "threads": 2,
    }
    with duckdb.connect(config=config) as con:
        # COPY answers with the number of rows it wrote.
        (written,) = con.execute(
            f"COPY ({query}) TO {literal(str(out))} (FORMAT csv, HEADER true, DELIMITER ',')"
        ).fetchone()
    return int(written)
