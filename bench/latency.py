"""Latency of one small file through the warm local stack, stage by stage, and throughput of many.

Why: issue 9 asks that, on a warm local stack, a 30-row CSV reaches the final data (its
transform run record written) in under 2 s, and that small files flow through every stage at
50 files/s or more. This measures both on this machine, by hand:

    python -m bench.latency                     # 5 warm 30-row files one at a time, then 200 small files
    python -m bench.latency --latency 9 --files 1000
    python -m bench.latency --files 0           # the latency only
    python -m bench.latency --latency 0 --files 1000 --concurrency 4

It starts a stack in a temporary folder (its own ports, no persistence) as bench/load.py does.
The bench learns that a run's transform record was written from a queue of its own that the
processed bucket notifies (a long poll returns as the record is put), not by polling the buckets,
which would take the emulator's CPU from the stack being measured.

**Latency**: one 30-row file goes through first to warm the stack (a Lambda environment, imports,
the catalog table, the transforms' outputs); then each file is uploaded alone and waited for.
Printed: median, min and max from the start of the upload to the record being written, and each
stage's median, from the run records' timestamps (the clocks are this machine's):

    upload           the PUT of the raw object
    queue            PUT returned -> handler started (S3 event, SQS receive, the Lambda invoke)
    preprocess       the handler's own seconds (download, clean, upload), before its record
    handoff          handler done -> crawl started (its record, the invocation's return, scheduling)
    crawl            the crawl's seconds
    to transform     crawl done -> transform started (the crawl records of the batch)
    transform setup  transform started -> its first output started (the plan, readiness checks)
    <output>         each transform: its SQL, publishing to the final bucket, the next one's checks
    of which publishing  the outputs' time after their own seconds (uploads, manifest, record)
    record           transform done -> the bench told (the transform records of the batch)

**Throughput**: ``--files N`` small files (5 rows each, as bench/load.py) uploaded at once with 8
threads, waited for until every file has its transform record; then each file's records are
read: a successful preprocess, and the number of crawl-and-transform passes (batches). Files per
second are counted from the first upload to the last record.

The emulator's requests in each phase are counted from its log (the moto server's request
lines): S3 requests by verb, and the JSON APIs (SQS, Glue) together; the bench's own requests
(its reads of records, its queue) are left out, its uploads are not. The CPU time of the stack's
processes (from Linux's /proc) is printed per file too: unlike wall time, it hardly moves when
another job shares the machine.
Exit 1 when a file is missing or failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from bench.load import SMALL_ROWS, csvpipe, stack_environment, stage_seconds
from pipeline import layout, runs
from pipeline.aws import Clients
from pipeline.events import parse_message_body
from pipeline.settings import Settings

LATENCY_ROWS = 30
# werkzeug's request line; colours (ANSI escapes) mark errors and redirects.
JSON_APIS = "json api (sqs, glue)"
_REQUEST = re.compile(r'"(?:\x1b\[[0-9;]*m)*(GET|PUT|POST|HEAD|DELETE) (\S+) HTTP')


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def _csv(first: int, rows: int) -> bytes:
    lines = "".join(f"{first + i},Film {first + i} (1999),Drama|Comedy\n" for i in range(rows))
    return ("movieId,title,genre\n" + lines).encode()


class Requests:
    """The emulator's request lines since the last ``take()``, by kind."""

    def __init__(self, log: Path) -> None:
        self.log = log
        self.offset = log.stat().st_size if log.exists() else 0

    def take(self, own_json_calls: int = 0) -> Counter[str]:
        """The counts; ``own_json_calls``: the bench's SQS calls since the last take, left out."""
        with self.log.open("rb") as handle:
            handle.seek(self.offset)
            text = handle.read().decode(errors="replace")
            self.offset = handle.tell()
        kinds: Counter[str] = Counter()
        for verb, path in _REQUEST.findall(text):
            if path.startswith("/moto-api") or (verb == "GET" and "/_runs/" in path):
                continue  # the bench reading records: the stack never reads run records back
            bucket = path.lstrip("/").split("/")[0].split("?")[0]
            if verb == "POST" and bucket == "":
                kinds[JSON_APIS] += 1
            elif "list-type=2" in path or (verb == "GET" and "/" not in path.lstrip("/").split("?")[0]):
                kinds["s3 list"] += 1
            else:
                kinds[f"s3 {verb.lower()}"] += 1
        kinds[JSON_APIS] -= own_json_calls
        return +kinds


