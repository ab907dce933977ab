"""Kill -9 soak of the local stack: files flow through the watched folder while the emulator,
the stack's main process and Lambda environments are killed at random instants; at the end every
file must be processed exactly once and the final output must equal a count made here.

    python -m bench.soak --kills 60 --files 600           # a long soak
    python -m bench.soak --kills 6 --files 200 --seed 7   # what tests/e2e/test_crash.py runs

The stack is started as a user starts it, ``csvpipe up --detach`` in a folder of its own with
its own ports. Files go into ``data/inbox/crash/`` in chunks, one of them a few MB; between
chunks one process is killed with SIGKILL, chosen with a seeded RNG (the seed is printed, so a
failure reproduces as far as timing allows):

- ``emulator``: the pid in the stack's state file; the stack restarts it by itself (at most three
  times a minute, its own limit: past that another kind is chosen);
- ``stack``: the stack's main process; ``csvpipe up --detach`` is run again and must end what the
  dead stack left and carry on;
- ``lambda``: one of the stack's ``awslambdaric`` children; the invocation fails and is retried.

The next kill waits until the stack answers again. The dataset has no preprocessing rules; the
transform ``crash_counts`` counts rows and distinct ids per category. Lost: a file not in the raw
bucket, not processed (no successful preprocess record with its row count, no processed object)
or not moved to ``.done/``. Duplicated: an object in the raw or processed bucket, or in
``.done/``, that no dropped file accounts for, more preprocess run records than raw objects, or
a row counted more than once in the final output. Unfinished: a run processed and never
transformed. The exit code is 1 when anything was lost, duplicated or unfinished, or the final
output differs from the count made here.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from emulators import leftovers
from emulators.aws_emulator import is_ready
from pipeline import layout, runs
from pipeline.aws import Clients
from pipeline.settings import Settings, load_settings

DATASET = "crash"
OUTPUT = "crash_counts"
TRANSFORM = "SELECT category, count(*) AS row_count, count(DISTINCT id) AS ids FROM crash GROUP BY category"
CATEGORIES = ("alpha", "beta", "gamma", "delta", "epsilon")
KINDS = ("emulator", "stack", "lambda")
EMULATOR_RESTARTS_PER_MINUTE = 3  # emulators.stack.MAX_RESTARTS in RESTART_WINDOW
RECOVER_S = 300.0  # a restart (journal replay, stack start) on a loaded machine
CLI_TIMEOUT_S = 600.0
LAMBDA_WAIT_S = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Report:
    """What a soak did and found."""

    seed: int
    kills: Counter[str] = field(default_factory=Counter)
    files: int = 0
    rows: int = 0
    lost: list[str] = field(default_factory=list)
    duplicated: list[str] = field(default_factory=list)
    unfinished: list[str] = field(default_factory=list)  # processed, but no transform record
    expected: dict[str, tuple[int, int]] = field(default_factory=dict)  # category -> (rows, ids)
    final: dict[str, tuple[int, int]] | None = None
    restarts: int = 0  # `csvpipe up --detach` after a kill of the stack
    stack_exits: list[str] = field(default_factory=list)  # the stack found dead without a kill
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.unfinished) and self.final == self.expected

    def lines(self) -> list[str]:
        kinds = ", ".join(f"{kind} {self.kills[kind]}" for kind in KINDS)
        return [
            f"seed {self.seed}: {sum(self.kills.values())} kills ({kinds}) in {self.seconds:.0f} s",
            f"files {self.files} ({self.rows} rows), lost {len(self.lost)}, "
            f"duplicated {len(self.duplicated)}, unfinished runs {len(self.unfinished)}",
            f"final output {'equals' if self.final == self.expected else 'DIFFERS FROM'} the count "
            f"made here ({len(self.expected)} categories)",
            *(f"lost: {item}" for item in self.lost[:20]),
            *(f"duplicated: {item}" for item in self.duplicated[:20]),
            *(f"unfinished: {item}" for item in self.unfinished[:20]),
            *(f"the stack exited by itself: {item}" for item in self.stack_exits),
            *([] if self.final == self.expected else [f"final {self.final} != expected {self.expected}"]),
        ]


class Soak:
    """One user folder, its stack, and the files written into its inbox."""

    def __init__(self, home: Path, seed: int, say: Callable[[str], None] = print) -> None:
        self.home, self.rng, self.say = home, random.Random(seed), say
        self.report = Report(seed)
        transforms = home / "transforms"
        transforms.mkdir(parents=True, exist_ok=True)
        (transforms / f"{OUTPUT}.sql").write_text(TRANSFORM + "\n")
        base = {k: v for k, v in os.environ.items() if not k.startswith(("CSVPIPE_", "AWS_"))}
        self.env = {
            **base,
            "CSVPIPE_EMULATOR_PORT": str(free_port()),
            "CSVPIPE_DASHBOARD_PORT": str(free_port()),
            "CSVPIPE_TRANSFORMS_DIR": str(transforms),
        }
        self.settings: Settings = load_settings(
            environ={
                "CSVPIPE_DATA_DIR": str(home / "data"),
                "CSVPIPE_EMULATOR_PORT": self.env["CSVPIPE_EMULATOR_PORT"],
                "CSVPIPE_TRANSFORMS_DIR": str(transforms),
            },
            config_path=None,
        )
        self.inbox = home / "data" / "inbox" / DATASET
        self.written: dict[str, int] = {}  # raw key -> rows
        self.expected: Counter[tuple[str, str]] = Counter()  # (category, id) -> times written
        self.next_id = 0
        self.emulator_kills: list[float] = []  # monotonic times, for the current stack process
        self._s3: Any = None

    # The stack, through the CLI as a user runs it.
    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pipeline.cli", *args],
            cwd=self.home,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=CLI_TIMEOUT_S,
            check=False,
        )

    def up(self) -> None:
        started = self.cli("up", "--detach")
        if started.returncode != 0:
            raise RuntimeError(f"csvpipe up --detach failed: {started.stderr.strip()}")
        self.emulator_kills = []

    def state(self) -> dict[str, Any] | None:
        try:
            return json.loads((self.settings.state_dir / "stack.json").read_text())
        except (FileNotFoundError, ValueError):
            return None

    @property
    def s3(self) -> Any:
        if self._s3 is None:
            self._s3 = Clients(self.settings).s3
        return self._s3

    def ensure_running(self) -> None:
        """Wait until the stack answers again; a stack that exited by itself is noted and started."""
        deadline = time.monotonic() + RECOVER_S
        while True:
            state = self.state()
            if state is not None and leftovers.identity(int(state["pid"])) is None:
                self.report.stack_exits.append(f"pid {state['pid']} gone; see {self.settings.state_dir}/logs")
                self.up()
                continue
            if state is None:
                self.report.stack_exits.append("no state file")
                self.up()
                continue
            if is_ready(str(state["endpoint_url"])):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"the stack did not answer within {RECOVER_S:.0f} s")
            time.sleep(0.2)  # another process restarting; bounded by the deadline

    # Files.
    def _rows(self, count: int) -> str:
        lines = []
        for _ in range(count):
            category = self.rng.choice(CATEGORIES)
            lines.append(f"{self.next_id},{category}\n")
            self.expected[(category, str(self.next_id))] += 1
            self.next_id += 1
        return "id,category\n" + "".join(lines)

    def drop(self, name: str, rows: int) -> None:
        self.inbox.mkdir(parents=True, exist_ok=True)
        (self.inbox / name).write_text(self._rows(rows))
        self.written[f"{DATASET}/{name}"] = rows

    # Kills.
    def lambdas(self) -> list[int]:
        state = self.state()
        if state is None:
            return []
        return children_of(int(state["pid"]), b"awslambdaric")

    def _emulator_allowed(self) -> bool:
        now = time.monotonic()
        return len([t for t in self.emulator_kills if now - t < 60]) < EMULATOR_RESTARTS_PER_MINUTE

    def choose(self, wanted: str) -> str:
        """``wanted``, or another kind when the stack's restart limit forbids an emulator kill."""
        if wanted == "emulator" and not self._emulator_allowed():
            return self.rng.choice(["stack", "lambda"])
        return wanted

    def kill(self, kind: str) -> None:
        state = self.state()
        assert state is not None
        if kind == "emulator":
            pid = int(state["emulator_pid"])
        elif kind == "stack":
            pid = int(state["pid"])
        else:
            # Environments start with the first event after a (re)start: wait for one, bounded.
            deadline = time.monotonic() + LAMBDA_WAIT_S
            while not (found := self.lambdas()) and time.monotonic() < deadline:
                time.sleep(0.1)  # another process starting one; bounded by the deadline
            if not found:
                instead = "emulator" if self._emulator_allowed() else "stack"
                self.say(f"no Lambda environment ran within {LAMBDA_WAIT_S:.0f} s: the {instead} instead")
                return self.kill(instead)
            pid = self.rng.choice(found)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return  # it ended by itself a moment ago: not a kill
        self.report.kills[kind] += 1
        self.say(f"kill -9 {kind} (pid {pid})")
        if kind == "emulator":
            self.emulator_kills.append(time.monotonic())
            deadline = time.monotonic() + RECOVER_S
            while (current := self.state()) is not None and current.get("emulator_pid") == pid:
                if leftovers.identity(int(current["pid"])) is None or time.monotonic() > deadline:
                    break
                time.sleep(0.1)  # the stack notices within 0.5 s; bounded by the deadline
        elif kind == "stack":
            deadline = time.monotonic() + 30
            while leftovers.identity(pid) is not None and time.monotonic() < deadline:
                time.sleep(0.05)  # a killed process is gone within moments; bounded
            self.up()
            self.report.restarts += 1
        self.ensure_running()

    # The end.
    def settle(self, seconds: float) -> None:
        """Wait until every file is in ``.done/``, every run finished and the output is final."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                self.ensure_running()
                if self.finished():
                    return
            except Exception as exc:  # the emulator restarting: look again
                self.say(f"still settling: {type(exc).__name__}")
            time.sleep(1.0)  # the stack works in other processes; bounded by the deadline
        self.say(f"not settled within {seconds:.0f} s")

    def finished(self) -> bool:
        if any(self.inbox.glob("*.csv")):
            return False
        if self.final_counts() != self.expected_counts():
            return False
        for key in self.written:
            record = self.record(key, "transform")
            if record is None:
                return False
        return True

    def _keys(self, bucket: str, prefix: str) -> set[str]:
        paginator = self.s3.get_paginator("list_objects_v2")
        return {
            obj["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for obj in page.get("Contents", [])
        }

    def record(self, key: str, stage: str) -> dict[str, Any] | None:
        try:
            etag = self.s3.head_object(Bucket=self.settings.raw_bucket, Key=key)["ETag"]
        except self.s3.exceptions.ClientError:
            return None
        run = layout.run_id(self.settings.raw_bucket, key, etag)
        return runs.read_stage_record(self.s3, self.settings.processed_bucket, run, stage)

    def expected_counts(self) -> dict[str, tuple[int, int]]:
        rows: Counter[str] = Counter()
        ids: Counter[str] = Counter()
        for (category, _), times in self.expected.items():
            rows[category] += times
            ids[category] += 1
        return {category: (rows[category], ids[category]) for category in sorted(rows)}

    def final_counts(self) -> dict[str, tuple[int, int]] | None:
        try:
            body = self.s3.get_object(Bucket=self.settings.final_bucket, Key=layout.final_data_key(OUTPUT))
        except self.s3.exceptions.NoSuchKey:
            return None
        reader = csv.DictReader(io.StringIO(body["Body"].read().decode()))
        return {
            row["category"]: (int(row["row_count"]), int(row["ids"]))
            for row in sorted(reader, key=lambda row: row["category"])
        }

    def judge(self) -> None:
        report = self.report
        report.files, report.rows = len(self.written), sum(self.written.values())
        report.expected, report.final = self.expected_counts(), self.final_counts()
        raw = self._keys(self.settings.raw_bucket, "")
        done_dir = self.home / "data" / "inbox" / ".done"
        done = {p.relative_to(done_dir).as_posix() for p in done_dir.rglob("*.csv")}
        for key, rows in sorted(self.written.items()):
            if key not in raw:
                report.lost.append(f"{key}: not in the raw bucket")
                continue
            record = self.record(key, "preprocess")
            if record is None or record.get("status") != "ok":
                report.lost.append(f"{key}: not processed ({record and record.get('error')})")
            elif record["rows"]["out"] != rows:
                report.lost.append(f"{key}: {record['rows']['out']} rows processed of {rows}")
            elif self.record(key, "transform") is None:
                report.unfinished.append(f"{key}: no transform record")
            if key not in done:
                report.lost.append(f"{key}: not moved to .done/")
        processed = self._keys(self.settings.processed_bucket, f"{DATASET}/")
        wanted = {layout.processed_key(key) for key in self.written}
        report.lost += [f"{key}: not in the processed bucket" for key in sorted(wanted - processed)]
        report.duplicated += [
            f"{key}: in the processed bucket, no file of it" for key in sorted(processed - wanted)
        ]
        preprocessed = {
            key.split("/")[1]
            for key in self._keys(self.settings.processed_bucket, layout.RUNS_PREFIX)
            if key.endswith("/preprocess.json")
        }
        if len(preprocessed) > len(raw):
            report.duplicated.append(f"{len(preprocessed)} preprocess run records for {len(raw)} raw objects")
        report.duplicated += [
            f"{key}: in the raw bucket, never dropped" for key in sorted(raw - set(self.written))
        ]
        report.duplicated += [f"{key}: in .done/ twice" for key in sorted(done - set(self.written))]
        for category, (rows, ids) in (report.final or {}).items():
            if rows > ids:
                report.duplicated.append(f"{category}: {rows - ids} row(s) counted twice in {OUTPUT}")


def children_of(pid: int, needle: bytes) -> list[int]:
    """The processes whose parent is ``pid`` and whose command line holds ``needle``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (proc / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid and needle in cmdline:
            found.append(int(proc.name))
    return found


def run_soak(
    home: Path,
    *,
    kills: int,
    files: int,
    seed: int,
    large_rows: int = 250_000,
    rows_per_file: int = 5,
    max_gap_s: float = 4.0,
    settle_s: float = 600.0,
    say: Callable[[str], None] = print,
) -> Report:
    """Run one soak in ``home`` (a folder of its own) and judge it; the stack is stopped after."""
    soak = Soak(home, seed, say)
    started = time.monotonic()
    say(f"soak: seed {seed}, {kills} kills, {files} small files and one of {large_rows} rows in {home}")
    try:
        soak.up()
        plan = [KINDS[n % len(KINDS)] for n in range(kills)]
        soak.rng.shuffle(plan)
        chunks = max(kills, 1)
        per_chunk = -(-files // chunks)
        large_at = soak.rng.randrange(chunks)
        dropped = 0
        for step in range(chunks):
            for _ in range(min(per_chunk, files - dropped)):
                soak.drop(f"part-{dropped:05}.csv", rows_per_file)
                dropped += 1
            if step == large_at:
                soak.drop("large.csv", large_rows)
            if step < kills:
                time.sleep(soak.rng.uniform(0.2, max_gap_s))  # the random instant of this kill
                soak.kill(soak.choose(plan[step]))
        soak.settle(settle_s)
        soak.judge()
    finally:
        soak.report.seconds = time.monotonic() - started
        soak.cli("down")
    return soak.report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--kills", type=int, default=60)
    parser.add_argument("--files", type=int, default=600, help="small files (a large one is added)")
    parser.add_argument("--seed", type=int, default=None, help="default: a random one, printed")
    parser.add_argument("--large-rows", type=int, default=250_000, help="rows of the large file (~13 B each)")
    parser.add_argument("--settle", type=float, default=900.0, help="seconds to wait for the end")
    parser.add_argument("--keep", action="store_true", help="keep the folder (logs, journal) after")
    args = parser.parse_args(argv)
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1 << 31)
    folder = Path(tempfile.mkdtemp(prefix="csvpipe-soak-"))
    report = run_soak(
        folder,
        kills=args.kills,
        files=args.files,
        seed=seed,
        large_rows=args.large_rows,
        settle_s=args.settle,
    )
    for line in report.lines():
        print(line)
    if args.keep or not report.ok:
        print(f"kept {folder}")
    else:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
