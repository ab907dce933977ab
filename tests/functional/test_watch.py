"""The watched folder against the real emulator: complete files only, each content once, kept
sub-folders, ignored temporary files, failures set aside with their reason.

The raw bucket is versioned here, so each PUT leaves a version: "exactly once" is counted, not
assumed."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from pipeline.aws import Clients
from pipeline.ingest.watch import Outcome, Watcher
from pipeline.settings import replace

SETTLE_MS = 300


@pytest.fixture
def watched(clients: Clients, tmp_path: Path) -> tuple[Watcher, Path]:
    settings = replace(clients.settings, watch_settle_ms=SETTLE_MS)
    clients.s3.put_bucket_versioning(
        Bucket=settings.raw_bucket, VersioningConfiguration={"Status": "Enabled"}
    )
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    return Watcher(settings, clients.s3, inbox), inbox


def poll_until(watcher: Watcher, done: int, seconds: float = 30) -> list[Outcome]:
    """Poll as the watcher's loop does until ``done`` files were handled; the deadline keeps a
    broken watcher from hanging the test."""
    outcomes: list[Outcome] = []
    deadline = time.monotonic() + seconds
    while len(outcomes) < done:
        assert time.monotonic() < deadline, f"only {len(outcomes)} of {done} files handled: {outcomes}"
        outcomes += watcher.poll()
        time.sleep(0.05)
    return outcomes


def versions(watcher: Watcher) -> Counter[str]:
    listed = watcher.s3.list_object_versions(Bucket=watcher.settings.raw_bucket).get("Versions", [])
    return Counter(version["Key"] for version in listed)


def test_names_with_spaces_unicode_and_sub_folders(watched: tuple[Watcher, Path]) -> None:
    watcher, inbox = watched
    files = {
        "movies.csv": "movies/movies.csv",
        "Films à voir 2024.csv": "films_a_voir_2024/Films à voir 2024.csv",
        "movies/year=1995/a + b.csv": "movies/year=1995/a + b.csv",
        "movies/日本映画.csv.gz": "movies/日本映画.csv.gz",
    }
    for relative in files:
        (inbox / relative).parent.mkdir(parents=True, exist_ok=True)
        (inbox / relative).write_bytes(f"id,title\n1,{relative}\n".encode())

    outcomes = poll_until(watcher, len(files))

    assert {o.relative: (o.status, o.key) for o in outcomes} == {r: ("uploaded", k) for r, k in files.items()}
    assert versions(watcher) == Counter(files.values())
    for relative, key in files.items():
        body = watcher.s3.get_object(Bucket=watcher.settings.raw_bucket, Key=key)["Body"].read()
        assert body == f"id,title\n1,{relative}\n".encode()
        assert (watcher.done_dir / relative).read_bytes() == body
        assert not (inbox / relative).exists()


def test_the_same_content_is_uploaded_once_and_a_change_again(watched: tuple[Watcher, Path]) -> None:
    watcher, inbox = watched
    (inbox / "a.csv").write_text("id\n1\n")
    assert [o.status for o in poll_until(watcher, 1)] == ["uploaded"]
    (inbox / "a.csv").write_text("id\n1\n")  # dropped again, same bytes
    assert [o.status for o in poll_until(watcher, 1)] == ["unchanged"]
    (inbox / "a.csv").write_text("id\n2\n")
    assert [o.status for o in poll_until(watcher, 1)] == ["uploaded"]
    assert versions(watcher) == Counter({"a/a.csv": 2})
    done = sorted(p.name for p in (watcher.done_dir / "").iterdir())
    assert len(done) == 3 and done[0] == "a.csv"  # earlier copies kept under new names


def test_a_slowly_written_file_is_uploaded_once_complete(watched: tuple[Watcher, Path]) -> None:
    watcher, inbox = watched
    chunks = [b"id,title\n"] + [f"{i},film {i}\n".encode() * 2000 for i in range(12)]
    target = inbox / "slow.csv"

    def write_slowly() -> None:
        with target.open("wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
                fh.flush()
                time.sleep(SETTLE_MS / 1000 / 3)  # pauses shorter than the settle time

    writer = threading.Thread(target=write_slowly)
    writer.start()
    outcomes = poll_until(watcher, 1)
    writer.join()
    assert [o.status for o in outcomes] == ["uploaded"]
    body = watcher.s3.get_object(Bucket=watcher.settings.raw_bucket, Key="slow/slow.csv")["Body"].read()
    assert body == b"".join(chunks)
    assert versions(watcher) == Counter({"slow/slow.csv": 1})


def test_a_hundred_files_at_once_each_once(watched: tuple[Watcher, Path]) -> None:
    watcher, inbox = watched
    for i in range(100):
        (inbox / "batch").mkdir(exist_ok=True)
        (inbox / "batch" / f"part {i:03}.csv").write_text(f"id\n{i}\n")
    outcomes = poll_until(watcher, 100)
    assert Counter(o.status for o in outcomes) == {"uploaded": 100}
    assert versions(watcher) == Counter({f"batch/part {i:03}.csv": 1 for i in range(100)})


def test_temporary_and_hidden_files_are_left_alone(watched: tuple[Watcher, Path]) -> None:
    watcher, inbox = watched
    ignored = ["a.csv.part", "b.csv.crdownload", "~$c.csv", ".d.csv", "e.txt", ".~lock.f.csv#"]
    for name in [*ignored, "g.csv"]:
        (inbox / name).write_text("id\n1\n")
    outcomes = poll_until(watcher, 1)
    time.sleep(SETTLE_MS / 1000 * 2)  # let the ignored files settle too: they must still be ignored
    outcomes += watcher.poll()
    assert [o.relative for o in outcomes] == ["g.csv"]
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == sorted(ignored)


def test_files_dropped_while_the_watcher_was_down_are_picked_up(watched: tuple[Watcher, Path]) -> None:
    watcher, inbox = watched
    (inbox / "early.csv").write_text("id\n1\n")
    restarted = Watcher(watcher.settings, watcher.s3, inbox)  # a new process: no memory of the folder
    assert [o.relative for o in poll_until(restarted, 1)] == ["early.csv"]


def test_an_unreachable_bucket_leaves_the_file_to_retry(watched: tuple[Watcher, Path]) -> None:
    watcher, inbox = watched
    missing = Watcher(replace(watcher.settings, raw_bucket="no-such-bucket-here"), watcher.s3, inbox)
    (inbox / "a.csv").write_text("id\n1\n")
    (outcome,) = poll_until(missing, 1)
    assert outcome.status == "retry" and "NoSuchBucket" in (outcome.error or "")
    assert (inbox / "a.csv").exists()  # not the file's fault: it stays


def test_unreadable_files_move_to_failed_with_their_reason(watched: tuple[Watcher, Path]) -> None:
    watcher, inbox = watched
    (inbox / "loop.csv").symlink_to("loop.csv")  # reading it fails: too many levels of links
    (inbox / "dangling.csv").symlink_to("no-such-file.csv")
    outcomes = {o.relative: o for o in poll_until(watcher, 2)}
    assert {name: o.status for name, o in outcomes.items()} == {
        "loop.csv": "failed",
        "dangling.csv": "failed",
    }
    for name, words in (
        ("loop.csv", "Too many levels of symbolic links"),
        ("dangling.csv", "a link to nothing"),
    ):
        moved = outcomes[name].moved_to
        assert moved == watcher.failed_dir / name and moved.is_symlink()
        assert words in (watcher.failed_dir / f"{name}.error.txt").read_text()
        assert not (inbox / name).is_symlink()
    assert versions(watcher) == Counter()
