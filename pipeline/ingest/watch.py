"""The watched folder: every ``.csv`` or ``.csv.gz`` dropped into the inbox (``data/inbox/`` by
default) is uploaded to the raw bucket once it is completely written, then moved to ``.done/``;
a file that cannot be uploaded moves to ``.failed/`` with an ``.error.txt`` beside it.

Why polling: it works the same on every platform and on folders mounted into containers, where
file-system events often never arrive. A file is complete when its size and modification time
have not changed for ``watch_settle_ms`` and, where the system can tell (Linux's ``/proc``), no
process holds it open for writing: a writer that pauses longer than the settle time keeps its
file. Exactly once: before uploading, the file's MD5 is compared with the ETag of the object
already at its key (S3's ETag of a single PUT is the MD5 of its content), so the same content
is never uploaded twice, even across restarts. Files dropped while the watcher was down are
found by its first scan. A file moves to ``.done/`` only after the store acknowledged it.

What it never does:
- follow a symbolic link: a link (to a file or a folder) goes to ``.failed/`` as a link, its
  target never read; files are opened component by component with ``O_NOFOLLOW``, so a link
  swapped in after the scan is refused too.
- overwrite an earlier upload: a path that comes back with other content is a new delivery,
  uploaded beside the earlier object under ``<name>.<12 hex of its MD5>.csv`` (the same for
  every retry, so a crash between upload and move never makes a second copy); the PUT carries
  ``If-None-Match: *``. If its first line is not the earlier file's header, it looks like the
  rest of a file its writer paused in, and goes to ``.failed/`` instead of being read with a
  data row as its header.
- retry forever: a refusal about the file itself (a name the store rejects, a link, a file that
  cannot be read) fails it at once; faults of the endpoint (connection refused while the
  emulator restarts, 5xx, throttling, a bucket not made yet) are retried with a growing pause,
  within a bounded time and number of tries, then the file goes to ``.failed/``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, BinaryIO

from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from pipeline import layout
from pipeline.errors import failure_text
from pipeline.ingest.writers import open_for_writing
from pipeline.settings import Settings
from pipeline.storage import error_code, head

# Partial downloads, office lock files, editor swap and backup files: never data.
IGNORED_PREFIXES = (".", "~$", ".~lock")
IGNORED_SUFFIXES = (".part", ".crdownload", ".tmp", ".swp", ".swx", "~", ".download", ".partial")

# Refusals that are not about the file: the endpoint, the bucket, credentials, a race on the
# key. Tried again within the retry budget; any other 4xx is about the file and fails it.
TRANSIENT_CODES = frozenset(
    {
        "NoSuchBucket",
        "RequestTimeout",
        "SlowDown",
        "Throttling",
        "ThrottlingException",
        "ServiceUnavailable",
        "InternalError",
        "RequestTimeTooSkewed",
        "AccessDenied",
        "InvalidAccessKeyId",
        "ExpiredToken",
        "SignatureDoesNotMatch",
        "PreconditionFailed",  # another writer made the key between our look and our PUT
        "ConditionalRequestConflict",
    }
)
# How much of a file's start is read to find its header line.
HEADER_PEEK = 1 << 20

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


def delivery_key(key: str, md5: str) -> str:
    """The key of a later delivery of the same path, beside the first one and named by its
    content, so retries land on the same key: ``movies/a.csv`` -> ``movies/a.<12 hex>.csv``."""
    path = PurePosixPath(key)
    stem = layout.strip_csv_suffix(path.name)
    return str(path.with_name(f"{stem}.{md5[:12]}{path.name[len(stem) :]}"))


def first_line(start: bytes, gzipped: bool) -> bytes:
    """The first line (without its end) of a file whose first bytes are ``start``."""
    if gzipped:
        try:
            start = zlib.decompressobj(wbits=47).decompress(start, HEADER_PEEK)
        except zlib.error:
            return b""
    return start.split(b"\n", 1)[0].rstrip(b"\r")


def is_transient(exc: BaseException) -> bool:
    """Whether an upload error is the endpoint's (try again later) rather than the file's."""
    if isinstance(exc, ClientError):
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        return error_code(exc) in TRANSIENT_CODES or status >= 500 or status == 429
    # Connection refused or reset, timeouts; a parameter botocore refuses is about the file.
    return isinstance(exc, BotoCoreError) and not isinstance(exc, ParamValidationError)


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
class RetryPolicy:
    """How long endpoint faults are retried: pauses doubling from ``first_delay_s`` up to
    ``max_delay_s``, at most ``max_tries`` tries within ``give_up_after_s`` of the first
    failure (long enough for the stack to restart its emulator on a large restore)."""

    first_delay_s: float = 1.0
    max_delay_s: float = 60.0
    max_tries: int = 20
    give_up_after_s: float = 900.0

    def delay_s(self, tries: int) -> float:
        return min(self.max_delay_s, self.first_delay_s * 2 ** max(tries - 1, 0))


@dataclass
class Pending:
    """A file whose upload failed for a transient reason: when to try it again."""

    tries: int
    first_failure_ns: int
    next_try_ns: int


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
            return f"not uploaded yet {self.relative}: {self.error}"
        beside = f" (moved to {self.moved_to}, reason in {self.moved_to}.error.txt)" if self.moved_to else ""
        return f"FAILED {self.relative}: {self.error}{beside}"


@dataclass
class Scan:
    """One look at the inbox: candidate files with their (size, mtime), symbolic links (never
    followed: relative path -> "file" or "folder") and folders that could not be read."""

    files: Snapshot = field(default_factory=dict)
    links: dict[str, str] = field(default_factory=dict)
    unreadable: dict[str, str] = field(default_factory=dict)


def scan(inbox: Path, excluded: tuple[Path, ...]) -> Scan:
    """Look at ``inbox`` without following any link (``lstat`` only; ``os.walk`` does not
    enter linked folders)."""
    found = Scan()

    def refused(error: OSError) -> None:
        folder = Path(error.filename or inbox)
        relative = folder.relative_to(inbox).as_posix() if folder.is_relative_to(inbox) else str(folder)
        found.unreadable[relative] = error.strerror or str(error)

    for folder, dirs, names in os.walk(inbox, onerror=refused):
        base = Path(folder)
        kept = []
        for d in dirs:
            if d.startswith(IGNORED_PREFIXES) or any((base / d).is_relative_to(x) for x in excluded):
                continue
            if (base / d).is_symlink():
                found.links[(base / d).relative_to(inbox).as_posix()] = "folder"
                continue
            kept.append(d)
        dirs[:] = kept
        for name in names:
            path = base / name
            relative = path.relative_to(inbox).as_posix()
            if not is_candidate(relative):
                continue
            try:
                info = path.lstat()
            except FileNotFoundError:  # moved or deleted while scanning
                continue
            if stat.S_ISLNK(info.st_mode):
                found.links[relative] = "file"
            elif stat.S_ISREG(info.st_mode):  # not a FIFO, socket or device: those would block
                found.files[relative] = (info.st_size, info.st_mtime_ns)
    return found


def open_in(inbox: Path, relative: str) -> BinaryIO:
    """Open ``inbox/relative`` for reading without following a link at any step, so a link
    swapped in after the scan is refused (``OSError``) rather than read; only regular files."""
    nofollow = getattr(os, "O_NOFOLLOW", 0)
    parts = PurePosixPath(relative).parts
    if os.open in os.supports_dir_fd and nofollow:
        dir_fd = os.open(inbox, os.O_RDONLY | os.O_DIRECTORY)
        try:
            for part in parts[:-1]:
                step = os.open(part, os.O_RDONLY | os.O_DIRECTORY | nofollow, dir_fd=dir_fd)
                os.close(dir_fd)
                dir_fd = step
            fd = os.open(parts[-1], os.O_RDONLY | nofollow | os.O_NONBLOCK, dir_fd=dir_fd)
        finally:
            os.close(dir_fd)
    else:  # no openat: check each step, then open (a narrow race remains on such systems)
        path = inbox
        for part in parts:
            path = path / part
            if path.is_symlink():
                raise OSError(f"{path} is a symbolic link")
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_BINARY", 0))
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{inbox / relative} is not a regular file")
    return os.fdopen(fd, "rb")


def md5_of(fh: BinaryIO) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    fh.seek(0)
    while chunk := fh.read(1024 * 1024):
        digest.update(chunk)
    return digest.hexdigest()


def _move(path: Path, folder: Path, relative: str) -> Path:
    """Move into ``folder`` keeping the sub-folders; never overwrite an earlier file there."""
    target = folder / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() or target.is_symlink():
        stamp = time.strftime("%Y%m%dT%H%M%S")
        target = target.with_name(f"{target.name}.{stamp}-{time.monotonic_ns() % 10**6}")
    shutil.move(str(path), target)
    return target


class Fragment(Exception):
    """A file at a path taken before whose first line is not that earlier file's header."""