def _shown(kinds: Counter[str], per: int) -> str:
    total = sum(kinds.values())
    parts = ", ".join(f"{kind} {count / per:.1f}" for kind, count in sorted(kinds.items()))
    return f"{total / per:.1f} per file ({parts})"


class Records:
    """Tells when transform run records are written, without polling the buckets: the processed
    bucket notifies a queue of the bench's own for every ``_runs/<run>/transform.json``, and a
    long poll on it returns as the record is put (moto notifies within the PUT). Polling GETs or
    listings instead would take the emulator's CPU from the stack being measured."""

    def __init__(self, clients: Clients) -> None:
        self.sqs, settings = clients.sqs, clients.settings
        self.url = self.sqs.create_queue(QueueName="csvpipe-bench-records")["QueueUrl"]
        arn = self.sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        # The local stack sets no notification on the processed bucket (only on the raw one).
        clients.s3.put_bucket_notification_configuration(
            Bucket=settings.processed_bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "QueueArn": arn,
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {
                            "Key": {
                                "FilterRules": [
                                    {"Name": "prefix", "Value": layout.RUNS_PREFIX},
                                    {"Name": "suffix", "Value": "/transform.json"},
                                ]
                            }
                        },
                    }
                ]
            },
        )
        self.seen: dict[str, float] = {}  # run -> when its transform record was written
        self.calls = 0  # the bench's own requests to the emulator, left out of the counts

    def wait(self, wanted: set[str], deadline: float) -> set[str]:
        """Wait until every run of ``wanted`` has its transform record, or ``deadline``; the ones
        that have."""
        while not wanted <= self.seen.keys() and time.monotonic() < deadline:
            messages = self.sqs.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=10, WaitTimeSeconds=1
            ).get("Messages", [])
            self.calls += 1
            now = time.time()
            for message in messages:
                for created in parse_message_body(message["Body"]):
                    self.seen.setdefault(created.key[len(layout.RUNS_PREFIX) :].split("/")[0], now)
            if messages:
                self.calls += 1
                self.sqs.delete_message_batch(
                    QueueUrl=self.url,
                    Entries=[
                        {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)
                    ],
                )
        return wanted & self.seen.keys()


def one_file(bench: Bench, key: str, body: bytes) -> dict[str, float] | None:
    """Upload ``body`` alone and wait for its transform record; its timeline in seconds."""
    s3, settings, records = bench.s3, bench.settings, bench.records
    begin = time.time()
    etag = s3.put_object(Bucket=settings.raw_bucket, Key=key, Body=body)["ETag"]
    uploaded = time.time()
    run = layout.run_id(settings.raw_bucket, key, etag)
    if not records.wait({run}, time.monotonic() + bench.timeout):
        return None
    seen = records.seen[run]
    transform = runs.read_stage_record(s3, settings.processed_bucket, run, "transform") or {}
    preprocess = runs.read_stage_record(s3, settings.processed_bucket, run, "preprocess") or {}
    crawl = runs.read_stage_record(s3, settings.processed_bucket, run, "crawl") or {}
    if preprocess.get("status") != "ok" or crawl.get("status") != "ok":
        print(f"{key}: preprocess {preprocess.get('status')}, crawl {crawl.get('status')}", file=sys.stderr)
        return None
    pre_start = _epoch(preprocess["started_at"])
    pre_end = pre_start + preprocess["seconds"]
    crawl_start = _epoch(crawl["started_at"])
    crawl_end = crawl_start + crawl["seconds"]
    transform_start = _epoch(transform["started_at"])
    transform_end = transform_start + transform["seconds"]
    timeline = {
        "total": seen - begin,
        "upload": uploaded - begin,
        "queue": pre_start - uploaded,
        "preprocess": preprocess["seconds"],
        "handoff": crawl_start - pre_end,
        "crawl": crawl["seconds"],
        "to transform": transform_start - crawl_end,
    }
    outputs = transform.get("outputs", [])
    starts = [_epoch(output["started_at"]) for output in outputs] + [transform_end]
    timeline["transform setup"] = starts[0] - transform_start
    for i, output in enumerate(outputs):
        # From this output's start to the next one's: its SQL, then publishing to the final
        # bucket (after its own ``seconds`` end), then the next one's readiness checks.
        timeline[f"  {output['output']}"] = starts[i + 1] - starts[i]
    timeline["  of which publishing"] = sum(
        starts[i + 1] - starts[i] - output["seconds"] for i, output in enumerate(outputs)
    )
    timeline["record"] = seen - transform_end
    return timeline


