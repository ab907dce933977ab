"""The watched folder: every ``.csv`` or ``.csv.gz`` dropped into the inbox (``data/inbox/`` by
default) is uploaded to the raw bucket once it is completely written, then moved to ``.done/``;
a file that cannot be uploaded moves to ``.failed/`` with an ``.error.txt`` beside it.

Why polling: it works the same on every platform and on folders mounted into containers, where
file-system events often never arrive. A file is complete when its size and modification time
have not changed for ``watch_settle_ms``. Exactly once: before uploading, the file's MD5 is
compared with the ETag of the object already at its key (S3's ETag of a single PUT is the MD5
of its content), so the same content is never uploaded twice, even across restarts. Files
dropped while the watcher was down are found by its first scan.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pipeline import layout
from pipeline.errors import failure_text
from pipeline.settings import Settings
from pipeline.storage import error_code, head

# Partial downloads, office lock files, editor swap and backup files: never data.
IGNORED_PREFIXES = (".", "~$", ".~lock")
IGNORED_SUFFIXES = (".part", ".crdownload", ".tmp", ".swp", ".swx", "~", ".download", ".partial")

# S3 refusals that are about the file itself, not the endpoint: the file goes to .failed/.
FILE_ERRORS = frozenset({"EntityTooLarge", "InvalidArgument", "KeyTooLongError"})

Snapshot = dict[str, tuple[int, int]]  # relative POSIX path -> (size, mtime in ns)


def is_candidate(relative: str) -> bool:
    """Whether a file at ``relative`` (POSIX, under the inbox) is one to upload."""
    parts = PurePosixPath(relative).parts
    if any(part.startswith(IGNORED_PREFIXES) for part in parts):
        return False
    name = parts[-1].lower()
    return layout.is_csv_key(name) and not name.endswith(IGNORED_SUFFIXES)


def raw_key_for(relative: str) -> str:
    """Sub-folders become the key's prefix: ``movies/2024.csv`` -> ``movies/2024.csv``; a file
    at the top goes to its dataset's folder, as ``csvpipe run`` does: ``movies.csv`` ->
    ``movies/movies.csv``."""
    path = PurePosixPath(relative)
    if len(path.parts) == 1:
        return layout.raw_key_for_upload(path.name)
    return relative


@dataclass
class Settle:
    """Which files have stopped changing: a file is ready once its (size, mtime) has been the
    same for ``settle_ns``. Pure: the caller passes snapshots and the time."""

    settle_ns: int
    seen: dict[str, tuple[tuple[int, int], int]] = field(default_factory=dict)

    def observe(self, snapshot: Snapshot, now_ns: int) -> list[str]:
        ready = []
        for relative, state in snapshot.items():
            previous = self.seen.get(relative)
            if previous is None or previous[0] != state:
                self.seen[relative] = (state, now_ns)
            elif now_ns - previous[1] >= self.settle_ns:
                ready.append(relative)
        for gone in self.seen.keys() - snapshot.keys():
            del self.seen[gone]
        return sorted(ready)

    def forget(self, relative: str) -> None:
        self.seen.pop(relative, None)


@dataclass(frozen=True)
class Outcome:
    relative: str
    status: str  # uploaded | unchanged | failed | retry | unreadable (a folder)
    key: str | None = None
    moved_to: Path | None = None
    error: str | None = None

    def describe(self, raw_bucket: str) -> str:
        """One line for the CLI and the stack's log."""
        where = f"s3://{raw_bucket}/{self.key}"
        if self.status == "uploaded":
            return f"uploaded {self.relative} -> {where} (moved to {self.moved_to})"
        if self.status == "unchanged":
            return (
                f"already uploaded {self.relative}: {where} has the same content (moved to {self.moved_to})"
            )
        if self.status == "unreadable":
            return (
                f"CANNOT READ folder {self.relative}: {self.error}; the files in it stay where they are "
                "until it can be read (check its permissions, e.g. chmod u+rx)"
            )
        if self.status == "retry":
            return f"not uploaded yet {self.relative}: {self.error}; trying again"
        beside = f" (moved to {self.moved_to}, reason in {self.moved_to}.error.txt)" if self.moved_to else ""
        return f"FAILED {self.relative}: {self.error}{beside}"


def scan(inbox: Path, excluded: tuple[Path, ...]) -> tuple[Snapshot, dict[str, str]]:
    """Candidate files under ``inbox`` with their size and modification time, and the folders
    that could not be read (relative POSIX path, ``.`` for the inbox itself -> the OS's reason)."""
    found: Snapshot = {}
    unreadable: dict[str, str] = {}

    def refused(error: OSError) -> None:
        folder = Path(error.filename or inbox)
        relative = folder.relative_to(inbox).as_posix() if folder.is_relative_to(inbox) else str(folder)
        unreadable[relative] = error.strerror or str(error)

    for folder, dirs, names in os.walk(inbox, onerror=refused):
        base = Path(folder)
        dirs[:] = [
            d
            for d in dirs
            if not d.startswith(IGNORED_PREFIXES) and not any((base / d).is_relative_to(x) for x in excluded)
        ]
        for name in names:
            path = base / name
            relative = path.relative_to(inbox).as_posix()
            if not is_candidate(relative):
                continue
            try:
                stat = path.stat()
            except OSError:
                try:
                    stat = path.lstat()  # a broken or looping link: it fails when read, and says why
                except FileNotFoundError:  # moved or deleted while scanning
                    continue
            else:
                if not path.is_file():
                    continue
            found[relative] = (stat.st_size, stat.st_mtime_ns)
    return found, unreadable


