"""What each benchmark child process runs: csvpipe's preprocessing, or one baseline, on one file.

Why a module of its own: peak RSS is only comparable when each contender runs alone in a fresh
process, started by a parent that stays small (a child's ``ru_maxrss`` starts from its parent's
high-water mark at ``exec``). ``bench.preprocess_memory`` starts

    python -m bench.workloads NAME --file F --work-dir D --memory-mb M --result R.json

once per contender; the child imports only what NAME needs, times its own work (interpreter
start-up and imports excluded) and writes a JSON result to R.json (stdout is left to libraries).

``csvpipe`` runs the Lambda's own step, imported, not copied: ``preprocess_file`` (the fast path:
DuckDB under half of ``memory_mb``, spilling to the work dir), with the rules the Lambda would
load for the key ``movies/<file name>``; ``reference`` runs the reference path it is tested
against (the per-row Python rules, then DuckDB's deduplication), the "before" figure. The other
baselines do the naive equivalent: read the CSV, strip every cell, drop duplicate rows, write a
CSV.
"""

from __future__ import annotations

import argparse
import cProfile
import hashlib
import json
import resource
import sys
import time
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from bench import transforms

WORKLOADS = ("csvpipe", "reference", "pandas", "polars", "duckdb")
# The transform stage's contenders (bench.transforms), run on a processed file.
TRANSFORM_WORKLOADS = ("transform-csvpipe", "transform-pandas", "transform-polars", "transform-duckdb")
# The module each workload needs; a missing one skips that workload.
REQUIRES = {
    "csvpipe": "pipeline",
    "reference": "pipeline",
    "pandas": "pandas",
    "polars": "polars",
    "duckdb": "duckdb",
    "transform-csvpipe": "pipeline",
    "transform-pandas": "pandas",
    "transform-polars": "polars",
    "transform-duckdb": "duckdb",
}


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while chunk := source.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def _self_peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def _run_pipeline(
    file: Path, work_dir: Path, memory_mb: int, dataset: str, *, reference: bool
) -> dict[str, Any]:
    """The preprocessing Lambda's steps for one object, as ``preprocess_object`` runs them, minus
    the S3 download and uploads (the file is read where it is)."""
    from pipeline import layout
    from pipeline.preprocess.handler import preprocess_file, preprocess_reference
    from pipeline.preprocess.rules import load_rules
    from pipeline.settings import load_settings

    key = f"{dataset}/{file.name}"
    rules = load_rules(load_settings().rules_dir, layout.dataset_for_key(key))
    run = preprocess_reference if reference else preprocess_file
    processed = run(file, key, rules, work_dir, memory_mb)
    counts = processed.counts
    # The accounting preprocess_object records.
    rows = {
        "in": counts.rows_in,
        "out": counts.rows_out,
        "rejected": counts.rows_rejected,
        "empty": counts.rows_empty,
        "duplicate": counts.rows_duplicate,
    }
    return {
        "version": metadata.version("csvpipe"),
        "rows": rows,
        "phases": processed.phases,
        # What the Lambda would upload: digested after the timing, to compare the two paths.
        "uploads": [str(processed.output), str(processed.rejects)],
        "files": {p.name: p.stat().st_size for p in (processed.output, processed.rejects)},
        "encoding": processed.encoding,
        "delimiter": processed.delimiter,
    }


def run_csvpipe(file: Path, work_dir: Path, memory_mb: int, dataset: str) -> dict[str, Any]:
    """What the Lambda runs: ``preprocess_file`` (the fast path, or the reference path for the files
    the fast path declines)."""
    return _run_pipeline(file, work_dir, memory_mb, dataset, reference=False)


def run_reference(file: Path, work_dir: Path, memory_mb: int, dataset: str) -> dict[str, Any]:
    """The reference path (``preprocess_reference``: the per-row Python rules, then DuckDB's
    deduplication), the definition the fast path is tested against: the "before" figure."""
    return _run_pipeline(file, work_dir, memory_mb, dataset, reference=True)