class Refused(Exception):
    """An upload the store answered in a way that does not prove it holds the file."""


class Watcher:
    """Uploads the inbox's complete files to the raw bucket, each content once."""

    def __init__(
        self,
        settings: Settings,
        s3: Any,
        inbox: Path | None = None,
        retry: RetryPolicy | None = None,
    ) -> None:
        self.settings = settings
        self.s3 = s3
        self.inbox = inbox or settings.inbox_dir
        self.done_dir = self.inbox / settings.watch_done_folder
        self.failed_dir = self.inbox / settings.watch_failed_folder
        self.settle = Settle(settings.watch_settle_ms * 1_000_000)
        self.retry = retry or RetryPolicy()
        self.pending: dict[str, Pending] = {}  # files waiting to be tried again
        self.unreadable: dict[str, str] = {}  # folders reported as unreadable, until readable again
        self.failed_links: set[str] = set()  # links that could not even be moved: reported once
        # Files that changed while being uploaded: the key holding their partial upload, which
        # the next try overwrites (the only case where the watcher replaces an object).
        self.rewrite: dict[str, str] = {}

    def poll(self, now_ns: int | None = None) -> list[Outcome]:
        """One look at the inbox: handle every file that has stopped changing."""
        now = time.monotonic_ns() if now_ns is None else now_ns
        self.inbox.mkdir(parents=True, exist_ok=True)
        found = scan(self.inbox, (self.done_dir, self.failed_dir))
        # Each unreadable folder is reported once, not at every poll.
        outcomes = [
            Outcome(folder, "unreadable", error=reason)
            for folder, reason in sorted(found.unreadable.items())
            if self.unreadable.get(folder) != reason
        ]
        self.unreadable = found.unreadable
        for relative, kind in sorted(found.links.items()):
            if relative not in self.failed_links:
                outcomes.append(self._link(relative, kind))
        self.failed_links &= found.links.keys()
        for gone in self.pending.keys() - found.files.keys():
            del self.pending[gone]
        ready = [
            relative
            for relative in self.settle.observe(found.files, now)
            if relative not in self.pending or self.pending[relative].next_try_ns <= now
        ]
        held = open_for_writing([self.inbox / relative for relative in ready]) if ready else set()
        for relative in ready:
            if held and self.inbox / relative in held:
                continue  # its writer has only paused: it stays until closed
            outcome = self._handle(relative, found.files[relative], now)
            if outcome is not None:
                outcomes.append(outcome)
                if outcome.status != "retry":
                    self.settle.forget(relative)
                    self.pending.pop(relative, None)
                    self.rewrite.pop(relative, None)
        return outcomes

    def _link(self, relative: str, kind: str) -> Outcome:
        path = self.inbox / relative
        try:
            target = os.readlink(path)
        except OSError:
            target = "?"
        what = "a symbolic link to a folder" if kind == "folder" else "a symbolic link"
        outcome = self._fail(
            path,
            relative,
            raw_key_for(relative) if kind == "file" else None,
            f"{what} (to {target}): links are never followed, so nothing was read or uploaded; "
            "copy the file itself into the inbox",
        )
        if outcome.moved_to is None:
            self.failed_links.add(relative)
        return outcome

    def _handle(self, relative: str, state: tuple[int, int], now: int) -> Outcome | None:
        path = self.inbox / relative
        key = raw_key_for(relative)
        bucket = self.settings.raw_bucket
        try:
            with open_in(self.inbox, relative) as fh:
                info = os.fstat(fh.fileno())
                if (info.st_size, info.st_mtime_ns) != state:
                    return None  # changed since the look: it settles again first
                digest = md5_of(fh)
                key, status = self._choose_key(relative, key, fh, digest)
                etag = digest  # what the store holds at the key, once uploaded
                if status == "upload":
                    fh.seek(0)
                    # A new key is only ever created, never replaced (If-None-Match), except
                    # our own partial upload of this very file.
                    condition = {} if relative in self.rewrite else {"IfNoneMatch": "*"}
                    response = self.s3.put_object(
                        Bucket=bucket,
                        Key=key,
                        Body=fh,
                        ContentType="application/gzip" if key.lower().endswith(".gz") else "text/csv",
                        **condition,
                    )
                    etag = str(response["ETag"]).strip('"')
                    status = "uploaded"
                after = os.fstat(fh.fileno())
                if (after.st_size, after.st_mtime_ns) != state:
                    # Written to while being read: it settles again first, and if it was uploaded
                    # meanwhile, the next try replaces that partial upload.
                    if status == "uploaded":
                        self.rewrite[relative] = key
                    self.settle.forget(relative)
                    return None
                if etag != digest:
                    raise Refused(f"the upload's ETag {etag} is not the file's MD5 {digest}")
                current = path.lstat()
                if (current.st_dev, current.st_ino) != (info.st_dev, info.st_ino):
                    return None  # replaced by another file meanwhile: that one settles first
                # Acknowledged by the store (and its ETag checked): only now out of the inbox.
                moved = _move(path, self.done_dir, relative)
        except FileNotFoundError:
            return None  # moved away by someone else
        except (Fragment, Refused) as exc:
            return self._fail(path, relative, key, str(exc))
        except (BotoCoreError, ClientError) as exc:
            if is_transient(exc):
                return self._later(relative, key, failure_text("watch", exc), now)
            return self._fail(path, relative, key, f"the store refused it: {failure_text('watch', exc)}")
        except OSError as exc:
            if path.is_symlink():
                return self._link(relative, "file")
            inside = [parent for parent in path.parents if parent.is_relative_to(self.inbox)]
            if any(parent.is_symlink() for parent in inside if parent != self.inbox):
                return None  # a folder swapped for a link since the look: the next look reports it
            return self._fail(path, relative, key, f"cannot be read: {failure_text('watch', exc)}")
        return Outcome(relative, status, key, moved)

    def _choose_key(self, relative: str, key: str, fh: BinaryIO, digest: str) -> tuple[str, str]:
        """Where this file goes, and whether it is already there ("unchanged") or is to be
        uploaded ("upload"). Raises ``Fragment`` for the rest of a file taken before."""
        bucket = self.settings.raw_bucket
        if relative in self.rewrite:  # our own partial upload of this file: replaced
            key = self.rewrite[relative]
            existing = head(self.s3, bucket, key)
            return key, "unchanged" if existing is not None and existing[1] == digest else "upload"
        existing = head(self.s3, bucket, key)
        if existing is None:
            return key, "upload"
        if existing[1] == digest:
            return key, "unchanged"
        # The path was taken before with other content: a new delivery, beside the first.
        fh.seek(0)
        gzipped = key.lower().endswith(".gz")
        mine = first_line(fh.read(HEADER_PEEK), gzipped)
        earlier_start = self.s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{HEADER_PEEK - 1}")
        earlier = first_line(earlier_start["Body"].read(), gzipped)
        if mine != earlier:
            raise Fragment(
                f"this path was uploaded before as s3://{bucket}/{key}, whose header is "
                f"{_shown(earlier)}, but this file starts with {_shown(mine)}: it looks like the rest "
                "of a file its writer paused in, so it is not uploaded (its first row would be read "
                "as a header). If it is a new file with another header, drop it under a new name; "
                "if it is the rest, add it to the earlier file and drop the whole under a new name"
            )
        later = delivery_key(key, digest)
        again = head(self.s3, bucket, later)
        if again is not None and again[1] == digest:
            return later, "unchanged"
        return later, "upload"

    def _later(self, relative: str, key: str, error: str, now: int) -> Outcome:
        """An endpoint fault: try again after a pause, or give up once the budget is spent."""
        policy = self.retry
        pending = self.pending.get(relative) or Pending(0, now, now)
        pending.tries += 1
        spent_s = (now - pending.first_failure_ns) / 1e9
        if pending.tries >= policy.max_tries or spent_s >= policy.give_up_after_s:
            self.pending.pop(relative, None)
            return self._fail(
                self.inbox / relative,
                relative,
                key,
                f"gave up after {pending.tries} tries over {spent_s:.0f} s: {error}; "
                "move it back into the inbox to try again",
            )
        delay = policy.delay_s(pending.tries)
        pending.next_try_ns = now + int(delay * 1e9)
        self.pending[relative] = pending
        return Outcome(
            relative,
            "retry",
            key,
            None,
            f"{error}; try {pending.tries} of at most {policy.max_tries}, next in {delay:.0f} s",
        )

    def _fail(self, path: Path, relative: str, key: str | None, error: str) -> Outcome:
        """A file that cannot be uploaded as it is: out of the inbox, with the reason beside it."""
        moved: Path | None = None
        try:
            moved = _move(path, self.failed_dir, relative)
            moved.with_name(moved.name + ".error.txt").write_text(
                f"{key or relative}: {error}\n", encoding="utf-8"
            )
        except OSError as move_error:
            error += f" (and it could not be moved to {self.failed_dir}: {move_error})"
        return Outcome(relative, "failed", key, moved, error)

    def run(self, on_outcome: Callable[[Outcome], None], should_stop: Callable[[], bool]) -> None:
        """Poll until ``should_stop()``; every ``watch_poll_ms``."""
        while not should_stop():
            for outcome in self.poll():
                on_outcome(outcome)
            time.sleep(self.settings.watch_poll_ms / 1000)


def _shown(line: bytes, limit: int = 60) -> str:
    text = line.decode("utf-8", "replace")
    return repr(text if len(text) <= limit else text[:limit] + "…")
