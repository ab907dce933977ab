"""Load through the whole local stack: many small files dropped at once beside a large one.

Why: the reliability issue asks that 1,000 small CSV files and a 1 GB file, dropped together,
all reach the final outputs, none lost or duplicated, with bounded concurrency. CI runs a
reduced version (tests/e2e/test_load.py); this measures the full figure on this machine:

    python -m bench.load                      # 1,000 small files + a 1 GB generated file
    python -m bench.load --quick              # 200 small files + a 20 MB file (about a minute)
    python -m bench.load --small 1000 --large-size 100MB --lambda-timeout 300

It starts a stack in a temporary folder (its own ports), uploads everything at once with 8
threads, and waits until every file's run has its transform record. It prints the wall time
from the first upload to the last record, files per second, each stage's summed seconds, and
checks that every raw object has exactly one successful preprocess record. Exit 1 when a file
is missing or failed.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.generate import generate, parse_size
from pipeline import layout, runs
from pipeline.aws import Clients
from pipeline.settings import Settings, load_settings, replace

SMALL_ROWS = 5


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def csvpipe(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def stack_environment(home: Path, **settings: str) -> tuple[dict[str, str], Settings]:
    """The environment for a stack of its own in ``home`` (free ports, no persistence, no
    ``CSVPIPE_``/``AWS_`` variables from the caller's), with ``settings`` as ``CSVPIPE_*``
    variables (``lambda_timeout="900"``), and the settings the stack will read from it."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CSVPIPE_", "AWS_"))},
        "CSVPIPE_EMULATOR_PORT": str(free_port()),
        "CSVPIPE_DASHBOARD_PORT": str(free_port()),
        "CSVPIPE_PERSIST": "false",
        **{f"CSVPIPE_{name.upper()}": value for name, value in settings.items()},
    }
    read = load_settings(environ={k: v for k, v in env.items() if k.startswith("CSVPIPE_")}, config_path=None)
    return env, replace(read, data_dir=home / "data")


def stage_seconds(records: dict[str, dict[str, dict]], stage: str) -> float:
    """A stage's seconds summed over its distinct runs: a batched crawl or transform writes the
    same record for every file of the batch."""
    distinct = {
        rec[stage].get("started_at"): rec[stage].get("seconds", 0) for rec in records.values() if rec[stage]
    }
    return float(sum(distinct.values()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=1000, help="small files (default 1000)")
    parser.add_argument("--large-size", default="1GB", help="the large file's size (default 1GB; 0 for none)")
    parser.add_argument(
        "--lambda-timeout", type=int, default=900, help="seconds (default 900, Lambda's maximum)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=2, help="Lambda execution environments (default 2)"
    )
    parser.add_argument("--quick", action="store_true", help="200 small files and a 20 MB file")
    args = parser.parse_args(argv)
    if args.quick:
        args.small, args.large_size = 200, "20MB"

    with tempfile.TemporaryDirectory(prefix="csvpipe-load-") as tmp:
        home = Path(tmp)
        env, settings = stack_environment(
            home, lambda_timeout=str(args.lambda_timeout), lambda_concurrency=str(args.concurrency)
        )
        files: dict[str, Path] = {}
        large_size = parse_size(args.large_size) if args.large_size != "0" else 0
        if large_size:
            files["movies/large.csv"] = home / "large.csv"
            print(f"generating a {args.large_size} movie file ...", flush=True)
            generate(files["movies/large.csv"], large_size)
        for n in range(args.small):
            path = home / "small" / f"{n:04}.csv"
            path.parent.mkdir(exist_ok=True)
            first = 10_000_000 + n * SMALL_ROWS
            path.write_text(
                "movieId,title,genre\n"
                + "".join(f"{first + i},Film {first + i} (1999),Drama\n" for i in range(SMALL_ROWS))
            )
            files[f"movies/small-{n:04}.csv"] = path

        started = csvpipe("up", "--detach", cwd=home, env=env)
        if started.returncode != 0:
            print(started.stderr, file=sys.stderr)
            return 1
        try:
            s3 = Clients(settings).s3
            print(f"uploading {len(files)} file(s) at once ...", flush=True)
            begin = time.monotonic()
            with ThreadPoolExecutor(8) as pool:
                etags = dict(
                    zip(
                        files,
                        pool.map(
                            lambda key: (
                                s3.upload_file(str(files[key]), settings.raw_bucket, key)
                                or s3.head_object(Bucket=settings.raw_bucket, Key=key)["ETag"]
                            ),
                            files,
                        ),
                        strict=True,
                    )
                )
            pending = {layout.run_id(settings.raw_bucket, key, etag): key for key, etag in etags.items()}
            records: dict[str, dict[str, dict]] = {}
            deadline = begin + args.lambda_timeout * 3 + 600
            while pending and time.monotonic() < deadline:
                for run in list(pending):
                    transform = runs.read_stage_record(s3, settings.processed_bucket, run, "transform")
                    preprocess = runs.read_stage_record(s3, settings.processed_bucket, run, "preprocess")
                    if transform is not None or (preprocess is not None and preprocess.get("status") != "ok"):
                        records[run] = {
                            stage: runs.read_stage_record(s3, settings.processed_bucket, run, stage) or {}
                            for stage in layout.STAGES
                        }
                        del pending[run]
                time.sleep(1)
            wall = time.monotonic() - begin
        finally:
            csvpipe("down", cwd=home, env=env)

    bad = [run for run, rec in records.items() if rec["preprocess"].get("status") != "ok"]
    seconds = {stage: stage_seconds(records, stage) for stage in layout.STAGES}
    print()
    print(f"files           {len(files)} ({args.small} small, large {args.large_size})")
    print(f"reached output  {len(records) - len(bad)}; failed {len(bad)}; never finished {len(pending)}")
    print(f"wall time       {wall:,.1f} s from the first upload to the last record")
    print(f"throughput      {len(records) / wall:,.1f} files/s")
    print("stage seconds   " + ", ".join(f"{stage} {value:,.1f}" for stage, value in seconds.items()))
    print(f"concurrency     {args.concurrency} Lambda environment(s)")
    return 1 if bad or pending else 0


if __name__ == "__main__":
    raise SystemExit(main())
