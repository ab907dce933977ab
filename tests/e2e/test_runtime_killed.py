"""The Lambda runtime killed with SIGKILL in the middle of a file: the invocation fails as on
Lambda (Runtime.ExitError), the event is retried, and the file ends up processed exactly once:
one processed object, one run, the output counting each row once."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from pipeline import layout, runs
from pipeline.aws import Clients
from tests.conftest import running_stack, wait_for_record

pytestmark = pytest.mark.slow
ROWS = 400_000


def runtimes_of(stack_pid: int) -> list[int]:
    """The awslambdaric processes the stack started (its children)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        if parent == stack_pid and b"awslambdaric" in cmdline:
            found.append(int(proc.name))
    return found


def test_a_runtime_killed_mid_file_is_retried_and_the_file_processed_once(tmp_path: Path) -> None:
    home = tmp_path / "user"
    home.mkdir()
    big = tmp_path / "films.csv"
    rows = "".join(f"{i},Film {i} ({1950 + i % 70}),Drama|Comedy\n" for i in range(1, ROWS + 1))
    big.write_text("movieId,title,genres\n" + rows)
    with running_stack(home) as stack:
        state = json.loads((home / "data" / ".csvpipe" / "stack.json").read_text())
        s3 = Clients(stack.settings).s3
        settings = stack.settings
        s3.put_bucket_versioning(Bucket=settings.raw_bucket, VersioningConfiguration={"Status": "Enabled"})
        etag = s3.put_object(Bucket=settings.raw_bucket, Key="films/films.csv", Body=big.read_bytes())["ETag"]
        run = layout.run_id(settings.raw_bucket, "films/films.csv", etag)

        # The handler works in a temporary folder under its environment's /tmp: once it exists,
        # the file is being processed.
        lambda_tmp = home / "data" / ".csvpipe" / "lambda-tmp"
        deadline = time.monotonic() + 60
        while not (lambda_tmp.is_dir() and any(lambda_tmp.glob("env-*/csvpipe-*"))):
            assert time.monotonic() < deadline, "the handler never started on the file"
            time.sleep(0.01)  # watching another process; bounded by the deadline
        (runtime,) = runtimes_of(int(state["pid"]))
        os.kill(runtime, signal.SIGKILL)

        failed = wait_for_record(s3, settings.processed_bucket, run, "invoke", seconds=60)
        assert failed["error_type"] == "Runtime.ExitError", failed
        assert "signal: killed" in failed["error"]
        assert failed["attempt"] == 1 and failed["will_retry"] is True
        done = wait_for_record(s3, settings.processed_bucket, run, "transform", seconds=180)
        assert done["status"] == "ok", done

        record = runs.read_stage_record(s3, settings.processed_bucket, run, "preprocess")
        assert record["rows"]["in"] == ROWS and record["rows"]["out"] == ROWS
        processed = s3.list_objects_v2(Bucket=settings.processed_bucket, Prefix="films/")["Contents"]
        assert [obj["Key"] for obj in processed] == ["films/films.csv"]
        body = s3.get_object(Bucket=settings.processed_bucket, Key="films/films.csv")["Body"].read()
        assert body.count(b"\n") == ROWS + 1  # header and each row once
        versions = s3.list_object_versions(Bucket=settings.raw_bucket)["Versions"]
        assert len(versions) == 1  # the raw object was never touched
        assert not any(lambda_tmp.glob("env-*/csvpipe-*"))  # the killed invocation's work is gone
