"""The data wins over the sample, for files too big to read whole: the types inferred from a
sampled file's first rows are checked against every row with DuckDB, and a column some of whose
later values do not fit is widened (``next_wider``) until they all do.

Why: past ``WHOLE_FILE_BYTES`` the crawler profiles only a sample. A later value that does not
fit the sampled type either fails every transform reading the table (``2B037`` in a bigint
column) or, worse, is changed without a word by DuckDB's typed reader (``9.5`` read as bigint
is 10, a timestamp read as date loses its time). The check reads the file once, as text, and
tests each value with the same rules as the crawler's profiler (canonical integers, ISO dates,
``true``/``false``), for the column's type and every wider one at once. DuckDB reads a large
file several times faster than the Python profiler; the result is kept beside the file.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from pathlib import Path

import duckdb

from pipeline.catalog.types import decimal_parts, next_wider, normalize
from pipeline.sqltext import identifier, literal

log = logging.getLogger("csvpipe.crawler")
_SUFFIX = ".types.json"
_FORMAT = 2
# The check reads one file at a time; DuckDB streams it, so a small limit does.
MEMORY_LIMIT = "256MB"
_INTEGERS = {"tinyint": "TINYINT", "smallint": "SMALLINT", "int": "INTEGER", "bigint": "BIGINT"}


def fits_sql(value: str, glue: str) -> str:
    """A SQL condition true when the text ``value`` (an expression, not NULL) is a value of the
    Glue type ``glue`` as csvpipe's profiler spells them (pipeline.catalog.infer.value_kind)."""
    kind = normalize(glue)
    if kind in _INTEGERS:
        return (
            f"(regexp_full_match({value}, '-?(0|[1-9][0-9]*)') AND "
            f"TRY_CAST({value} AS {_INTEGERS[kind]}) IS NOT NULL)"
        )
    if parts := decimal_parts(kind):
        precision, scale = parts
        digits = f"length(split_part(ltrim({value}, '-'), '.', 1)) <= {precision - scale}"
        point = f"(\\.[0-9]{{1,{scale}}})?" if scale else ""
        return f"(regexp_full_match({value}, '-?[0-9]+{point}') AND {digits})"
    if kind in ("float", "double"):
        return f"(TRY_CAST({value} AS DOUBLE) IS NOT NULL)"
    if kind == "date":
        return (
            f"(regexp_full_match({value}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}') AND "
            f"TRY_CAST({value} AS DATE) IS NOT NULL)"
        )
    if kind == "timestamp":
        return (
            f"(regexp_full_match({value}, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}"
            f"( [0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}(\\.[0-9]{{1,9}})?)?') AND "
            f"TRY_CAST({value} AS TIMESTAMP) IS NOT NULL)"
        )
    if kind == "boolean":
        return f"(lower({value}) IN ('true', 'false'))"
    return "true"


def _chain(glue: str) -> list[str]:
    """``glue`` and each wider type after it, up to string (excluded)."""
    chain, kind = [], normalize(glue)
    while kind != "string":
        chain.append(kind)
        kind = next_wider(kind)
    return chain


def _widened(path: Path, types: dict[str, str]) -> dict[str, str] | None:
    """One read of ``path`` as text: for each typed column, the first type of its chain that
    every value fits; None when DuckDB cannot read the file."""
    chains = {name: _chain(kind) for name, kind in types.items() if _chain(kind)}
    if not chains:
        return dict(types)
    checks = [
        f"bool_and({identifier(name)} IS NULL OR {fits_sql(identifier(name), kind)})"
        for name, chain in chains.items()
        for kind in chain
    ]
    # Processed files are RFC 4180 with commas, as preprocessing writes them.
    source = (
        f"read_csv({literal(str(path))}, header = true, all_varchar = true, delim = ',', "
        "quote = '\"', escape = '\"')"
    )
    with duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "threads": 2}) as con:
        try:
            row = con.execute(f"SELECT {', '.join(checks)} FROM {source}").fetchone()
        except duckdb.Error as exc:
            # DuckDB reads CSV otherwise than the profiler on this file: keep the sampled types,
            # and let the crawl go on (the job reports any value that does not fit).
            log.warning("could not check %s past its sample: %s", path.name, str(exc).splitlines()[0])
            return None
    results = iter(row or ())
    widened = dict(types)
    for name, chain in chains.items():
        fits = [next(results) is not False for _ in chain]
        widened[name] = next((kind for kind, ok in zip(chain, fits, strict=True) if ok), "string")
    return widened


def checked_types(path: Path, types: dict[str, str]) -> dict[str, str]:
    """``types`` (column -> Glue type, for the columns of ``path``'s header), each widened to
    the first type of ``next_wider``'s chain that every row of ``path`` fits. Kept in
    ``<file>.types.json`` while the file and the asked types are the same."""
    cache = path.with_name(path.name + _SUFFIX)
    stat = path.stat()
    version = [_FORMAT, stat.st_size, stat.st_mtime_ns, types]
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        kept = json.loads(cache.read_text(encoding="utf-8"))
        if kept["version"] == version:
            return dict(kept["types"])
    current = _widened(path, types)
    if current is None:
        return dict(types)
    partial = cache.with_name(f"{cache.name}.{os.getpid()}-{threading.get_ident()}.partial")
    with contextlib.suppress(OSError):
        partial.write_text(json.dumps({"version": version, "types": current}), encoding="utf-8")
        partial.replace(cache)
    return current
