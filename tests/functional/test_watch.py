"""The watched folder against the real emulator: complete files only, each content once, kept
sub-folders, ignored temporary files, failures set aside with their reason.

The raw bucket is versioned here, so each PUT leaves a version: "exactly once" is counted, not
assumed."""

from __future__ import annotations

import hashlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from pipeline.aws import Clients
from pipeline.ingest.watch import Outcome, RetryPolicy, Watcher, delivery_key
from pipeline.settings import Settings, replace
from tests.functional.helpers import as_unprivileged_user

# Every test here takes a second or more on a 2-core machine: left out of the quick tier.
pytestmark = pytest.mark.slow

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


def test_the_same_content_is_uploaded_once_and_a_change_is_a_new_delivery_beside_it(
    watched: tuple[Watcher, Path],
) -> None:
    watcher, inbox = watched
    bucket = watcher.settings.raw_bucket
    (inbox / "a.csv").write_text("id\n1\n")
    assert [o.status for o in poll_until(watcher, 1)] == ["uploaded"]
    (inbox / "a.csv").write_text("id\n1\n")  # dropped again, same bytes
    assert [(o.status, o.key) for o in poll_until(watcher, 1)] == [("unchanged", "a/a.csv")]
    (inbox / "a.csv").write_text("id\n2\n")  # the same path with new content: never overwrites
    later = delivery_key("a/a.csv", hashlib.md5(b"id\n2\n").hexdigest())
    assert [(o.status, o.key) for o in poll_until(watcher, 1)] == [("uploaded", later)]
    (inbox / "a.csv").write_text("id\n2\n")  # e.g. a crash between the upload and the move
    assert [(o.status, o.key) for o in poll_until(watcher, 1)] == [("unchanged", later)]
    assert versions(watcher) == Counter({"a/a.csv": 1, later: 1})
    assert watcher.s3.get_object(Bucket=bucket, Key="a/a.csv")["Body"].read() == b"id\n1\n"
    assert watcher.s3.get_object(Bucket=bucket, Key=later)["Body"].read() == b"id\n2\n"
    done = sorted(p.name for p in (watcher.done_dir / "").iterdir())
    assert len(done) == 4 and done[0] == "a.csv"  # earlier copies kept under new names


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


def test_looping_and_dangling_links_move_to_failed_as_links(watched: tuple[Watcher, Path]) -> None:
    watcher, inbox = watched
    (inbox / "loop.csv").symlink_to("loop.csv")
    (inbox / "dangling.csv").symlink_to("no-such-file.csv")
    outcomes = {o.relative: o for o in poll_until(watcher, 2)}
    assert {name: o.status for name, o in outcomes.items()} == {
        "loop.csv": "failed",
        "dangling.csv": "failed",
    }
    for name, words in (("loop.csv", "(to loop.csv)"), ("dangling.csv", "(to no-such-file.csv)")):
        moved = outcomes[name].moved_to
        assert moved == watcher.failed_dir / name and moved.is_symlink()
        reason = (watcher.failed_dir / f"{name}.error.txt").read_text()
        assert words in reason and "links are never followed" in reason
        assert not (inbox / name).is_symlink()
    assert versions(watcher) == Counter()


def test_symbolic_links_are_set_aside_and_their_targets_never_read(
    watched: tuple[Watcher, Path], tmp_path: Path
) -> None:
    watcher, inbox = watched
    secret = tmp_path / "outside" / "secret.csv"
    secret.parent.mkdir()
    secret.write_text("user,password\nroot,hunter2\n")
    (inbox / "x.csv").symlink_to(secret)
    (inbox / "linked").symlink_to(secret.parent, target_is_directory=True)
    (inbox / "real.csv").write_text("id\n1\n")

    outcomes = {o.relative: o for o in poll_until(watcher, 3)}

    assert {name: o.status for name, o in outcomes.items()} == {
        "x.csv": "failed",
        "linked": "failed",
        "real.csv": "uploaded",
    }
    for name in ("x.csv", "linked"):
        moved = outcomes[name].moved_to
        assert moved == watcher.failed_dir / name and moved.is_symlink()
        assert "symbolic link" in (watcher.failed_dir / f"{name}.error.txt").read_text()
    assert versions(watcher) == Counter({"real/real.csv": 1})
    assert secret.read_text() == "user,password\nroot,hunter2\n"  # left where it was
    assert watcher.poll() == []  # reported once