class Cpu:
    """CPU seconds (user + system) of the stack's processes since the last ``take()``, from
    Linux's ``/proc``: the stack process and what it started (the Lambda environments, the
    dashboard), and the emulator. CPU time, unlike wall time, barely moves when another job
    shares the machine. Empty where there is no ``/proc``."""

    def __init__(self, roots: list[int]) -> None:
        self.roots = roots
        self.last = self._read()

    def _read(self) -> dict[str, float]:
        proc = Path("/proc")
        if not proc.is_dir():
            return {}
        table: dict[int, tuple[int, str, float]] = {}
        tick = os.sysconf("SC_CLK_TCK")
        for entry in proc.iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            fields = stat.rsplit(")", 1)[1].split()
            table[int(entry.name)] = (int(fields[1]), command, (int(fields[11]) + int(fields[12])) / tick)
        tree, todo = set(), list(self.roots)
        while todo:
            pid = todo.pop()
            if pid in tree or pid not in table:
                continue
            tree.add(pid)
            todo += [child for child, (parent, _, _) in table.items() if parent == pid]
        totals: dict[str, float] = {}
        for pid in tree:
            _, command, seconds = table[pid]
            totals[_role(command)] = totals.get(_role(command), 0.0) + seconds
        return totals

    def take(self) -> dict[str, float]:
        now = self._read()
        spent = {role: now[role] - self.last.get(role, 0.0) for role in now}
        self.last = now
        return spent


def _role(command: str) -> str:
    for marker, role in (("moto", "emulator"), ("awslambdaric", "lambda"), ("streamlit", "dashboard")):
        if marker in command:
            return role
    return "stack (event source, glue)"


def _cpu_shown(spent: dict[str, float], per: int) -> str:
    if not spent:
        return "not measured (no /proc)"
    parts = ", ".join(f"{role} {seconds * 1000 / per:.0f}" for role, seconds in sorted(spent.items()))
    return f"{sum(spent.values()) * 1000 / per:.0f} ms per file ({parts})"


@dataclass
class Bench:
    s3: Any
    settings: Settings
    requests: Requests
    records: Records
    cpu: Cpu
    timeout: float


def latency(bench: Bench, count: int) -> bool:
    print(f"warming up with one {LATENCY_ROWS}-row file ...", flush=True)
    warm = one_file(bench, "movies/warm-up.csv", _csv(20_000_000, LATENCY_ROWS))
    if warm is None:
        print("the warm-up file never reached the final data", file=sys.stderr)
        return False
    print(f"  warm-up: {warm['total']:.3f} s", flush=True)
    bench.requests.take()
    bench.cpu.take()
    calls = bench.records.calls
    timelines = []
    for n in range(count):
        timeline = one_file(
            bench, f"movies/latency-{n:03}.csv", _csv(30_000_000 + n * LATENCY_ROWS, LATENCY_ROWS)
        )
        if timeline is None:
            print(f"file {n} never reached the final data", file=sys.stderr)
            return False
        timelines.append(timeline)
        print(f"  file {n}: {timeline['total']:.3f} s", flush=True)
    kinds = bench.requests.take(bench.records.calls - calls)
    spent = bench.cpu.take()
    totals = [t["total"] for t in timelines]
    print()
    print(
        f"latency         median {statistics.median(totals):.3f} s, min {min(totals):.3f} s, "
        f"max {max(totals):.3f} s over {count} warm {LATENCY_ROWS}-row file(s)"
    )
    print("by stage        median seconds (the stages add up to the total, bar rounding)")
    for stage in timelines[0]:
        if stage == "total":
            continue
        values = [t.get(stage, 0.0) for t in timelines]
        print(f"  {stage:<28} {statistics.median(values):7.3f}")
    print(f"requests        {_shown(kinds, count)} (the upload included)")
    print(f"cpu             {_cpu_shown(spent, count)}")
    return True