def run_pandas(file: Path, work_dir: Path, memory_mb: int, dataset: str) -> dict[str, Any]:
    import pandas as pd

    frame = pd.read_csv(file, dtype=str, keep_default_na=False, on_bad_lines="skip")
    frame = frame.apply(lambda column: column.str.strip()).drop_duplicates()
    frame.to_csv(work_dir / "out.csv", index=False)
    return {"rows": {"out": len(frame)}, "version": pd.__version__}


def run_polars(file: Path, work_dir: Path, memory_mb: int, dataset: str) -> dict[str, Any]:
    import polars as pl

    frame = pl.read_csv(file, infer_schema=False, truncate_ragged_lines=True)
    frame = frame.with_columns(pl.all().str.strip_chars()).unique(maintain_order=True)
    frame.write_csv(work_dir / "out.csv")
    return {"rows": {"out": frame.height}, "version": pl.__version__}


def run_duckdb(file: Path, work_dir: Path, memory_mb: int, dataset: str) -> dict[str, Any]:
    """Plain DuckDB with the reference path's DuckDB settings (memory limit half of ``memory_mb``,
    spill folder, threads)."""
    import duckdb

    config: dict[str, str | bool | int | float | list[str]] = {
        "memory_limit": f"{max(64, memory_mb // 2)}MB",
        "temp_directory": str(work_dir),
        "threads": 2,
    }
    source = str(file).replace("'", "''")
    target = str(work_dir / "out.csv").replace("'", "''")
    with duckdb.connect(config=config) as con:
        con.execute("SET enable_progress_bar = false")
        copied = con.execute(
            f"COPY (SELECT DISTINCT trim(COLUMNS(*)) FROM read_csv('{source}', all_varchar = true, "
            "header = true, null_padding = true, ignore_errors = true, strict_mode = false)) "
            f"TO '{target}' (FORMAT csv, HEADER true)"
        ).fetchone()
    written = copied[0] if copied else 0  # COPY answers with the number of rows it wrote
    return {"rows": {"out": int(written)}, "version": duckdb.__version__}


RUNNERS: dict[str, Callable[[Path, Path, int, str], dict[str, Any]]] = {
    "csvpipe": run_csvpipe,
    "reference": run_reference,
    "pandas": run_pandas,
    "polars": run_polars,
    "duckdb": run_duckdb,
    "transform-csvpipe": transforms.run_csvpipe,
    "transform-pandas": transforms.run_pandas,
    "transform-polars": transforms.run_polars,
    "transform-duckdb": transforms.run_duckdb,
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.workloads",
        description="Run one benchmark workload in this process (started by bench.preprocess_memory).",
    )
    parser.add_argument("name", choices=list(RUNNERS))
    parser.add_argument("--file", type=Path, required=True)
    parser.add_argument("--work-dir", type=Path, required=True, help="temporary files and DuckDB spill")
    parser.add_argument("--memory-mb", type=int, default=512, help="the Lambda's memory (DuckDB gets half)")
    parser.add_argument("--dataset", default="movies", help="dataset folder of the key, picks the rules")
    parser.add_argument("--result", type=Path, required=True, help="where to write the JSON result")
    parser.add_argument("--profile", type=Path, help="run under cProfile and write the stats here")
    args = parser.parse_args(argv)
    runner = RUNNERS[args.name]
    profiler = cProfile.Profile() if args.profile else None
    started = time.perf_counter()
    if profiler is not None:
        profiler.enable()
    result = runner(args.file, args.work_dir, args.memory_mb, args.dataset)
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(args.profile)
    # A workload that prepares untimed work first (the transforms' catalog types) times its own.
    result["seconds"] = result.pop("work_seconds", time.perf_counter() - started)
    uploads = [Path(path) for path in result.pop("uploads", [])]
    if uploads:
        result["sha256"] = {path.name: _sha256(path) for path in uploads}
    result["peak_self_mib"] = _self_peak_mib()
    args.result.write_text(json.dumps(result), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
