"""The embedded emulator's write-ahead journal: one append-only file of JSON lines, plus a folder
of request bodies too large to sit in a line.

Why: moto keeps its state in memory, and periodic snapshots lose what was acknowledged since the
last one (a ``kill -9`` lost 28 acknowledged uploads). Here every acknowledged write is a record
in this file, fsynced before the emulator answers; starting again replays the records
(emulators.durable). Records are plain dictionaries: this module only stores them in order,
makes them durable (one fsync shared by the writers that wait at the same moment), reads them
back, and swaps in a compacted journal atomically.

Crash safety, by construction:
- a record is one ``write`` of one line; a line cut by a crash (no newline, or not JSON) can only
  be the last, was never acknowledged, and is cut off when the journal is opened again;
- a body file is written and fsynced before the line that names it, so a line never names a
  missing body; bodies that no line names (a request cut by a crash, or records a compaction
  dropped) are removed when the journal is opened;
- a compaction writes a new file beside the journal, fsyncs it and renames it over the journal
  (then fsyncs the folder): at any instant the journal is either the old file or the new one,
  so nothing is lost and nothing applied twice.
"""

from __future__ import annotations

import base64
import json
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

LOG = "journal.log"
BODIES = "bodies"
# Bodies up to this size travel inside their record's line (base64); larger ones get a file.
INLINE_BODY = 64 * 1024


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _line(record: dict[str, Any]) -> bytes:
    return json.dumps(record, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"


def _valid_prefix(data: bytes) -> tuple[list[dict[str, Any]], int]:
    """The records of the journal's complete lines, and the length in bytes they take."""
    records: list[dict[str, Any]] = []
    end = 0
    while True:
        newline = data.find(b"\n", end)
        if newline < 0:
            break
        try:
            records.append(json.loads(data[end:newline]))
        except ValueError:
            break  # a torn line: only the last can be, and it was never acknowledged
        end = newline + 1
    return records, end


class Journal:
    """An append-only journal in ``folder``. ``append`` puts records in order (in the page cache);
    ``sync`` returns once every record appended before it is on disk."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.bodies = folder / BODIES
        self.bodies.mkdir(parents=True, exist_ok=True)
        self.path = folder / LOG
        data = self.path.read_bytes() if self.path.exists() else b""
        self._records, valid = _valid_prefix(data)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o644)
        if valid != len(data):
            os.ftruncate(self._fd, valid)
        os.lseek(self._fd, 0, os.SEEK_END)
        os.fsync(self._fd)
        _fsync_folder(folder)
        _fsync_folder(folder.parent)  # the folder itself may be new
        self._sweep(self._records)
        self._write_lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._written = 0  # records appended since the journal was opened
        self._durable = 0
        self.appended_since_compaction = 0

    # Reading -----------------------------------------------------------------------------------

    def records(self) -> list[dict[str, Any]]:
        """The records found when the journal was opened (what a replay applies)."""
        return list(self._records)

    def read_body(self, record: dict[str, Any]) -> bytes | Path | None:
        """A record's body: bytes when it is inline, the file's path when it has one."""
        if record.get("body") is not None:
            return base64.b64decode(record["body"])
        if record.get("body_file"):
            return self.bodies / record["body_file"]
        return None

    # Writing -----------------------------------------------------------------------------------

    def new_body_path(self) -> Path:
        """Where a request's body may be spooled; kept only if a record names it."""
        return self.bodies / f"{uuid.uuid4().hex}.bin"

    def seal_body(self, body: bytes | Path) -> bytes | Path:
        """Make a body durable before its record is appended: a small one stays bytes (it goes
        inline), a large one becomes a file, fsynced with its folder entry."""
        if isinstance(body, bytes) and len(body) <= INLINE_BODY:
            return body
        if isinstance(body, bytes):
            path = self.new_body_path()
            with path.open("wb") as fh:
                fh.write(body)
        else:
            path = body
        with path.open("rb+") as fh:
            os.fsync(fh.fileno())
        _fsync_folder(self.bodies)
        return path

    @staticmethod
    def attach_body(record: dict[str, Any], body: bytes | Path | None) -> None:
        """Name a sealed body in ``record`` (no I/O: ``seal_body`` did it)."""
        if isinstance(body, Path):
            record["body_file"] = body.name
        elif body:
            record["body"] = base64.b64encode(body).decode()

    def append(self, records: list[dict[str, Any]]) -> int:
        """Append ``records`` in order; the number to pass to ``sync``."""
        data = b"".join(_line(record) for record in records)
        with self._write_lock:
            start = os.lseek(self._fd, 0, os.SEEK_CUR)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(self._fd, view) :]
            except OSError:
                # A disk full mid-line: cut the line off, or it would hide every later record.
                os.ftruncate(self._fd, start)
                os.lseek(self._fd, start, os.SEEK_SET)
                raise
            self._written += len(records)
            self.appended_since_compaction += len(records)
            return self._written

    def sync(self, upto: int) -> None:
        """Return once the first ``upto`` records appended are on disk (one fsync serves every
        writer waiting at the same moment)."""
        if self._durable >= upto:
            return
        with self._sync_lock:
            if self._durable >= upto:
                return
            with self._write_lock:
                target, fd = self._written, self._fd
            os.fsync(fd)
            self._durable = max(self._durable, target)

    # Compaction --------------------------------------------------------------------------------

    def compact(self, keep: Callable[[list[dict[str, Any]]], list[dict[str, Any]]]) -> tuple[int, int]:
        """Rewrite the journal as ``keep(records)`` of its records so far, without stopping
        writers for more than the copy of what they appended meanwhile. (records before,
        records after)."""
        with self._write_lock:
            size = os.lseek(self._fd, 0, os.SEEK_END)
            self.appended_since_compaction = 0
        with self.path.open("rb") as fh:
            prefix = fh.read(size)
        records, _ = _valid_prefix(prefix)
        kept = keep(records)
        temporary = self.folder / f"{LOG}.compacting"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        try:
            os.write(fd, b"".join(_line(record) for record in kept))
            with self._sync_lock, self._write_lock:
                with self.path.open("rb") as fh:
                    fh.seek(size)
                    tail = fh.read()
                os.write(fd, tail)
                os.fsync(fd)
                os.replace(temporary, self.path)
                _fsync_folder(self.folder)
                os.close(self._fd)
                self._fd = fd
                self._durable = self._written
        except BaseException:
            os.close(fd)
            temporary.unlink(missing_ok=True)
            raise
        named = {record["body_file"] for record in kept if record.get("body_file")}
        for record in records:
            if record.get("body_file") and record["body_file"] not in named:
                (self.bodies / record["body_file"]).unlink(missing_ok=True)
        return len(records), len(kept)

    def _sweep(self, records: list[dict[str, Any]]) -> None:
        """At opening: remove body files no record names (requests a crash cut short, or
        records a compaction dropped just before a crash) and a compaction's unfinished file."""
        named = {record["body_file"] for record in records if record.get("body_file")}
        for path in self.bodies.iterdir():
            if path.name not in named:
                path.unlink(missing_ok=True)
        (self.folder / f"{LOG}.compacting").unlink(missing_ok=True)

    def close(self) -> None:
        os.close(self._fd)


def iter_records(folder: Path) -> Iterator[dict[str, Any]]:
    """The records of the journal in ``folder`` (for tools and tests), without opening it."""
    path = folder / LOG
    if path.exists():
        yield from _valid_prefix(path.read_bytes())[0]
