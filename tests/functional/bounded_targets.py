"""Work for the bounded-work tests to run in a child process (it must be importable there)."""

from __future__ import annotations

import time

from pipeline.errors import CatalogError

MIB = 1024 * 1024


def hold_memory(megabytes: int) -> int:
    """Touch ``megabytes`` MiB a MiB at a time, hold them a moment; their size."""
    held = []
    for _ in range(megabytes):
        held.append(bytearray(b"x" * MIB))
        time.sleep(0.001)  # paced, so the parent's sampling sees the growth before the end
    time.sleep(0.2)
    return sum(len(block) for block in held)


def fail(message: str) -> None:
    raise CatalogError(message)