def file_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _move(path: Path, folder: Path, relative: str) -> Path:
    """Move into ``folder`` keeping the sub-folders; never overwrite an earlier file there."""
    target = folder / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists():
        stamp = time.strftime("%Y%m%dT%H%M%S")
        target = target.with_name(f"{target.name}.{stamp}-{time.monotonic_ns() % 10**6}")
    shutil.move(str(path), target)
    return target


class Watcher:
    """Uploads the inbox's complete files to the raw bucket, each content once."""

    def __init__(self, settings: Settings, s3: Any, inbox: Path | None = None) -> None:
        self.settings = settings
        self.s3 = s3
        self.inbox = inbox or settings.inbox_dir
        self.done_dir = self.inbox / settings.watch_done_folder
        self.failed_dir = self.inbox / settings.watch_failed_folder
        self.settle = Settle(settings.watch_settle_ms * 1_000_000)
        self.unreadable: dict[str, str] = {}  # folders reported as unreadable, until readable again

    def poll(self, now_ns: int | None = None) -> list[Outcome]:
        """One look at the inbox: handle every file that has stopped changing."""
        self.inbox.mkdir(parents=True, exist_ok=True)
        snapshot, unreadable = scan(self.inbox, (self.done_dir, self.failed_dir))
        # Each unreadable folder is reported once, not at every poll.
        outcomes = [
            Outcome(folder, "unreadable", error=reason)
            for folder, reason in sorted(unreadable.items())
            if self.unreadable.get(folder) != reason
        ]
        self.unreadable = unreadable
        ready = self.settle.observe(snapshot, time.monotonic_ns() if now_ns is None else now_ns)
        for relative in ready:
            outcome = self._handle(relative, snapshot[relative])
            if outcome is not None:  # "retry" too: it waits to settle again before the next try
                self.settle.forget(relative)
                outcomes.append(outcome)
        return outcomes

    def _handle(self, relative: str, state: tuple[int, int]) -> Outcome | None:
        path = self.inbox / relative
        key = raw_key_for(relative)
        try:
            digest = file_md5(path)
            existing = head(self.s3, self.settings.raw_bucket, key)
            if existing is not None and existing[1] == digest:
                status = "unchanged"
            else:
                with path.open("rb") as body:
                    response = self.s3.put_object(
                        Bucket=self.settings.raw_bucket,
                        Key=key,
                        Body=body,
                        ContentType="application/gzip" if key.lower().endswith(".gz") else "text/csv",
                    )
                if response["ETag"].strip('"') != digest:
                    raise OSError(f"the upload's ETag {response['ETag']} is not the file's MD5 {digest}")
                status = "uploaded"
            stat = path.stat()
            if (stat.st_size, stat.st_mtime_ns) != state:
                return None  # written to while uploading: the next poll takes the new content
            moved = _move(path, self.done_dir, relative)
        except FileNotFoundError as exc:
            if path.is_symlink():
                return self._fail(path, relative, key, f"a link to nothing: {exc}")
            return None  # moved away by someone else
        except (BotoCoreError, ClientError) as exc:
            if not isinstance(exc, ClientError) or error_code(exc) not in FILE_ERRORS:
                # The endpoint is down or the bucket is missing: not the file's fault. It stays
                # where it is and is tried again once it has settled again.
                return Outcome(relative, "retry", key, None, failure_text("watch", exc))
            return self._fail(path, relative, key, failure_text("watch", exc))
        except OSError as exc:
            return self._fail(path, relative, key, failure_text("watch", exc))
        return Outcome(relative, status, key, moved)

    def _fail(self, path: Path, relative: str, key: str, error: str) -> Outcome:
        """A file that cannot be uploaded as it is: out of the inbox, with the reason beside it."""
        moved: Path | None = None
        try:
            moved = _move(path, self.failed_dir, relative)
            moved.with_name(moved.name + ".error.txt").write_text(f"{key}: {error}\n", encoding="utf-8")
        except OSError as move_error:
            error += f" (and it could not be moved to {self.failed_dir}: {move_error})"
        return Outcome(relative, "failed", key, moved, error)

    def run(self, on_outcome: Callable[[Outcome], None], should_stop: Callable[[], bool]) -> None:
        """Poll until ``should_stop()``; every ``watch_poll_ms``."""
        while not should_stop():
            for outcome in self.poll():
                on_outcome(outcome)
            time.sleep(self.settings.watch_poll_ms / 1000)
