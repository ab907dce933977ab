"""Whether some process still holds a file open for writing, so the watched folder never takes a
file its writer has only paused in.

Why it exists: a quiet period (the settle time) cannot tell a finished file from a writer that
pauses longer than that period; the first part would be uploaded and the rest would come back
as a header-less fragment. On Linux, ``/proc/<pid>/fd`` lists every process's open files and
``/proc/<pid>/fdinfo`` their open flags, so "no one has it open for writing" can be checked
directly, with no dependency and no event subscription to miss. Processes of other users are
not visible to an unprivileged watcher, and other systems have no ``/proc``: there the settle
time remains the only signal (``None`` below means "cannot tell").
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

PROC = Path("/proc")


def _writing(fdinfo: Path) -> bool:
    """Whether the descriptor described by ``fdinfo`` was opened for writing."""
    try:
        for line in fdinfo.read_text().splitlines():
            if line.startswith("flags:"):
                return int(line.split()[1], 8) & os.O_ACCMODE in (os.O_WRONLY, os.O_RDWR)
    except (OSError, ValueError, IndexError):
        return False  # the descriptor closed while we looked: not a writer any more
    return False


def open_for_writing(paths: Iterable[Path], proc: Path = PROC) -> set[Path] | None:
    """The ``paths`` that a visible process holds open for writing, or ``None`` when this system
    cannot tell (no ``/proc``). One pass over every process's descriptors (a few milliseconds on
    a desktop), so callers ask once per look at the folder, for the files about to be taken."""
    if not (proc / "self" / "fd").is_dir():
        return None
    wanted = {os.path.realpath(path): path for path in paths}
    if not wanted:
        return set()
    held: set[Path] = set()
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        fd_dir = proc / pid / "fd"
        try:
            descriptors = os.listdir(fd_dir)
        except OSError:  # gone, or another user's process
            continue
        for fd in descriptors:
            try:
                target = os.readlink(fd_dir / fd)
            except OSError:
                continue
            path = wanted.get(target)
            if path is not None and path not in held and _writing(proc / pid / "fdinfo" / fd):
                held.add(path)
    return held
