"""Trying the handler by hand, as a user does: ``csvpipe event s3-put`` and ``csvpipe invoke``
through the real CLI, against a real local stack started with ``csvpipe up --detach``."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pipeline import layout
from pipeline.aws import Clients
from tests.conftest import SAMPLE, cli, free_port, running_stack, wait_for_record

pytestmark = pytest.mark.slow

RAW = "csv-raw-data-bucket"
PROCESSED = "csv-processed-data-bucket"
GOOD_KEY = "movies/my movies.csv"
BAD_KEY = "movies/bad.csv"
BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"
WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class Workspace:
    home: Path
    env: dict[str, str]
    clients: Clients
    etags: dict[str, str]


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """One running stack for the module with the sample and a binary object in the raw bucket;
    the stack's own event source has processed both, so nothing else runs during the tests."""
    with running_stack(tmp_path_factory.mktemp("user")) as user:
        clients = Clients(user.settings)
        etags = {
            key: clients.s3.put_object(Bucket=RAW, Key=key, Body=body)["ETag"].strip('"')
            for key, body in ((GOOD_KEY, SAMPLE.read_bytes()), (BAD_KEY, BINARY))
        }
        for key, etag in etags.items():
            wait_for_record(
                clients.s3, PROCESSED, layout.run_id(RAW, key, etag), "preprocess", seconds=WAIT_SECONDS
            )
        yield Workspace(user.home, user.env, clients, etags)