def test_a_name_the_store_refuses_fails_once_and_is_not_retried(watched: tuple[Watcher, Path]) -> None:
    watcher, inbox = watched
    (inbox / "bad\nname.csv").write_text("id\n1\n")  # PutObject answers 404 for it
    (outcome,) = poll_until(watcher, 1)
    assert outcome.status == "failed" and "the store refused it" in (outcome.error or "")
    assert (watcher.failed_dir / "bad\nname.csv").read_text() == "id\n1\n"
    assert (watcher.failed_dir / "bad\nname.csv.error.txt").exists()
    time.sleep(SETTLE_MS / 1000 * 2)  # long enough that a retry would have happened
    assert watcher.poll() == []
    assert versions(watcher) == Counter()


def closed_port_settings(settings: Settings) -> Settings:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return replace(settings, endpoint_url=f"http://127.0.0.1:{port}")


def test_an_unreachable_endpoint_is_retried_a_bounded_number_of_times(
    watched: tuple[Watcher, Path],
) -> None:
    watcher, inbox = watched
    settings = closed_port_settings(watcher.settings)
    down = Watcher(settings, Clients(settings).s3, inbox, retry=RetryPolicy(first_delay_s=0.05, max_tries=3))
    (inbox / "a.csv").write_text("id\n1\n")
    outcomes = poll_until(down, 3)
    assert [o.status for o in outcomes] == ["retry", "retry", "failed"]
    assert "connect" in (outcomes[0].error or "").lower()
    assert "gave up after 3 tries" in (outcomes[-1].error or "")
    assert not (inbox / "a.csv").exists()
    assert "gave up after 3 tries" in (down.failed_dir / "a.csv.error.txt").read_text()


def test_a_file_waits_for_its_bucket_and_goes_once_it_exists(watched: tuple[Watcher, Path]) -> None:
    watcher, inbox = watched
    bucket = f"{watcher.settings.raw_bucket}-later"
    later = Watcher(
        replace(watcher.settings, raw_bucket=bucket),
        watcher.s3,
        inbox,
        retry=RetryPolicy(first_delay_s=0.05, max_tries=100),
    )
    (inbox / "a.csv").write_text("id\n1\n")
    (first,) = poll_until(later, 1)
    assert first.status == "retry" and (inbox / "a.csv").exists()  # not acknowledged: it stays
    watcher.s3.create_bucket(Bucket=bucket)
    outcomes = poll_until(later, 1)
    while outcomes[-1].status == "retry":
        outcomes += poll_until(later, 1)
    assert outcomes[-1].status == "uploaded"
    assert watcher.s3.get_object(Bucket=bucket, Key="a/a.csv")["Body"].read() == b"id\n1\n"


def test_a_writer_that_pauses_longer_than_the_settle_time_keeps_its_file(
    watched: tuple[Watcher, Path],
) -> None:
    watcher, inbox = watched
    target = inbox / "paused.csv"
    with target.open("wb") as fh:
        fh.write(b"id,title\n1,first\n")
        fh.flush()
        pause_until = time.monotonic() + SETTLE_MS / 1000 * 4
        while time.monotonic() < pause_until:  # the writer pauses with the file open
            assert watcher.poll() == []
            time.sleep(0.05)
        fh.write(b"2,second\n")
    (outcome,) = poll_until(watcher, 1)
    assert outcome.status == "uploaded"
    body = watcher.s3.get_object(Bucket=watcher.settings.raw_bucket, Key="paused/paused.csv")["Body"].read()
    assert body == b"id,title\n1,first\n2,second\n"


def test_a_header_less_rest_of_a_file_taken_before_is_set_aside(watched: tuple[Watcher, Path]) -> None:
    watcher, inbox = watched
    target = inbox / "cut.csv"
    target.write_bytes(b"id,title\n1,first\n")
    assert [o.status for o in poll_until(watcher, 1)] == ["uploaded"]
    target.write_bytes(b"2,second\n3,third\n")  # the writer came back after its file was taken
    (outcome,) = poll_until(watcher, 1)
    assert outcome.status == "failed" and "looks like the rest of a file" in (outcome.error or "")
    assert (watcher.failed_dir / "cut.csv").read_bytes() == b"2,second\n3,third\n"
    assert versions(watcher) == Counter({"cut/cut.csv": 1})
    body = watcher.s3.get_object(Bucket=watcher.settings.raw_bucket, Key="cut/cut.csv")["Body"].read()
    assert body == b"id,title\n1,first\n"


