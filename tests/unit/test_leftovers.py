"""Which processes a dead stack left: real processes carrying the stack's markers, told apart
by whether the stack that started them still runs."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulators import leftovers

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")

SLEEP = [sys.executable, "-c", "import time; time.sleep(120)"]


@pytest.fixture
def spawned() -> Iterator[list[subprocess.Popen[bytes]]]:
    processes: list[subprocess.Popen[bytes]] = []
    yield processes
    for process in processes:
        if process.poll() is None:
            process.kill()
        process.wait()


def dead_identity() -> str:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    marker = leftovers.identity(process.pid)
    process.wait()
    assert marker is not None and not leftovers.alive(marker)
    return marker


def test_a_child_of_a_dead_stack_is_a_leftover_and_others_are_not(
    tmp_path: Path, spawned: list[subprocess.Popen[bytes]]
) -> None:
    state_dir = tmp_path / "data" / ".csvpipe"
    state_dir.mkdir(parents=True)
    mine = str(state_dir.resolve())
    me = leftovers.identity(os.getpid())
    assert me is not None and leftovers.alive(me)
    cases = {
        "orphan": {leftovers.STACK_DIR: mine, leftovers.STACK_OWNER: dead_identity()},
        "owned": {leftovers.STACK_DIR: mine, leftovers.STACK_OWNER: me},
        "stack": {leftovers.STACK_DIR: mine},
        "elsewhere": {leftovers.STACK_DIR: str(tmp_path / "other"), leftovers.STACK_OWNER: dead_identity()},
        "unmarked": {},
    }
    base = {k: v for k, v in os.environ.items() if not k.startswith("CSVPIPE_STACK")}
    pids = {}
    for name, markers in cases.items():
        spawned.append(subprocess.Popen(SLEEP, env={**base, **markers}))
        pids[name] = spawned[-1].pid

    found = leftovers.find(state_dir)

    assert found == leftovers.Found([pids["orphan"]], [pids["stack"]])
    assert leftovers.end(found.leftovers, grace_s=5) == [pids["orphan"]]
    assert spawned[0].wait(timeout=10) is not None
    assert leftovers.find(state_dir).leftovers == []
    assert all(process.poll() is None for process in spawned[1:])  # the others untouched


def test_a_reused_pid_is_not_its_former_process() -> None:
    marker = leftovers.identity(os.getpid())
    assert marker is not None
    pid, start = marker.split(":")
    assert leftovers.alive(marker)
    assert not leftovers.alive(f"{pid}:{int(start) + 1}")  # same pid, another start time
