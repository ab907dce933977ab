"""What the emulator's durability costs (emulators.durable): the memory of a large PUT, the time
of a burst of small PUTs, and how long a restart takes to replay them, with and without the
journal, each on an emulator of its own:

    python -m bench.durability                      # a 100 MB PUT, 1,000 small PUTs
    python -m bench.durability --large-mb 20 --small 200

Peak memory is the emulator's VmHWM from Linux's /proc, read before and after the large PUT (its
growth is what the PUT cost). The restart is a SIGKILL followed by a start on the same folder,
timed until the emulator answers. Figures depend on the machine and its load: compare the two
rows of one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench.load import free_port
from emulators.aws_emulator import AwsEmulator
from pipeline.aws import Clients
from pipeline.settings import load_settings, replace

BUCKET = "csvpipe-bench-durability"
MB = 1024 * 1024


def _peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _run(home: Path, durable: bool, large: Path, small: int) -> dict[str, float]:
    port = free_port()
    state = home / "journal" if durable else None

    def start() -> AwsEmulator:
        return AwsEmulator("127.0.0.1", port, home / "emulator.log", state).start()

    emulator = start()
    try:
        clients = Clients(replace(load_settings(), endpoint_url=emulator.endpoint, emulator_port=port))
        s3 = clients.s3
        s3.create_bucket(Bucket=BUCKET)
        pid = emulator.process.pid if emulator.process else 0
        before = _peak_mb(pid)
        started = time.perf_counter()
        with large.open("rb") as body:
            s3.put_object(Bucket=BUCKET, Key="large.csv", Body=body)
        figures = {"large_s": time.perf_counter() - started, "large_peak_mb": _peak_mb(pid) - before}
        started = time.perf_counter()
        for n in range(small):
            s3.put_object(Bucket=BUCKET, Key=f"small/{n:06d}.csv", Body=f"id,title\n{n},Film {n}\n".encode())
        figures["small_ms"] = 1000 * (time.perf_counter() - started) / max(small, 1)
        if durable and emulator.process:
            emulator.process.kill()
            emulator.process.wait(timeout=10)
            started = time.perf_counter()
            emulator = start()
            figures["restart_s"] = time.perf_counter() - started
            listed = s3.list_objects_v2(Bucket=BUCKET, Prefix="small/")["KeyCount"]
            assert listed == min(small, 1000), f"{listed} small objects after the restart"
        return figures
    finally:
        emulator.stop()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.durability", description=__doc__.split("\n\n")[0])
    parser.add_argument("--large-mb", type=int, default=100, help="size of the large PUT (default 100)")
    parser.add_argument(
        "--small", type=int, default=1000, help="small PUTs, one after another (default 1000)"
    )
    args = parser.parse_args(argv)
    if not Path("/proc/self/status").exists():
        print("bench.durability reads memory from Linux's /proc", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory(prefix="csvpipe-bench-durability-") as folder:
        large = Path(folder) / "large.csv"
        with large.open("wb") as out:
            for _ in range(args.large_mb):
                out.write(os.urandom(MB))
        print(
            f"{'emulator':<12} {'large PUT s':>12} {'its peak MB':>12} {'small PUT ms':>13} {'restart s':>10}"
        )
        for durable in (False, True):
            home = Path(folder) / ("durable" if durable else "plain")
            home.mkdir()
            figures = _run(home, durable, large, args.small)
            restart = f"{figures['restart_s']:>10.1f}" if "restart_s" in figures else f"{'-':>10}"
            name = "journaled" if durable else "in memory"
            large_s, peak, small_ms = figures["large_s"], figures["large_peak_mb"], figures["small_ms"]
            print(f"{name:<12} {large_s:>12.1f} {peak:>12.0f} {small_ms:>13.2f} {restart}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
