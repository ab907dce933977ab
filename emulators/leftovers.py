"""Finding and ending what a dead local stack left running.

Why: a ``kill -9`` of the stack's main process (or an out-of-memory kill) gives it no chance to
stop its emulator, dashboard and Lambda environments; they kept their ports, so ``status`` said
"not running", ``down`` "no stack is running" and ``up`` refused to start. Every process the
stack starts therefore carries two variables in its environment, inherited by its own children
(a handler's subprocesses too): ``CSVPIPE_STACK_DIR``, the stack's state folder, and
``CSVPIPE_STACK_OWNER``, ``<pid>:<start time>`` of the stack process that started it. A process
of this state folder whose owner is gone is a leftover; ``up``, ``status`` and ``down`` end
them. A detached stack process itself carries ``CSVPIPE_STACK_DIR`` without an owner, so
``down`` also finds a stack that is still starting (before it wrote its state file).

Linux only (``/proc``); elsewhere nothing is found and nothing is ended.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

STACK_DIR = "CSVPIPE_STACK_DIR"
STACK_OWNER = "CSVPIPE_STACK_OWNER"
PROC = Path("/proc")


def identity(pid: int) -> str | None:
    """``<pid>:<start time in clock ticks>``: names one process, even once its pid is reused."""
    try:
        fields = (PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    if fields[0] == "Z":  # a zombie: dead, not yet reaped
        return None
    return f"{pid}:{fields[19]}"


def alive(marker: str) -> bool:
    """Whether the process named by an ``identity`` still runs."""
    pid, _, _ = marker.partition(":")
    return pid.isdigit() and identity(int(pid)) == marker


def _environ(pid: int) -> dict[str, str]:
    try:
        raw = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return {}
    pairs = (item.split(b"=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {key.decode(errors="replace"): value.decode(errors="replace") for key, value in pairs}


def _ancestors() -> set[int]:
    """This process and its parents: never ours to end."""
    found, pid = set(), os.getpid()
    while pid > 1 and pid not in found:
        found.add(pid)
        try:
            pid = int((PROC / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            break
    return found


def describe(pid: int) -> str:
    """A short name for a process, from its command line."""
    try:
        words = (PROC / str(pid) / "cmdline").read_bytes().decode(errors="replace").split("\0")
    except OSError:
        return f"pid {pid}"
    text = " ".join(word for word in words if word)
    for needle, name in (
        ("emulators.moto_server", "the AWS emulator"),
        ("streamlit", "the dashboard"),
        ("awslambdaric", "a Lambda environment"),
        ("pipeline.cli", "a csvpipe stack"),
    ):
        if needle in text:
            return f"{name} (pid {pid})"
    return f"{text[:60]} (pid {pid})"


@dataclass(frozen=True)
class Found:
    leftovers: list[int]  # children whose stack is gone
    stacks: list[int]  # detached stack processes of this folder, running (perhaps still starting)


def find(state_dir: Path) -> Found:
    """The processes of the stack kept in ``state_dir``: leftovers and running stack processes."""
    if not PROC.is_dir():
        return Found([], [])
    wanted = str(state_dir.resolve())
    mine = _ancestors()
    leftovers, stacks = [], []
    for entry in PROC.iterdir():
        if not entry.name.isdigit() or int(entry.name) in mine:
            continue
        env = _environ(int(entry.name))
        if env.get(STACK_DIR) != wanted:
            continue
        owner = env.get(STACK_OWNER)
        if owner is None:
            if identity(int(entry.name)) is not None:
                stacks.append(int(entry.name))
        elif not alive(owner) and identity(int(entry.name)) is not None:
            leftovers.append(int(entry.name))
    return Found(sorted(leftovers), sorted(stacks))


def end(pids: list[int], grace_s: float = 5.0) -> list[int]:
    """SIGTERM each process, then SIGKILL what still runs after ``grace_s``; the pids ended."""
    marks = {pid: identity(pid) for pid in pids}
    marks = {pid: mark for pid, mark in marks.items() if mark is not None}
    for pid in marks:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while any(alive(mark) for mark in marks.values()) and time.monotonic() < deadline:
        time.sleep(0.05)  # waiting for other processes to exit; bounded by grace_s
    for pid, mark in marks.items():
        if alive(mark):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    return sorted(marks)


def mark_children(state_dir: Path) -> dict[str, str | None]:
    """Put the markers in this process's environment, for the processes it starts from now on;
    returns the previous values, for ``unmark``."""
    previous = {name: os.environ.get(name) for name in (STACK_DIR, STACK_OWNER)}
    os.environ[STACK_DIR] = str(state_dir.resolve())
    me = identity(os.getpid())
    if me is not None:
        os.environ[STACK_OWNER] = me
    return previous


def unmark(previous: dict[str, str | None]) -> None:
    for name, value in previous.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
