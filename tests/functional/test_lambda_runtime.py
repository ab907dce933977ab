"""The local Lambda: the Runtime API driving AWS's awslambdaric, with the real handler."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from emulators import memory
from emulators.lambda_runtime import Invocation, LocalLambda
from emulators.stack import function_config
from pipeline import layout, runs
from pipeline.aws import Clients
from pipeline.settings import Settings
from tests.conftest import SAMPLE
from tests.functional.helpers import fixture_function, s3_event

EVENT_TEMPLATE = Path(__file__).parents[1] / "fixtures" / "events" / "s3-put.json"


@pytest.fixture
def handler_function(settings: Settings, clients: Clients):
    function = LocalLambda(function_config(settings)).start()
    yield function
    function.stop()


def test_context_is_the_real_lambda_context(tmp_path: Path) -> None:
    function = fixture_function(tmp_path, "describe_context", timeout=7)
    try:
        first = function.invoke({"hello": "world"})
        second = function.invoke({"n": 2})
    finally:
        function.stop()
    assert first.ok and second.ok
    assert first.cold_start and not second.cold_start
    assert first.payload["function_name"] == "fixture-fn"
    assert first.payload["request_id"] == first.request_id != second.request_id
    assert 0 < first.payload["remaining_ms"] <= 7000
    assert first.payload["memory_limit_in_mb"] == "256"
    assert first.payload["invoked_function_arn"].endswith(":function:fixture-fn")
    assert first.payload["event"] == {"hello": "world"}


def test_handler_error_has_lambdas_error_shape(tmp_path: Path) -> None:
    function = fixture_function(tmp_path, "fail")
    try:
        result = function.invoke({})
    finally:
        function.stop()
    assert not result.ok
    assert result.error == {"errorType": "RuntimeError", "errorMessage": "the handler failed on purpose"}


@pytest.mark.slow
def test_timeout_kills_the_environment_and_the_next_invocation_starts_fresh(tmp_path: Path) -> None:
    function = fixture_function(tmp_path, "sleep_for", timeout=1)
    try:
        slow = function.invoke({"seconds": 30})
        quick = function.invoke({"seconds": 0})
    finally:
        function.stop()
    assert not slow.ok
    assert slow.error_type == "Sandbox.Timedout"
    assert slow.error_message.endswith("Task timed out after 1.00 seconds")
    assert slow.duration_ms < 10_000
    assert quick.ok and quick.payload == "woke up" and quick.cold_start


needs_proc = pytest.mark.skipif(not memory.available(), reason="memory is measured through Linux's /proc")


@pytest.mark.slow
@needs_proc
def test_over_memory_kills_the_environment_and_the_next_invocation_starts_fresh(tmp_path: Path) -> None:
    function = fixture_function(tmp_path, "allocate", timeout=20, memory_mb=128)
    try:
        greedy = function.invoke({"mb": 400})
        modest = function.invoke({"mb": 1})
    finally:
        function.stop()
    assert not greedy.ok
    assert greedy.error == {
        "errorType": "Runtime.OutOfMemory",
        "errorMessage": f"RequestId: {greedy.request_id} Error: Runtime exited with error: signal: killed",
    }
    assert greedy.max_memory_mb is not None and greedy.max_memory_mb > 128
    assert modest.ok and modest.payload == 1024 * 1024
    assert modest.cold_start
    assert modest.max_memory_mb is not None and 0 < modest.max_memory_mb < 128


@needs_proc
def test_max_memory_used_is_the_environments_peak(tmp_path: Path) -> None:
    function = fixture_function(tmp_path, "allocate", memory_mb=256)
    try:
        small = function.invoke({"mb": 1})
        bigger = function.invoke({"mb": 64})
        again = function.invoke({"mb": 1})
    finally:
        function.stop()
    assert small.ok and bigger.ok and again.ok
    assert small.max_memory_mb is not None and 0 < small.max_memory_mb < 64
    # The 64 MiB block counts on top of the runtime's own memory, and the peak stays, as the
    # peak of the environment (Lambda's "Max Memory Used"), when the block has been freed.
    assert bigger.max_memory_mb is not None and small.max_memory_mb + 60 <= bigger.max_memory_mb < 256
    assert again.max_memory_mb == bigger.max_memory_mb


@pytest.mark.slow
def test_import_error_is_reported_as_init_error(tmp_path: Path) -> None:
    function = fixture_function(tmp_path, "no_such_handler")
    try:
        result = function.invoke({})
    finally:
        function.stop()
    assert not result.ok
    assert result.error_type == "Runtime.HandlerNotFound"


@pytest.mark.slow
@pytest.mark.parametrize(
    "filename, encoded",
    [
        ("my movies.csv", "movies/my+movies.csv"),
        ("filmé (1).csv", "movies/film%C3%A9+%281%29.csv"),
        ("a+b.csv", "movies/a%2Bb.csv"),
    ],
)
def test_real_handler_decodes_keys_and_writes_processed_data(
    handler_function: LocalLambda, clients: Clients, filename: str, encoded: str
) -> None:
    settings = clients.settings
    key = f"movies/{filename}"
    put = clients.s3.put_object(Bucket=settings.raw_bucket, Key=key, Body=SAMPLE.read_bytes())
    result = handler_function.invoke(
        s3_event(settings.raw_bucket, [(encoded, put["ETag"].strip('"'), SAMPLE.stat().st_size)])
    )
    assert result.ok, result.error
    (record,) = result.payload["records"]
    assert record["status"] == "ok"
    assert record["source"]["key"] == key
    assert record["rows"] == {"in": 30, "out": 30, "rejected": 0, "empty": 0, "duplicate": 0}
    assert record["request_id"] == result.request_id
    assert record["function"] == settings.lambda_function_name
    if memory.available():
        assert result.max_memory_mb is not None and 0 < result.max_memory_mb < settings.lambda_memory_mb
    body = (
        clients.s3.get_object(Bucket=settings.processed_bucket, Key=layout.processed_key(key))["Body"]
        .read()
        .decode()
    )
    assert body.splitlines()[0] == "movie_id,title,genre,year"
    assert len(body.splitlines()) == 31
    stored = runs.read_stage_record(clients.s3, settings.processed_bucket, record["run_id"], "preprocess")
    assert stored is not None and stored["rows"] == record["rows"]


@pytest.mark.slow
@pytest.mark.parametrize(
    "filename", ["a+b.csv", "a%20b.csv", "50% off.csv", "with space.csv", "filmé (1).csv"]
)
def test_keys_sent_unencoded_as_localstack_does_are_found(
    handler_function: LocalLambda, clients: Clients, filename: str
) -> None:
    settings = clients.settings
    key = f"movies/{filename}"
    put = clients.s3.put_object(Bucket=settings.raw_bucket, Key=key, Body=SAMPLE.read_bytes())
    result = handler_function.invoke(s3_event(settings.raw_bucket, [(key, put["ETag"].strip('"'), 1)]))
    assert result.ok, result.error
    (record,) = result.payload["records"]
    assert (record["status"], record["source"]["key"]) == ("ok", key)
    assert record["output"]["key"] == layout.processed_key(key)


@pytest.mark.slow
def test_several_records_in_one_event_and_a_bad_file_is_a_failed_record(
    handler_function: LocalLambda, clients: Clients
) -> None:
    settings = clients.settings
    good = clients.s3.put_object(Bucket=settings.raw_bucket, Key="movies/good.csv", Body=SAMPLE.read_bytes())[
        "ETag"
    ].strip('"')
    bad = clients.s3.put_object(
        Bucket=settings.raw_bucket, Key="movies/bad.csv", Body=b"\x89PNG\r\n\x1a\n\x00\x00\x00"
    )["ETag"].strip('"')
    result = handler_function.invoke(
        s3_event(settings.raw_bucket, [("movies/good.csv", good, 10), ("movies/bad.csv", bad, 11)])
    )
    assert result.ok, result.error  # a bad file is a failed run, not a failed invocation
    statuses = {r["source"]["key"]: (r["status"], r["error"]) for r in result.payload["records"]}
    assert statuses["movies/good.csv"] == ("ok", None)
    assert statuses["movies/bad.csv"][0] == "failed"
    assert "binary content" in statuses["movies/bad.csv"][1]
    # The raw object is never modified or deleted.
    raw = clients.s3.get_object(Bucket=settings.raw_bucket, Key="movies/bad.csv")["Body"].read()
    assert raw.startswith(b"\x89PNG")


@pytest.mark.slow
def test_type_rejects_and_nulls_reach_the_rejects_file_and_the_run_record(
    handler_function: LocalLambda, clients: Clients
) -> None:
    settings = clients.settings
    body = b"movieId,title,year,genres\n1,Heat,1995,Action\nabc,Up,2009,Adventure\n3,Big,nineteen,Comedy\n"
    etag = clients.s3.put_object(Bucket=settings.raw_bucket, Key="movies/typed.csv", Body=body)["ETag"]
    result = handler_function.invoke(
        s3_event(settings.raw_bucket, [("movies/typed.csv", etag.strip('"'), 1)])
    )
    assert result.ok, result.error
    (record,) = result.payload["records"]
    assert record["rows"] == {"in": 3, "out": 2, "rejected": 1, "empty": 0, "duplicate": 0}
    assert record["values_nulled"] == {"year": 1}
    rejects = clients.s3.get_object(Bucket=settings.processed_bucket, Key=record["rejects"]["key"])["Body"]
    assert rejects.read().decode().splitlines() == [
        "source_key,line_number,reason,raw_text",
        "movies/typed.csv,3,column movie_id: 'abc' is not an integer,\"abc,Up,2009,Adventure\"",
    ]
    output = clients.s3.get_object(Bucket=settings.processed_bucket, Key=record["output"]["key"])["Body"]
    assert output.read().decode().splitlines() == [
        "movie_id,title,year,genre",  # the movies rules rename MovieLens' genres
        "1,Heat,1995,action",
        "3,Big,,comedy",
    ]


@pytest.mark.slow
def test_malformed_event_is_an_invocation_error(handler_function: LocalLambda) -> None:
    result = handler_function.invoke({"not": "an s3 event"})
    assert not result.ok
    assert result.error_type == "UserInputError"
    assert "Records" in result.error_message


@pytest.mark.slow
def test_sample_event_file_is_accepted(handler_function: LocalLambda, clients: Clients) -> None:
    settings = clients.settings
    event = json.loads(EVENT_TEMPLATE.read_text())
    record = event["Records"][0]
    key = "movies/sample event.csv"
    etag = clients.s3.put_object(Bucket=settings.raw_bucket, Key=key, Body=SAMPLE.read_bytes())["ETag"].strip(
        '"'
    )
    record["s3"]["bucket"]["name"] = settings.raw_bucket
    record["s3"]["object"].update(key="movies/sample+event.csv", eTag=etag)
    result = handler_function.invoke(event)
    assert result.ok, result.error
    assert result.payload["records"][0]["status"] == "ok"


def tmp_contents(function: LocalLambda) -> list[str]:
    return sorted(path.name for path in function.tmp.iterdir())


def wait_for_work_folder(function: LocalLambda, seconds: float = 30) -> None:
    """Until the handler (another process) has written its folder under /tmp."""
    deadline = time.monotonic() + seconds
    while not any(function.tmp.glob("work-*/part.bin")):
        assert time.monotonic() < deadline, "the handler never wrote its folder"
        time.sleep(0.02)  # watching another process; bounded by the deadline


@pytest.mark.slow
def test_a_timed_out_invocation_leaves_nothing_in_tmp(tmp_path: Path) -> None:
    function = fixture_function(tmp_path, "fill_tmp", timeout=1)
    try:
        warm = function.invoke({"mb": 1, "seconds": 0})
        assert warm.ok and tmp_contents(function) == [Path(warm.payload).name]  # warm: kept, as on Lambda
        result = function.invoke({"mb": 2, "seconds": 30})
        assert result.error_type == "Sandbox.Timedout"
        assert tmp_contents(function) == []
    finally:
        function.stop()
    assert list((tmp_path / "lambda-tmp").iterdir()) == []  # stopped: its folder is gone too


def test_a_killed_invocation_leaves_nothing_in_tmp(tmp_path: Path) -> None:
    function = fixture_function(tmp_path, "fill_tmp", timeout=60)
    try:
        results: list[Invocation] = []
        invoking = threading.Thread(target=lambda: results.append(function.invoke({"mb": 2, "seconds": 60})))
        invoking.start()
        wait_for_work_folder(function)
        assert function.pid is not None
        os.kill(function.pid, signal.SIGKILL)  # kill -9 of the execution environment
        invoking.join(timeout=30)
        (result,) = results
        assert result.error_type == "Runtime.ExitError" and "signal: killed" in (result.error_message or "")
        assert tmp_contents(function) == []
    finally:
        function.stop()


def test_an_out_of_memory_invocation_leaves_nothing_in_tmp(tmp_path: Path) -> None:
    function = fixture_function(tmp_path, "fill_tmp", timeout=20, memory_mb=128)
    try:
        result = function.invoke({"mb": 2, "allocate_mb": 400, "seconds": 0})
        assert result.error_type == "Runtime.OutOfMemory"
        assert tmp_contents(function) == []
    finally:
        function.stop()


def test_start_removes_what_dead_owners_left_and_keeps_running_ones(tmp_path: Path) -> None:
    tmp_dir = tmp_path / "lambda-tmp"
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    stale = [tmp_dir / f"env-{dead.pid}-abc", tmp_dir / "tmpk2j3csv"]  # the latter: an older layout
    alive = tmp_dir / f"env-{os.getpid()}-sibling"
    for folder in [*stale, alive]:
        (folder / "work").mkdir(parents=True)
        (folder / "work" / "part.bin").write_bytes(b"x" * 1024)
    (tmp_dir / "stray.bin").write_bytes(b"x")
    function = fixture_function(tmp_path, "describe_context")
    try:
        assert sorted(p.name for p in tmp_dir.iterdir()) == sorted([alive.name, function.tmp.name])
    finally:
        function.stop()
