"""Does the preprocessing Lambda clean a 1 GB CSV within 512 MB? Measured, never assumed.

Why: the Lambda's memory is a hard limit (past it the invocation is killed) and so is its timeout;
bounded memory is the reason preprocessing runs in DuckDB with a memory limit and a spill folder.
Only a measurement on a file of the real size shows the design holds; the test suite never times
anything, so the measurement lives here.

    python -m bench.preprocess_memory --size 1GB          # generate (once) into bench/out/, measure
    python -m bench.preprocess_memory --file my.csv       # any CSV
    python -m bench.preprocess_memory --quick             # 50 MB, well under a minute

Each contender (csvpipe, then the reference path it replaced and the pandas, polars and DuckDB
baselines) runs alone in a fresh child process (``bench.workloads``). Its peak RSS is the
kernel's high-water mark, ``ru_maxrss`` from ``os.wait4`` on that child (it covers the child and
any descendants it waited for); with psutil installed the process tree's RSS is also sampled every
50 ms, summed over descendants running at the same time. This parent imports none of the heavy
libraries: a child's ``ru_maxrss`` starts from its parent's high-water mark at ``exec``, so a large
parent would inflate every figure.

Exit status: 0 when the rows balance and csvpipe's peak stays within the budget; 1 when csvpipe
fails or its rows do not balance (or differ from what the generator wrote, or from the reference
path's rows and files when that ran too); 3 when the peak is over the budget. MB/s counts the
file's bytes as stored (compressed, for a ``.csv.gz``).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.generate import DEFAULT_SEED, Expected, parse_size, read_expected, size_label
from bench.workloads import REQUIRES, WORKLOADS
from pipeline.settings import Settings

REPO = Path(__file__).resolve().parents[1]
OUT_DIR = REPO / "bench" / "out"
QUICK_SIZE = "50MB"
DEFAULT_SIZE = "100MB"
SAMPLE_SECONDS = 0.05
BASELINES = tuple(name for name in WORKLOADS if name != "csvpipe")
# At 1,769 MB a Lambda function gets one vCPU, and CPU scales with memory below that.
LAMBDA_FULL_VCPU_MB = 1769
LAMBDA_MAX_TIMEOUT_S = 900
EXIT_UNBALANCED, EXIT_OVER_BUDGET = 1, 3

try:
    import psutil
except ImportError:  # optional: without it only ru_maxrss is reported
    psutil = None  # type: ignore[assignment]


@dataclass
class Measured:
    """One contender's run: its own timing of the work and the parent's view of its memory."""

    name: str
    seconds: float
    process_seconds: float
    cpu_seconds: float  # user + system time of the child (and descendants it waited for)
    peak_rss_mib: float  # ru_maxrss of the child (and descendants it waited for)
    sampled_mib: float | None  # highest sampled sum of RSS over the process tree
    peak_work_dir_bytes: int  # highest sampled size of its temporary files (DuckDB spill included)
    result: dict[str, Any] = field(default_factory=dict)
    work_dir: Path | None = None  # kept (``keep``): its output files are still there

    @property
    def peak_mib(self) -> float:
        return max(self.peak_rss_mib, self.sampled_mib or 0.0)


def _tree_rss(process: Any) -> int:
    try:
        tree = [process, *process.children(recursive=True)]
    except psutil.Error:
        return 0
    total = 0
    for member in tree:
        try:
            total += member.memory_info().rss
        except psutil.Error:
            continue
    return total


def _dir_bytes(path: Path) -> int:
    total = 0
    for folder, _, names in os.walk(path):
        for name in names:
            try:
                total += os.stat(os.path.join(folder, name)).st_size
            except OSError:
                continue  # DuckDB removed a spill file between listing and stat
    return total


def measure(
    name: str,
    file: Path,
    memory_mb: int,
    tmp_root: Path | None,
    dataset: str,
    profile: Path | None,
    keep: bool,
) -> Measured:
    """Run one workload in a child process and watch it until it exits."""
    work_dir = Path(tempfile.mkdtemp(prefix=f"csvpipe-bench-{name}-", dir=tmp_root))
    result_path, log_path = work_dir / "result.json", work_dir / "child.log"
    command = [
        sys.executable, "-m", "bench.workloads", name, "--file", str(file), "--work-dir", str(work_dir),
        "--memory-mb", str(memory_mb), "--dataset", dataset, "--result", str(result_path),
    ]  # fmt: skip
    if profile is not None:
        command += ["--profile", str(profile)]
    started = time.perf_counter()
    sampled, disk = 0, 0
    with log_path.open("wb") as log:
        child = subprocess.Popen(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        try:
            watched = psutil.Process(child.pid) if psutil is not None else None
            while True:
                # wait4 rather than Popen.wait: it returns the child's own resource usage.
                pid, status, usage = os.wait4(child.pid, os.WNOHANG)
                if pid:
                    break
                if watched is not None:
                    sampled = max(sampled, _tree_rss(watched))
                disk = max(disk, _dir_bytes(work_dir))
                time.sleep(SAMPLE_SECONDS)
        except BaseException:  # Ctrl-C or a sampling fault: do not leave the child running
            child.kill()
            child.wait()
            shutil.rmtree(work_dir, ignore_errors=True)
            raise
    child.returncode = os.waitstatus_to_exitcode(status)
    process_seconds = time.perf_counter() - started
    try:
        if child.returncode != 0:
            tail = log_path.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-15:]
            raise RuntimeError(f"{name} exited with {child.returncode}:\n  " + "\n  ".join(tail))
        result = json.loads(result_path.read_text(encoding="utf-8"))
    finally:
        if keep:
            print(f"  kept {name}'s files in {work_dir}")
        else:
            shutil.rmtree(work_dir, ignore_errors=True)
    return Measured(
        name=name,
        seconds=result["seconds"],
        process_seconds=process_seconds,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_mib=usage.ru_maxrss / 1024,  # KiB on Linux
        sampled_mib=sampled / 2**20 if watched is not None else None,
        peak_work_dir_bytes=disk,
        result=result,
        work_dir=work_dir if keep else None,
    )


def _input_file(args: argparse.Namespace) -> tuple[Path, Expected | None]:
    """The file to measure: given, or generated once into bench/out/ (reused while it matches)."""
    if args.file is not None:
        if not args.file.is_file():
            raise SystemExit(f"error: {args.file}: no such file")
        return args.file.resolve(), read_expected(args.file)
    size = parse_size(QUICK_SIZE if args.quick else args.size)
    suffix = "" if args.seed == DEFAULT_SEED else f"-seed{args.seed}"
    path = OUT_DIR / f"movies-{size_label(size)}{suffix}.csv"
    expected = read_expected(path) if path.is_file() else None
    if expected is None or (expected.size, expected.seed) != (size, args.seed):
        command = [sys.executable, "-m", "bench.generate", "--size", str(size)]
        command += ["--seed", str(args.seed), "--out", str(path)]
        subprocess.run(command, cwd=REPO, check=True)
        expected = read_expected(path)
    else:
        print(f"reusing {path.relative_to(REPO)} (seed {args.seed}); delete it to regenerate")
    return path, expected


def _mb(size: float) -> str:
    return f"{size / 1e6:,.1f} MB"


def _table(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for number, row in enumerate(rows):
        cells = [
            cell.ljust(w) if i == 0 else cell.rjust(w)
            for i, (cell, w) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
        if number == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _report(
    runs: list[Measured], file: Path, file_bytes: int, budget_mib: int, expected: Expected | None
) -> int:
    """Print the table, the accounting and the verdict; returns the exit status."""
    csvpipe = next(run for run in runs if run.name == "csvpipe")
    header = [
        "tool",
        "version",
        "seconds",
        "MB/s",
        "CPU s",
        "peak RSS MiB",
        "sampled MiB",
        f"<= {budget_mib}",
    ]
    header += ["rows out", "csvpipe/x time", "csvpipe/x RSS"]
    rows = [header]
    for run in runs:
        rows.append(
            [
                run.name,
                str(run.result.get("version", "-")),
                f"{run.seconds:.1f}",
                f"{file_bytes / 1e6 / run.seconds:.1f}",
                f"{run.cpu_seconds:.1f}",
                f"{run.peak_rss_mib:.0f}",
                "-" if run.sampled_mib is None else f"{run.sampled_mib:.0f}",
                "yes" if run.peak_mib <= budget_mib else "NO",
                f"{run.result['rows']['out']:,}",
                "-" if run is csvpipe else f"{csvpipe.seconds / run.seconds:.2f}x",
                "-" if run is csvpipe else f"{csvpipe.peak_mib / run.peak_mib:.2f}x",
            ]
        )
    print()
    print(_table(rows))
    print()

    status = 0
    counts = csvpipe.result["rows"]
    total = counts["out"] + counts["rejected"] + counts["empty"] + counts["duplicate"]
    balanced = total == counts["in"]
    print(
        f"rows: in {counts['in']:,} {'=' if balanced else '!='} out {counts['out']:,} + rejected "
        f"{counts['rejected']:,} + empty {counts['empty']:,} + duplicate {counts['duplicate']:,}"
        + ("" if balanced else f" (= {total:,}): ROWS DO NOT BALANCE")
    )
    if not balanced:
        status = EXIT_UNBALANCED
    if expected is not None:
        wanted = {
            "in": expected.rows_in,
            "out": expected.rows_out,
            "rejected": expected.rows_rejected,
            "empty": expected.rows_empty,
            "duplicate": expected.rows_duplicate,
        }
        differ = [f"{k} {counts[k]:,} (generator: {v:,})" for k, v in wanted.items() if counts[k] != v]
        if differ:
            print("rows differ from what the generator wrote: " + ", ".join(differ))
            status = EXIT_UNBALANCED
        else:
            print("rows match what the generator wrote (default movie rules)")

    phases = csvpipe.result["phases"]
    print("csvpipe phases: " + ", ".join(f"{name} {seconds:.1f} s" for name, seconds in phases.items()))
    reference = next((run for run in runs if run.name == "reference"), None)
    if reference is not None:
        same = reference.result.get("sha256") == csvpipe.result.get("sha256")
        same_rows = reference.result["rows"] == csvpipe.result["rows"]
        print(
            "reference path: "
            + (
                "the same rows, processed file and rejects (sha256)"
                if same and same_rows
                else "DIFFERENT RESULTS"
            )
            + f"; phases: {', '.join(f'{n} {s:.1f} s' for n, s in reference.result['phases'].items())}"
        )
        if not (same and same_rows) and status == 0:
            status = EXIT_UNBALANCED
    files = csvpipe.result["files"]
    print(
        "csvpipe /tmp: "
        + ", ".join(f"{name} {_mb(size)}" for name, size in files.items())
        + f"; peak of its work dir {_mb(csvpipe.peak_work_dir_bytes)}, plus the {_mb(file_bytes)} raw "
        "download on Lambda (Lambda's /tmp is 512 MB unless ephemeral storage is raised, up to 10 GB)"
    )
    print(
        "process wall (interpreter start and imports included): "
        + ", ".join(f"{run.name} {run.process_seconds:.1f} s" for run in runs)
    )

    share = csvpipe.peak_mib / budget_mib
    within = csvpipe.peak_mib <= budget_mib
    print(
        f"verdict: csvpipe preprocessed {_mb(file_bytes)} ({file.name}) in {csvpipe.seconds:.1f} s with peak "
        f"RSS {csvpipe.peak_mib:.0f} MiB: {'WITHIN' if within else 'OVER'} the {budget_mib} MiB budget "
        f"({share:.0%})"
    )
    vcpu = min(1.0, budget_mib / LAMBDA_FULL_VCPU_MB)
    # On a fraction of a vCPU the work takes its CPU time, not its wall time on several cores.
    print(
        f"lambda estimate (rough): a {budget_mib} MB function gets about {vcpu:.2f} of a vCPU (one at "
        f"{LAMBDA_FULL_VCPU_MB:,} MB), so if this stays CPU-bound its {csvpipe.cpu_seconds:.0f} CPU s "
        f"take ~{csvpipe.cpu_seconds / vcpu:.0f} s there; csvpipe's default lambda_timeout is "
        f"{Settings().lambda_timeout} s, AWS's maximum {LAMBDA_MAX_TIMEOUT_S} s"
    )
    if not within and status == 0:
        status = EXIT_OVER_BUDGET
    return status


def _print_profile(stats_file: Path, top: int = 15) -> None:
    import pstats

    print(f"\ncProfile of csvpipe (times inflated by profiling), top {top} by own time:")
    pstats.Stats(str(stats_file)).sort_stats("tottime").print_stats(top)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.preprocess_memory",
        description="Measure wall time, throughput and peak RSS of csvpipe's preprocessing (the Lambda's "
        "preprocess_file) on a large CSV, against the reference path it replaced and pandas, polars and "
        "DuckDB baselines, each in its own child process; verdict against the Lambda's memory budget.",
    )
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--size", default=DEFAULT_SIZE, help="generate a movies CSV of this size (default 100MB)"
    )
    source.add_argument("--file", type=Path, help="measure this CSV instead of a generated one")
    source.add_argument("--quick", action="store_true", help=f"a {QUICK_SIZE} file: well under a minute")
    parser.add_argument("--memory-mb", type=int, default=512, help="the Lambda's memory: the budget (512)")
    parser.add_argument(
        "--baselines",
        default=",".join(BASELINES),
        help=f"comma-separated, from {', '.join(BASELINES)}; 'none' for csvpipe only (default: all)",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="generator seed")
    parser.add_argument("--dataset", default="movies", help="dataset of the key, picks the rules (movies)")
    parser.add_argument(
        "--tmp-dir", type=Path, help="where work dirs go, the Lambda's /tmp (default: TMPDIR)"
    )
    parser.add_argument("--keep", action="store_true", help="keep each contender's output files")
    parser.add_argument(
        "--profile", action="store_true", help="run csvpipe under cProfile and print where time goes"
    )
    args = parser.parse_args(argv)
    baselines = (
        [] if args.baselines == "none" else [b.strip() for b in args.baselines.split(",") if b.strip()]
    )
    unknown = sorted(set(baselines) - set(BASELINES))
    if unknown:
        parser.error(f"unknown baseline(s) {', '.join(unknown)}; choose from {', '.join(BASELINES)}")
    try:
        file, expected = _input_file(args)
    except ValueError as exc:
        parser.error(str(exc))
    file_bytes = file.stat().st_size

    print(
        f"file: {file} ({_mb(file_bytes)}"
        + (f", {expected.rows_in:,} records, seed {expected.seed}" if expected else "")
        + ")"
    )
    print(
        f"machine: {os.cpu_count()} cores, {platform.system()} {platform.release()}, Python "
        f"{platform.python_version()}; budget {args.memory_mb} MiB (DuckDB limit "
        f"{args.memory_mb * 2 // 5} MB in csvpipe's fast path, {args.memory_mb // 2} MB in the reference one)"
    )
    if psutil is None:
        print("note: psutil not installed: peak RSS from ru_maxrss only (pip install -e '.[bench]')")

    runs: list[Measured] = []
    profile_file = Path(tempfile.mkstemp(suffix=".prof")[1]) if args.profile else None
    for name in ["csvpipe", *baselines]:
        if importlib.util.find_spec(REQUIRES[name]) is None:
            print(f"{name}: not installed, skipped (pip install -e '.[bench]')")
            continue
        print(f"running {name} ...", flush=True)
        try:
            runs.append(
                measure(
                    name,
                    file,
                    args.memory_mb,
                    args.tmp_dir,
                    args.dataset,
                    profile_file if name == "csvpipe" else None,
                    args.keep,
                )
            )
        except RuntimeError as exc:
            if name == "csvpipe":
                print(f"error: {exc}", file=sys.stderr)
                return 1
            print(f"{name}: failed, left out: {exc}")
    parent_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    status = _report(runs, file, file_bytes, args.memory_mb, expected)
    print(f"(this parent's own peak RSS, a floor under every child figure: {parent_mib:.0f} MiB)")
    if profile_file is not None:
        _print_profile(profile_file)
        profile_file.unlink()
    return status


if __name__ == "__main__":
    sys.exit(main())