def run_cli(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    return cli(*args, cwd=ws.home, env=ws.env)


def cli_with_stdin(ws: Workspace, stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    return cli(*args, cwd=ws.home, env=ws.env, stdin=stdin)


def payload_of(out: str) -> Any:
    """The JSON printed between ``payload:`` and the logs section."""
    lines = out.splitlines()
    start = lines.index("payload:") + 1
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("logs"))
    return json.loads("\n".join(lines[start:end]))


def run_record_of(out: str, run: str) -> dict[str, Any]:
    """The stored run record printed (indented) after its s3:// address, up to the end."""
    lines = out.splitlines()
    where = f"  s3://{PROCESSED}/_runs/{run}/preprocess.json"
    start = lines.index(where) + 1
    return json.loads("\n".join(line.removeprefix("  ") for line in lines[start:]))


def test_event_s3_put_has_the_encoded_key_and_the_real_etag(workspace: Workspace) -> None:
    result = run_cli(workspace, "event", "s3-put", RAW, GOOD_KEY)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""  # the object was found: no note about placeholder values
    (record,) = json.loads(result.stdout)["Records"]
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["bucket"]["name"] == RAW
    obj = record["s3"]["object"]
    assert obj["key"] == "movies/my+movies.csv"
    assert obj["eTag"] == workspace.etags[GOOD_KEY]
    assert obj["size"] == SAMPLE.stat().st_size


def test_invoke_key_runs_the_handler_and_prints_the_run_record(workspace: Workspace) -> None:
    result = run_cli(workspace, "invoke", "--key", GOOD_KEY)
    assert result.returncode == 0, result.stderr + result.stdout
    first = result.stdout.splitlines()[0]
    assert first.startswith("invocation ok (request ") and first.endswith(" ms, cold start)")
    (record,) = payload_of(result.stdout)["records"]
    assert record["status"] == "ok"
    assert record["source"] == {
        "bucket": RAW,
        "key": GOOD_KEY,
        "etag": workspace.etags[GOOD_KEY],
        "size": SAMPLE.stat().st_size,
    }
    run = layout.run_id(RAW, GOOD_KEY, workspace.etags[GOOD_KEY])
    assert record["run_id"] == run
    assert f"run {run} ({GOOD_KEY}): ok, rows 30 in, 30 out, 0 rejected, 0 empty" in result.stdout
    stored = run_record_of(result.stdout, run)
    assert stored["rows"]["in"] == stored["rows"]["out"] == 30
    # The record printed is the one this invocation wrote, not the stack's earlier one.
    assert first.startswith(f"invocation ok (request {stored['request_id']}, ")
    assert stored["request_id"] == record["request_id"]


def test_invoke_event_file_from_event_s3_put(workspace: Workspace, tmp_path: Path) -> None:
    event = run_cli(workspace, "event", "s3-put", RAW, GOOD_KEY)
    assert event.returncode == 0, event.stderr
    path = tmp_path / "put.json"
    path.write_text(event.stdout, encoding="utf-8")
    result = run_cli(workspace, "invoke", "--event", str(path))
    assert result.returncode == 0, result.stderr + result.stdout
    assert result.stdout.startswith("invocation ok")
    (record,) = payload_of(result.stdout)["records"]
    assert (record["status"], record["source"]["key"]) == ("ok", GOOD_KEY)
    assert "rows 30 in, 30 out" in result.stdout


def test_binary_object_is_a_failed_record_and_exit_1(workspace: Workspace, tmp_path: Path) -> None:
    event = run_cli(workspace, "event", "s3-put", RAW, BAD_KEY)
    assert event.returncode == 0, event.stderr
    path = tmp_path / "bad.json"
    path.write_text(event.stdout, encoding="utf-8")
    result = run_cli(workspace, "invoke", "--event", str(path))
    assert result.returncode == 1, result.stderr + result.stdout
    assert result.stdout.startswith("invocation ok")  # a bad file is a failed run, not a failed invocation
    run = layout.run_id(RAW, BAD_KEY, workspace.etags[BAD_KEY])
    assert f"run {run} ({BAD_KEY}): failed: {BAD_KEY}: binary content" in result.stdout
    assert run_record_of(result.stdout, run)["status"] == "failed"


def test_event_that_is_not_s3_fails_the_invocation_and_shows_its_logs(workspace: Workspace) -> None:
    first = cli_with_stdin(workspace, '{"hello": "world"}', "invoke", "--event", "-")
    result = cli_with_stdin(workspace, '{"hello": "again"}', "invoke", "--event", "-")
    assert first.returncode == result.returncode == 1, result.stderr + result.stdout
    lines = result.stdout.splitlines()
    assert lines[0].startswith("invocation failed: UserInputError: not an S3 event")
    assert "payload: none" in lines
    logs = lines.index(next(line for line in lines if line.startswith("logs (")))
    # Only this invocation's lines: the error awslambdaric logged, then its traceback.
    assert lines[logs + 1].startswith("  [ERROR] UserInputError: not an S3 event")
    assert "Traceback" in result.stdout
    assert result.stdout.count("[ERROR] UserInputError") == 1  # not the first invocation's too
    assert "run records" not in result.stdout


def test_invalid_json_event_file_is_one_error_line(workspace: Workspace, tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"Records": [', encoding="utf-8")
    result = run_cli(workspace, "invoke", "--event", str(path))
    assert result.returncode != 0
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {path}: not valid JSON")
    assert result.stdout == ""


def test_missing_key_is_one_error_line(workspace: Workspace) -> None:
    result = run_cli(workspace, "invoke", "--key", "movies/nope.csv")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"error: s3://{RAW}/movies/nope.csv: no such object"]


def test_invoke_needs_exactly_one_of_event_and_key(workspace: Workspace, tmp_path: Path) -> None:
    neither = run_cli(workspace, "invoke")
    both = run_cli(workspace, "invoke", "--key", GOOD_KEY, "--event", str(tmp_path / "x.json"))
    for result in (neither, both):
        assert result.returncode == 1
        assert result.stderr.strip().splitlines() == ["error: give exactly one of --event FILE or --key KEY"]


def test_without_a_stack_invoke_says_how_to_start_it_and_event_still_prints(tmp_path: Path) -> None:
    env = {"CSVPIPE_EMULATOR_PORT": str(free_port())}
    invoked = cli("invoke", "--key", GOOD_KEY, cwd=tmp_path, env=env)
    assert invoked.returncode == 1
    (line,) = invoked.stderr.strip().splitlines()
    assert line.startswith("error:") and "csvpipe up --detach" in line
    event = cli("event", "s3-put", RAW, GOOD_KEY, "--size", "42", "--etag", "abc", cwd=tmp_path, env=env)
    assert event.returncode == 0, event.stderr
    obj = json.loads(event.stdout)["Records"][0]["s3"]["object"]
    assert (obj["key"], obj["size"], obj["eTag"]) == ("movies/my+movies.csv", 42, "abc")
    assert event.stderr.startswith("note: ")


def test_invoke_on_another_profile_is_one_line(tmp_path: Path) -> None:
    result = cli("--profile", "aws", "invoke", "--key", GOOD_KEY, cwd=tmp_path)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error:") and "local Lambda runtime only" in line
