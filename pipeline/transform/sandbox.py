"""The one DuckDB sandbox every transform's SQL goes through: to validate it, plan it and run it.

Why one: binding a query already runs its table functions' set-up, so merely asking DuckDB
which tables ``SELECT * FROM read_json('/etc/passwd')`` reads opens that file (and says
"Malformed JSON in file /etc/passwd"), tells whether a path exists, and tries to download the
``httpfs`` extension for an ``https://`` URL. A check that parses on an unrestricted connection
is therefore a way around the run's sandbox. Every connection that sees a transform's SQL is
made here, locked the same way: no file outside the folders given, no extension installed or
loaded, no network, and the configuration locked so the SQL cannot undo it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from pipeline.sqltext import literal

# Parsing needs little: a small limit keeps a hostile query's planning bounded too.
PARSE_MEMORY_MB = 64


def connect(memory_mb: int, spill: Path | None = None, threads: int = 2) -> duckdb.DuckDBPyConnection:
    """A new in-memory connection that never installs or loads an extension (the offline wheel
    has none to load, and a transform must not fetch any). Lock it with ``lock_down`` before any
    of a transform's SQL runs on it."""
    config: dict[str, str | int | bool] = {
        "memory_limit": f"{memory_mb}MB",
        "threads": threads,
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    }
    if spill is not None:
        config["temp_directory"] = str(spill)
    return duckdb.connect(config=config)


def lock_down(con: duckdb.DuckDBPyConnection, folders: Iterable[Path] = ()) -> None:
    """From here on, SQL on ``con`` reads and writes files only under ``folders`` (none: no file
    at all) and loads no extension: a transform cannot read ``/etc/passwd``, attach a database or
    reach the network. The configuration is locked, so the transform cannot undo it."""
    allowed = sorted({str(folder.resolve()) + "/" for folder in folders})
    con.execute(f"SET allowed_directories = [{', '.join(literal(folder) for folder in allowed)}]")
    con.execute("SET enable_external_access = false")
    con.execute("SET lock_configuration = true")


@contextmanager
def parser() -> Iterator[duckdb.DuckDBPyConnection]:
    """A locked connection with no file access at all, for reading a transform's statements
    and the tables it names."""
    con = connect(PARSE_MEMORY_MB, threads=1)
    try:
        lock_down(con)
        yield con
    finally:
        con.close()
