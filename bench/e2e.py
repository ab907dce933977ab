"""End to end through the real local stack: upload -> Lambda -> crawl -> transforms -> final data.

Why: the preprocess and transform benchmarks time each stage's code on local files; users wait for
the whole path, which adds the emulator's transfers (the upload is one PUT, the Lambda's and the
job's downloads single GETs: ``pipeline.storage.download``), the event source, the catalog and
the publishing. Run as a child by ``python -m bench`` (or alone):

    python -m bench.e2e --file bench/out/movies-100MB.csv --result /tmp/e2e.json

It starts ``csvpipe up --detach`` in a temporary folder with its own ports, sends a few 30-row
files first (the stack is then warm: the Lambda runtime started, the Glue stage imported) and
records each one's latency from the start of its upload to its transform record, then uploads
``--file`` and times it the same way. The stack's process tree (the stack, the emulator, the
Lambda runtime, the dashboard) is sampled for RSS every 100 ms. The emulator keeps every object in
memory, so its RSS grows with the data uploaded: it is reported apart.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from bench.load import csvpipe, stack_environment
from pipeline import layout, runs
from pipeline.aws import Clients
from pipeline.ingest.upload import upload_file
from pipeline.settings import Settings

SAMPLE_SECONDS = 0.1
POLL_SECONDS = 0.05  # between looks for a run record; bounded by the deadline
SMALL_ROWS = 30

try:
    import psutil
except ImportError:  # optional: without it no RSS is reported
    psutil = None  # type: ignore[assignment]


class TreeSampler(threading.Thread):
    """Peak RSS of a process tree (summed) and of one member of it, sampled until stopped."""

    def __init__(self, root: int, apart: int | None) -> None:
        super().__init__(daemon=True)
        self.root, self.apart = root, apart
        self.peak_bytes, self.apart_bytes = 0, 0
        self.stopping = threading.Event()

    def run(self) -> None:
        if psutil is None:
            return
        root = psutil.Process(self.root)
        while not self.stopping.wait(SAMPLE_SECONDS):
            try:
                tree = [root, *root.children(recursive=True)]
            except psutil.Error:
                return
            total = 0
            for member in tree:
                try:
                    rss = member.memory_info().rss
                except psutil.Error:
                    continue
                total += rss
                if member.pid == self.apart:
                    self.apart_bytes = max(self.apart_bytes, rss)
            self.peak_bytes = max(self.peak_bytes, total)


def _csvpipe(*args: str, home: Path, env: dict[str, str]) -> None:
    done = csvpipe(*args, cwd=home, env=env)
    if done.returncode != 0:
        raise SystemExit(f"csvpipe {' '.join(args)} failed:\n{done.stdout}{done.stderr}")


def _summed_timings(outputs: list[dict[str, Any]]) -> dict[str, float]:
    """The transform outputs' step seconds (fetch, run, publish), summed over the outputs."""
    summed: dict[str, float] = {}
    for output in outputs:
        for step, seconds in output.get("timings", {}).items():
            summed[step] = summed.get(step, 0.0) + seconds
    return summed


def _through(clients: Clients, settings: Settings, path: Path, deadline_s: float) -> dict[str, Any]:
    """Upload ``path`` and wait for its transform record: seconds, and each stage's record."""
    started = time.perf_counter()
    uploaded = upload_file(clients.s3, settings.raw_bucket, path, "movies")
    uploaded_at = time.perf_counter()
    run = layout.run_id(settings.raw_bucket, uploaded.key, uploaded.etag)
    deadline = started + deadline_s
    while time.perf_counter() < deadline:
        transform = runs.read_stage_record(clients.s3, settings.processed_bucket, run, "transform")
        if transform is not None:
            break
        time.sleep(POLL_SECONDS)
    else:
        raise SystemExit(f"{path.name}: no transform record within {deadline_s:.0f} s")
    seconds = time.perf_counter() - started
    records = {
        stage: runs.read_stage_record(clients.s3, settings.processed_bucket, run, stage) or {}
        for stage in layout.STAGES
    }
    if records["preprocess"].get("status") != "ok" or records["transform"].get("status") != "ok":
        statuses = {stage: record.get("status") for stage, record in records.items()}
        errors = [records["preprocess"].get("error"), *records["transform"].get("errors", [])]
        raise SystemExit(f"{path.name}: the pipeline did not succeed: {statuses}: {[e for e in errors if e]}")
    return {
        "seconds": seconds,
        "upload_seconds": uploaded_at - started,
        "stages": {stage: record.get("seconds") for stage, record in records.items()},
        "lambda_steps": records["preprocess"].get("timings", {}),
        "transform_steps": _summed_timings(records["transform"].get("outputs", [])),
        "rows": records["preprocess"].get("rows", {}),
    }


def measure(file: Path, memory_mb: int, small_files: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="csvpipe-e2e-") as tmp:
        home = Path(tmp)
        env, settings = stack_environment(home, lambda_timeout="900", lambda_memory_mb=str(memory_mb))
        _csvpipe("up", "--detach", home=home, env=env)
        try:
            from emulators.stack import read_state

            state = read_state(settings) or {}
            sampler = TreeSampler(int(state["pid"]), state.get("emulator_pid"))
            sampler.start()
            clients = Clients(settings)
            latencies = []
            for n in range(small_files):
                small = home / f"small-{n}.csv"
                first = 50_000_000 + n * SMALL_ROWS
                rows = (f"{first + i},Film {first + i} (1999),Drama|Comedy\n" for i in range(SMALL_ROWS))
                small.write_text("movieId,title,genre\n" + "".join(rows))
                latencies.append(_through(clients, settings, small, 120))
            large = _through(clients, settings, file, 3600)
            sampler.stopping.set()
            sampler.join()
        finally:
            _csvpipe("down", home=home, env=env)
    warm = [run["seconds"] for run in latencies[1:]] or [run["seconds"] for run in latencies]
    return {
        "seconds": large["seconds"],
        "large": large,
        "small": latencies,
        "latency_median": statistics.median(warm) if warm else None,
        "peak_tree_mib": sampler.peak_bytes / 2**20 if psutil is not None else None,
        "peak_emulator_mib": sampler.apart_bytes / 2**20 if psutil is not None else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.e2e", description=__doc__.splitlines()[0])
    parser.add_argument("--file", type=Path, required=True, help="the movie CSV to send through")
    parser.add_argument("--memory-mb", type=int, default=512, help="the Lambda's memory (default 512)")
    parser.add_argument(
        "--small-files", type=int, default=4, help="30-row files sent first, one at a time (default 4)"
    )
    parser.add_argument("--result", type=Path, help="write the JSON result here (else print it)")
    args = parser.parse_args(argv)
    result = measure(args.file.resolve(), args.memory_mb, args.small_files)
    text = json.dumps(result, indent=2)
    if args.result:
        args.result.write_text(text, encoding="utf-8")
    else:
        print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
