"""Resident memory of a process tree, read from Linux's ``/proc``: how the local Lambda watches
its execution environment against the function's memory size.

Why a module of its own: AWS Lambda caps the memory of the whole execution environment (a
cgroup) and reports its peak as "Max Memory Used". Locally the environment is the awslambdaric
process and whatever it starts; this reads their resident set sizes, nothing else.

What is measured: the main process's peak resident memory (``VmHWM``, so a spike between two
samples still counts) plus the current resident memory (``VmRSS``) of its descendants, found
through ``/proc/<pid>/task/<tid>/children``. Where ``/proc`` is missing (macOS, Windows) every
reading is ``None``: memory is then neither measured nor enforced.
"""

from __future__ import annotations

import math
from pathlib import Path

PROC = Path("/proc")
MIB = 1024 * 1024


def available() -> bool:
    """True when memory can be read (Linux with ``/proc`` mounted)."""
    return (PROC / "self" / "status").is_file()


def _status_kib(pid: int, field: str) -> int | None:
    """A ``kB`` field of ``/proc/<pid>/status`` (e.g. ``VmRSS``, ``VmHWM``), in KiB."""
    try:
        text = (PROC / str(pid) / "status").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    for line in text.splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    return None  # a zombie has no memory fields


def _children(pid: int) -> list[int]:
    """Direct children of ``pid``, from every thread's ``children`` file."""
    found: list[int] = []
    try:
        tasks = list((PROC / str(pid) / "task").iterdir())
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return found
    for task in tasks:
        try:
            found.extend(int(child) for child in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


def descendants(pid: int) -> list[int]:
    """Every process below ``pid`` (children, their children, ...)."""
    result: list[int] = []
    todo = _children(pid)
    while todo:
        child = todo.pop()
        if child in result:
            continue
        result.append(child)
        todo.extend(_children(child))
    return result


def tree_bytes(pid: int) -> int | None:
    """Memory of the environment rooted at ``pid`` in bytes: the main process's peak resident
    memory plus its descendants' current resident memory; None when it cannot be read."""
    main = _status_kib(pid, "VmHWM")
    if main is None:
        return None
    others = sum(_status_kib(child, "VmRSS") or 0 for child in descendants(pid))
    return (main + others) * 1024


def to_mb(size: int) -> int:
    """Bytes as Lambda's memory megabytes (MiB), rounded up as a peak should be."""
    return math.ceil(size / MIB)


class MemoryWatch:
    """The memory of one execution environment, sampled while invocations run."""

    def __init__(self, pid: int, limit_mb: int) -> None:
        self.pid = pid
        self.limit_bytes = limit_mb * MIB
        self.peak_bytes: int | None = None

    def sample(self) -> int | None:
        """Read the environment's memory now; it raises the peak, never lowers it."""
        size = tree_bytes(self.pid)
        if size is not None:
            self.peak_bytes = size if self.peak_bytes is None else max(self.peak_bytes, size)
        return size

    @property
    def over_limit(self) -> bool:
        return self.peak_bytes is not None and self.peak_bytes > self.limit_bytes

    @property
    def peak_mb(self) -> int | None:
        return None if self.peak_bytes is None else to_mb(self.peak_bytes)
