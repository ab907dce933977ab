"""The crash test: ``kill -9`` of the emulator, of the stack's main process and of a Lambda
environment at random instants while a couple of hundred small files and one of a few MB flow
through the watched folder. After the restarts (the stack's own for its emulator, ``csvpipe up
--detach`` for the stack), every file is processed exactly once and the final output equals a
count made here from the files written. The harness is bench/soak.py (``python -m bench.soak``
runs it longer); the seed is printed, so a failure can be run again with it."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest

from bench.soak import KINDS, run_soak

pytestmark = pytest.mark.slow

# Tunable: the defaults (three kills of each kind) took 55-72 s on a loaded 2-core machine.
FILES = int(os.environ.get("CSVPIPE_CRASH_FILES", "200"))
KILLS = int(os.environ.get("CSVPIPE_CRASH_KILLS", "9"))
SEED = int(os.environ.get("CSVPIPE_CRASH_SEED", str(random.SystemRandom().randrange(1 << 31))))


def test_kill_9_anywhere_loses_nothing_and_processes_every_file_once(tmp_path: Path) -> None:
    print(f"crash test seed: {SEED} (CSVPIPE_CRASH_SEED={SEED} runs it again)")
    report = run_soak(
        tmp_path / "user", kills=KILLS, files=FILES, seed=SEED, large_rows=250_000, settle_s=240
    )
    print("\n".join(report.lines()))

    assert set(report.kills) == set(KINDS), report.kills  # each kind of process was killed
    assert sum(report.kills.values()) == KILLS
    assert report.files == FILES + 1 and report.rows == FILES * 5 + 250_000
    assert report.lost == [], report.lines()
    assert report.duplicated == [], report.lines()
    assert report.unfinished == [], report.lines()
    assert report.stack_exits == [], report.lines()
    # The independent count: rows and distinct ids per category of what was written.
    assert report.final == report.expected, report.lines()
    assert sum(rows for rows, _ in report.expected.values()) == report.rows
