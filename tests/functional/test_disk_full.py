"""A full disk and an unreadable watched folder: a clear error each time, nothing deleted.

The full disk is real: a small tmpfs mounted for the test (it needs root, as CI has; elsewhere the
test is skipped and says why), filled by the real handler in the real Lambda runtime.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from emulators.lambda_runtime import LocalLambda
from emulators.stack import function_config
from pipeline import layout, runs
from pipeline.aws import Clients
from tests.conftest import SAMPLE
from tests.functional.helpers import as_unprivileged_user, s3_event

# Every test here takes a second or more on a 2-core machine: left out of the quick tier.
pytestmark = pytest.mark.slow

DISK_MB = 4


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_MB}m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a {DISK_MB} MB tmpfs to fill (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def movies(rows: int, end: str) -> bytes:
    lines = [f"{n},A film called number {n} ({1900 + n % 120}),Drama|Comedy{end}" for n in range(rows)]
    return (f"movieId,title,genre{end}" + "".join(lines)).encode()


@pytest.mark.parametrize(
    ("label", "rows", "end"),
    # CRLF line ends: the text is rewritten with LF beside the download, and fills the disk.
    [("fills /tmp while cleaning", 70_000, "\r\n"), ("fills /tmp while downloading", 100_000, "\n")],
)
def test_a_full_lambda_tmp_is_a_failed_run_with_its_fix_and_the_next_file_goes_through(
    clients: Clients, small_disk: Path, label: str, rows: int, end: str
) -> None:
    settings = clients.settings
    body = movies(rows, end)
    assert (label == "fills /tmp while downloading") == (len(body) > DISK_MB * 2**20)
    s3, raw = clients.s3, settings.raw_bucket
    big = s3.put_object(Bucket=raw, Key="movies/big.csv", Body=body)["ETag"].strip('"')
    small = s3.put_object(Bucket=raw, Key="movies/small.csv", Body=SAMPLE.read_bytes())["ETag"].strip('"')
    function = LocalLambda(dataclasses.replace(function_config(settings), tmp_dir=small_disk)).start()
    try:
        result = function.invoke(s3_event(settings.raw_bucket, [("movies/big.csv", big, len(body))]))
        assert result.ok, result.error  # not an invocation error: retrying would fill /tmp again
        (record,) = result.payload["records"]
        assert record["status"] == "failed"
        assert record["error"].startswith(
            f"movies/big.csv: the Lambda's /tmp ({DISK_MB} MB) ran out of space"
        )
        assert "raise lambda_ephemeral_mb" in record["error"]
        stored = runs.read_stage_record(clients.s3, settings.processed_bucket, record["run_id"], "preprocess")
        assert stored is not None and stored["error"] == record["error"]
        # Nothing lost: the raw object is intact, no partial output, and /tmp is empty again.
        raw = clients.s3.get_object(Bucket=settings.raw_bucket, Key="movies/big.csv")["Body"].read()
        assert raw == body
        processed = clients.s3.list_objects_v2(Bucket=settings.processed_bucket, Prefix="movies/")
        assert processed.get("KeyCount", 0) == 0
        assert list(small_disk.iterdir()) == [function.tmp]  # the environment's own /tmp, empty
        assert list(function.tmp.iterdir()) == []

        after = function.invoke(
            s3_event(settings.raw_bucket, [("movies/small.csv", small, SAMPLE.stat().st_size)])
        )
        (ok,) = after.payload["records"]
        assert ok["status"] == "ok" and ok["rows"]["out"] == 30
        assert layout.processed_key("movies/small.csv") == ok["output"]["key"]
    finally:
        function.stop()


def test_an_unreadable_watched_folder_is_a_clear_error_and_its_files_stay(clients: Clients) -> None:
    settings = clients.settings
    base = Path(tempfile.mkdtemp(prefix="csvpipe-inbox-"))
    try:
        base.chmod(0o777)  # the unprivileged user creates .done/ here
        (base / "locked" / "deep").mkdir(parents=True)
        (base / "open").mkdir()
        locked = base / "locked" / "deep" / "a.csv"
        locked.write_bytes(SAMPLE.read_bytes())
        (base / "open" / "b.csv").write_bytes(SAMPLE.read_bytes())
        (base / "open").chmod(0o777)
        (base / "locked").chmod(0)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("CSVPIPE_", "AWS_"))},
            **settings.as_env(),
            "HOME": str(base),
            "CSVPIPE_WATCH_SETTLE_MS": "50",
        }
        done = subprocess.run(
            [*as_unprivileged_user(), sys.executable, "-m", "pipeline.cli", "watch", "--once", str(base)],
            capture_output=True,
            text=True,
            env=env,
            cwd=base,
            timeout=120,
        )
        assert done.returncode == 1, done.stdout + done.stderr
        assert "Traceback" not in done.stderr
        output = " ".join(done.stdout.split())
        assert "CANNOT READ folder locked: Permission denied; the files in it stay where they are" in output
        assert "uploaded open/b.csv -> s3://" in output  # the readable folder still flows
        (base / "locked").chmod(0o755)
        assert locked.read_bytes() == SAMPLE.read_bytes()  # nothing moved or deleted
        keys = {o["Key"] for o in clients.s3.list_objects_v2(Bucket=settings.raw_bucket).get("Contents", [])}
        assert keys == {"open/b.csv"}
    finally:
        (base / "locked").chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)