def test_an_unreadable_file_moves_to_failed_with_its_reason(clients: Clients) -> None:
    """Root reads any file whatever its mode: as root, the watcher runs as nobody instead."""
    settings = clients.settings
    base = Path(tempfile.mkdtemp(prefix="csvpipe-inbox-"))
    try:
        base.chmod(0o777)  # the unprivileged user creates .done/ and .failed/ here
        (base / "secret.csv").write_text("id\n1\n")
        (base / "secret.csv").chmod(0)
        (base / "fine.csv").write_text("id\n2\n")
        (base / "fine.csv").chmod(0o644)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("CSVPIPE_", "AWS_"))},
            **settings.as_env(),
            "HOME": str(base),
            "CSVPIPE_WATCH_SETTLE_MS": "50",
        }
        command = [sys.executable, "-m", "pipeline.cli", "watch", "--once", str(base)]
        done = subprocess.run(
            [*as_unprivileged_user(), *command],
            capture_output=True,
            text=True,
            env=env,
            cwd=base,
            timeout=120,
        )
        assert done.returncode == 1, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        output = " ".join(done.stdout.split())
        assert "FAILED secret.csv: cannot be read:" in output and "Permission denied" in output
        assert "uploaded fine.csv -> s3://" in output
        assert "Permission denied" in (base / ".failed" / "secret.csv.error.txt").read_text()
        assert not (base / "secret.csv").exists()
        keys = {o["Key"] for o in clients.s3.list_objects_v2(Bucket=settings.raw_bucket).get("Contents", [])}
        assert keys == {"fine/fine.csv"}
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_watch_once_says_what_the_store_did_not_take_and_exits_1(tmp_path: Path) -> None:
    from tests.conftest import cli, free_port

    inbox = tmp_path / "drop"
    inbox.mkdir()
    (inbox / "a.csv").write_text("id\n1\n")
    env = {"CSVPIPE_EMULATOR_PORT": str(free_port()), "CSVPIPE_WATCH_SETTLE_MS": "50"}  # nothing listens
    done = cli("watch", "--once", str(inbox), cwd=tmp_path, env=env, timeout=120)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("not uploaded yet a.csv: ") and "try 1 of at most 20" in lines[0]
    assert lines[-1] == "not uploaded (the store did not answer), left for later: a.csv"
    assert (inbox / "a.csv").exists()  # never acknowledged: it stays in the inbox


def test_a_file_written_to_while_uploading_replaces_its_partial_upload(
    watched: tuple[Watcher, Path],
) -> None:
    watcher, inbox = watched
    target = inbox / "growing.csv"
    first = b"id,title\n" + b"".join(b"%d,film %d\n" % (i, i) for i in range(2_000_000))
    target.write_bytes(first)
    appended = threading.Event()

    def append_while_the_watcher_uploads() -> None:
        """Append once this process (the watcher) has read the file to its end (its MD5) and
        gone back to its start: it is uploading it."""
        size, read_to_end = len(first), False
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            for fd in list(Path("/proc/self/fd").iterdir()):
                try:
                    if Path(os.readlink(fd)) != target:
                        continue
                    info = Path(f"/proc/self/fdinfo/{fd.name}").read_text()
                except OSError:
                    continue
                position = int(info.split("pos:", 1)[1].split()[0])
                if position >= size:
                    read_to_end = True
                elif read_to_end and position < size // 2:
                    with target.open("ab") as fh:
                        fh.write(b"2000000,the last film\n")
                    appended.set()
                    return
            time.sleep(0.0005)  # watching the watcher; bounded by the deadline

    appender = threading.Thread(target=append_while_the_watcher_uploads)
    appender.start()
    outcomes = poll_until(watcher, 1, seconds=120)
    appender.join()
    assert appended.is_set()
    # "unchanged" when the first upload already read the appended bytes: the file settles and is
    # looked at again before it moves, and then the object holds exactly the file.
    ((status, key),) = [(o.status, o.key) for o in outcomes]
    assert status in ("uploaded", "unchanged") and key == "growing/growing.csv"
    body = watcher.s3.get_object(Bucket=watcher.settings.raw_bucket, Key="growing/growing.csv")["Body"].read()
    assert body == first + b"2000000,the last film\n"
    # Only that one key: at most a replaced partial version of it, never a second key beside it.
    assert set(versions(watcher)) == {"growing/growing.csv"}
    assert not watcher.failed_dir.exists()