def throughput(bench: Bench, count: int) -> bool:
    s3, settings = bench.s3, bench.settings
    bodies = {f"movies/small-{n:04}.csv": _csv(10_000_000 + n * SMALL_ROWS, SMALL_ROWS) for n in range(count)}
    bench.requests.take()
    bench.cpu.take()
    calls = bench.records.calls
    print(f"uploading {count} small file(s) at once ...", flush=True)
    begin = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        etags = list(
            pool.map(
                lambda key: s3.put_object(Bucket=settings.raw_bucket, Key=key, Body=bodies[key])["ETag"],
                bodies,
            )
        )
    uploaded = time.monotonic() - begin
    pending = {layout.run_id(settings.raw_bucket, key, etag) for key, etag in zip(bodies, etags, strict=True)}
    finished = bench.records.wait(pending, begin + bench.timeout)
    wall = time.monotonic() - begin
    kinds = bench.requests.take(bench.records.calls - calls)
    spent = bench.cpu.take()
    records = {
        run: {
            stage: runs.read_stage_record(s3, settings.processed_bucket, run, stage) or {}
            for stage in layout.STAGES
        }
        for run in pending
    }
    bad = [run for run, rec in records.items() if rec["preprocess"].get("status") != "ok"]
    seconds = {stage: stage_seconds(records, stage) for stage in layout.STAGES}
    batches = len({rec["crawl"].get("started_at") for rec in records.values() if rec["crawl"]})
    print()
    print(f"files           {count} small ({SMALL_ROWS} rows each)")
    missing = count - len(finished)
    print(f"reached output  {len(finished) - len(bad)}; failed {len(bad)}; never finished {missing}")
    print(f"upload          {uploaded:.1f} s for all files (8 threads)")
    print(f"wall time       {wall:.1f} s from the first upload to the last record")
    print(f"throughput      {len(finished) / wall:.1f} files/s")
    print("stage seconds   " + ", ".join(f"{stage} {value:,.1f}" for stage, value in seconds.items()))
    print(f"glue batches    {batches} (crawl and transform passes)")
    print(f"requests        {_shown(kinds, max(count, 1))} (the uploads included)")
    print(f"cpu             {_cpu_shown(spent, max(count, 1))} over {wall:.1f} s of wall time")
    return not bad and len(finished) == count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.latency", description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=int, default=5, help="warm 30-row files, one at a time (default 5)")
    parser.add_argument(
        "--files", type=int, default=200, help="small files at once (default 200; 0 for none)"
    )
    parser.add_argument(
        "--concurrency", type=int, default=2, help="Lambda execution environments (default 2)"
    )
    parser.add_argument(
        "--timeout", type=float, default=600, help="seconds to wait for each phase (default 600)"
    )
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="csvpipe-latency-") as tmp:
        home = Path(tmp)
        env, settings = stack_environment(home, lambda_concurrency=str(args.concurrency))
        started = csvpipe("up", "--detach", cwd=home, env=env)
        if started.returncode != 0:
            print(started.stderr, file=sys.stderr)
            return 1
        ok = True
        try:
            clients = Clients(settings)
            state = json.loads((settings.state_dir / "stack.json").read_text())
            bench = Bench(
                clients.s3,
                settings,
                Requests(settings.state_dir / "logs" / "emulator.log"),
                Records(clients),
                Cpu([int(state["pid"]), int(state["emulator_pid"])]),
                args.timeout,
            )
            if args.latency:
                ok = latency(bench, args.latency)
            if ok and args.files:
                print()
                ok = throughput(bench, args.files)
        finally:
            csvpipe("down", cwd=home, env=env)
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
