"""The watched folder through the whole stack, as a user drops files: ``csvpipe up`` watches
``data/inbox/``; a slowly written large file, 100 files at once and names with spaces and
unicode each reach the final bucket exactly once.

Exactly once is counted: the raw bucket is versioned, so every PUT leaves a version, and the
final output counts every row of every file."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from pipeline import layout, runs
from pipeline.aws import Clients
from tests.conftest import cli, free_port, make_settings

pytestmark = pytest.mark.slow

ROWS_PER_SMALL_FILE = 3


def test_dropped_files_reach_the_final_bucket_exactly_once(tmp_path: Path) -> None:
    home = tmp_path / "user"
    transforms = home / "transforms"
    transforms.mkdir(parents=True)
    (transforms / "batch_rows.sql").write_text(
        "SELECT count(*) AS row_count, count(DISTINCT id) AS ids FROM batch"
    )
    env = {"CSVPIPE_EMULATOR_PORT": str(free_port()), "CSVPIPE_TRANSFORMS_DIR": str(transforms)}
    settings = make_settings(home / "data", int(env["CSVPIPE_EMULATOR_PORT"]), transforms_dir=str(transforms))
    try:
        started = cli("up", "--detach", cwd=home, env=env)
        assert started.returncode == 0, started.stderr
        s3 = Clients(settings).s3
        s3.put_bucket_versioning(Bucket=settings.raw_bucket, VersioningConfiguration={"Status": "Enabled"})
        inbox = home / "data" / "inbox" / "batch"
        inbox.mkdir(parents=True)

        expected_rows = 0
        files: dict[str, str] = {}  # relative path -> raw key
        next_id = 0

        def rows(count: int) -> str:
            nonlocal next_id, expected_rows
            text = "".join(f"{next_id + i},film {next_id + i}\n" for i in range(count))
            next_id += count
            expected_rows += count
            return text

        large_rows = rows(60_000)
        slow = inbox / "slow large file.csv"
        files["batch/slow large file.csv"] = "batch/slow large file.csv"

        def write_slowly() -> None:
            data = ("id,title\n" + large_rows).encode()
            with slow.open("wb") as fh:
                for start in range(0, len(data), len(data) // 8 + 1):
                    fh.write(data[start : start + len(data) // 8 + 1])
                    fh.flush()
                    time.sleep(0.25)  # shorter than the watcher's settle time (1 s)

        writer = threading.Thread(target=write_slowly)
        writer.start()
        for name in ("Films à voir.csv", "日本 映画 + more.csv"):
            (inbox / name).write_text("id,title\n" + rows(ROWS_PER_SMALL_FILE), encoding="utf-8")
            files[f"batch/{name}"] = f"batch/{name}"
        for i in range(100):
            (inbox / f"part {i:03}.csv").write_text("id,title\n" + rows(ROWS_PER_SMALL_FILE))
            files[f"batch/part {i:03}.csv"] = f"batch/part {i:03}.csv"
        writer.join()

        final = None
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:
            final = runs.get_json(s3, settings.final_bucket, layout.final_run_key("batch_rows"))
            body = None
            if final is not None:
                key = layout.final_data_key("batch_rows")
                body = s3.get_object(Bucket=settings.final_bucket, Key=key)["Body"].read().decode()
            if body == f"row_count,ids\n{expected_rows},{expected_rows}\n":
                break
            time.sleep(0.5)  # the stack works in other processes; bounded by the deadline
        else:
            pytest.fail(f"the final output never counted {expected_rows} rows; last: {body!r}")

        listed = s3.list_object_versions(Bucket=settings.raw_bucket).get("Versions", [])
        assert Counter(v["Key"] for v in listed) == Counter(files.values())
        done = home / "data" / "inbox" / ".done"
        assert sorted(p.relative_to(done).as_posix() for p in done.rglob("*.csv")) == sorted(files)
        assert not list(inbox.glob("*.csv"))
        for key in files.values():
            etag = s3.head_object(Bucket=settings.raw_bucket, Key=key)["ETag"]
            record = runs.read_stage_record(
                s3, settings.processed_bucket, layout.run_id(settings.raw_bucket, key, etag), "preprocess"
            )
            assert record is not None and record["status"] == "ok", (key, record)
        large = files["batch/slow large file.csv"]
        etag = s3.head_object(Bucket=settings.raw_bucket, Key=large)["ETag"]
        record = runs.read_stage_record(
            s3, settings.processed_bucket, layout.run_id(settings.raw_bucket, large, etag), "preprocess"
        )
        assert record["rows"]["out"] == 60_000
    finally:
        cli("down", cwd=home, env=env)


def test_watch_once_uploads_what_is_complete_and_reports_failures(tmp_path: Path) -> None:
    from tests.conftest import running_stack

    home = tmp_path / "user"
    drop = home / "drop"
    (drop / "movies").mkdir(parents=True)
    (drop / "movies" / "a b.csv").write_text("id,title\n1,Heat (1995)\n")
    (drop / "notes.txt").write_text("not data")
    with running_stack(home) as stack:
        ok = cli("watch", "--once", str(drop), cwd=home, env=stack.env, timeout=60)
        assert ok.returncode == 0, ok.stderr + ok.stdout
        assert ok.stdout.splitlines() == [
            f"uploaded movies/a b.csv -> s3://{stack.settings.raw_bucket}/movies/a b.csv "
            f"(moved to {drop / '.done' / 'movies' / 'a b.csv'})"
        ]
        (drop / "broken.csv").symlink_to("nowhere.csv")
        failed = cli("watch", "--once", str(drop), cwd=home, env=stack.env, timeout=60)
        assert failed.returncode == 1
        assert failed.stdout.startswith("FAILED broken.csv: a symbolic link (to nowhere.csv):")
        assert (drop / ".failed" / "broken.csv.error.txt").exists()
        assert (drop / "notes.txt").exists()
        not_a_folder = cli("watch", "--once", str(drop / "notes.txt"), cwd=home, env=stack.env)
        assert not_a_folder.returncode == 1
        assert not_a_folder.stderr == f"error: {drop / 'notes.txt'}: not a folder\n"
