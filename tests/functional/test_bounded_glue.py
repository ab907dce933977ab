"""Bounded work in the Glue stand-in, against the real emulator: a dataset whose crawl goes over
its limit fails its own run with the reason, while another dataset's file, sent at the same
time, is crawled and transformed; the failed run is finished, so a restart's reconcile does not
send it again. The limits are set small through the settings, so each test takes seconds.
"""

from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path
from typing import Any

import pytest

from emulators import bounded
from emulators.bounded import Limits, run_bounded
from emulators.glue_jobs import GlueScheduler
from emulators.persistence import reconcile
from pipeline import layout, runs
from pipeline.aws import Clients
from pipeline.errors import LimitExceeded, StageError
from pipeline.events import ObjectCreated
from pipeline.preprocess.handler import preprocess_object
from pipeline.provision import provision
from pipeline.settings import replace
from tests.functional import bounded_targets

# Each test here starts real processes and waits on them for a second or more: CI runs them.
pytestmark = pytest.mark.slow

# Crawling 100,000 columns took 19 s on this machine (most of it the catalog's API calls):
# far over the few seconds a test allows it.
WIDE_COLUMNS = 150_000
CRAWL_SECONDS = 6


def wide_csv(columns: int) -> bytes:
    header = ",".join(f"c{i}" for i in range(columns))
    row = ",".join(str(i % 10) for i in range(columns))
    return f"{header}\n{row}\n{row}\n".encode()


def preprocessed(clients: Clients, key: str, body: bytes) -> dict[str, Any]:
    """One raw object through the real preprocessing, as the stack's Lambda does it."""
    settings = clients.settings
    put = clients.s3.put_object(Bucket=settings.raw_bucket, Key=key, Body=body)
    etag = put["ETag"].strip('"')
    event = ObjectCreated(settings.raw_bucket, key, etag, len(body), "ObjectCreated:Put", "")
    result = preprocess_object(event, settings, clients.s3, None)
    assert result["status"] == "ok", result.get("error")
    return result


def record(clients: Clients, run: str, stage: str) -> dict[str, Any] | None:
    return runs.read_stage_record(clients.s3, clients.settings.processed_bucket, run, stage)


def test_a_crawl_over_its_time_limit_fails_its_own_run_while_another_dataset_completes(
    clients: Clients, tmp_path: Path
) -> None:
    folder = tmp_path / "transforms"
    folder.mkdir()
    (folder / "small_total.sql").write_text("SELECT sum(amount) AS total FROM small")
    settings = replace(clients.settings, transforms_dir=folder, crawl_timeout=CRAWL_SECONDS)
    clients = Clients(settings)
    queue = provision(clients)
    wide = preprocessed(clients, "wide/w.csv", wide_csv(WIDE_COLUMNS))
    small = preprocessed(clients, "small/s.csv", b"id,amount\n1,2\n2,3\n")
    scheduler = GlueScheduler(clients, tmp_path / "work", concurrency=2)

    started = time.monotonic()
    threads = scheduler.dispatch([wide, small])  # sent at the same time, as one batch
    for thread in threads:
        thread.join(timeout=120)
        assert not thread.is_alive(), "a pass did not end"

    small_transform = record(clients, small["run_id"], "transform")
    assert small_transform is not None and small_transform["status"] == "ok", small_transform
    assert [o["output"] for o in small_transform["outputs"]] == ["small_total"]
    body = clients.s3.get_object(Bucket=settings.final_bucket, Key=layout.final_data_key("small_total"))
    assert body["Body"].read().decode() == "total\n5\n"
    small_crawl = record(clients, small["run_id"], "crawl")
    assert small_crawl is not None and small_crawl["status"] == "ok"
    # The small dataset did not wait for the wide one's limit.
    assert small_crawl["seconds"] < CRAWL_SECONDS

    crawl = record(clients, wide["run_id"], "crawl")
    assert crawl is not None and crawl["status"] == "failed"
    assert crawl["limit"] == "crawl_timeout"
    assert crawl["peak_memory_mb"] > 0
    assert crawl["error"].startswith(f"the crawl of dataset 'wide' stopped after {CRAWL_SECONDS} s")
    assert "--set crawl_timeout=" in crawl["error"]
    assert CRAWL_SECONDS <= crawl["seconds"] < CRAWL_SECONDS + 5
    assert time.monotonic() - started < CRAWL_SECONDS + 30
    assert record(clients, wide["run_id"], "transform") is None
    assert clients.glue.get_tables(DatabaseName=settings.glue_database)["TableList"][0]["Name"] == "small"

    # A restart: reconcile re-sends only runs that did not finish; the failed crawl finished this one.
    clients.sqs.purge_queue(QueueUrl=queue.url)
    assert reconcile(clients, queue.url) == []


def test_results_arriving_during_a_pass_wait_for_it_and_go_through_together(
    clients: Clients, tmp_path: Path
) -> None:
    settings = replace(clients.settings, crawl_timeout=CRAWL_SECONDS)
    clients = Clients(settings)
    provision(clients)
    first = preprocessed(clients, "wide/a.csv", wide_csv(WIDE_COLUMNS))
    second = preprocessed(clients, "wide/b.csv", wide_csv(10))
    scheduler = GlueScheduler(clients, tmp_path / "work", concurrency=2)

    (thread,) = scheduler.dispatch([first])
    assert scheduler.dispatch([second]) == []  # held for the pass the dataset has
    thread.join(timeout=120)
    assert not thread.is_alive()

    one, two = record(clients, first["run_id"], "crawl"), record(clients, second["run_id"], "crawl")
    assert one is not None and two is not None
    # Each pass failed on its own limit (the dataset still holds the wide file), one after the other.
    assert one["limit"] == two["limit"] == "crawl_timeout"
    assert one["batch"] == two["batch"] == 1
    assert two["started_at"] > one["started_at"]


def test_a_child_over_its_memory_limit_is_stopped_with_the_setting_to_raise() -> None:
    limits = Limits("crawl", "the crawl of dataset 'big'", 60, 300, "crawl_timeout", "crawl_memory_mb")
    started = time.monotonic()
    with pytest.raises(LimitExceeded) as caught:
        run_bounded(bounded_targets.hold_memory, (2000,), limits)
    assert time.monotonic() - started < 30
    assert caught.value.setting == "crawl_memory_mb"
    assert "over its limit of 300 MiB (crawl_memory_mb)" in str(caught.value)
    assert "--set crawl_memory_mb=" in str(caught.value)


def test_a_child_within_its_limits_returns_its_result_and_what_it_used() -> None:
    limits = Limits("crawl", "a small piece", 60, 1000, "crawl_timeout", "crawl_memory_mb")
    result, usage = run_bounded(bounded_targets.hold_memory, (50,), limits)
    assert result == 50 * 1024 * 1024
    assert usage.peak_mb is not None and usage.peak_mb >= 50


def test_an_error_in_the_child_is_its_one_line() -> None:
    limits = Limits("transform", "a failing piece", 60, 1000, "transform_timeout", "transform_memory_mb")
    with pytest.raises(StageError) as caught:
        run_bounded(bounded_targets.fail, ("bad input in row 3",), limits)
    assert not isinstance(caught.value, LimitExceeded)
    assert str(caught.value) == "bad input in row 3"


def test_a_transform_over_its_time_limit_fails_its_run_and_the_run_is_finished(
    clients: Clients, tmp_path: Path
) -> None:
    folder = tmp_path / "transforms"
    folder.mkdir()
    # Billions of rows: many seconds of work in DuckDB, over the one-second limit.
    (folder / "endless.sql").write_text("SELECT count(*) AS n FROM slow, range(5000000000)")
    settings = replace(clients.settings, transforms_dir=folder, transform_timeout=1)
    clients = Clients(settings)
    queue = provision(clients)
    result = preprocessed(clients, "slow/a.csv", b"id\n1\n")

    started = time.monotonic()
    (thread,) = GlueScheduler(clients, tmp_path / "work").dispatch([result])
    thread.join(timeout=120)
    assert not thread.is_alive()
    assert time.monotonic() - started < 30

    crawl = record(clients, result["run_id"], "crawl")
    assert crawl is not None and crawl["status"] == "ok"
    transform = record(clients, result["run_id"], "transform")
    assert transform is not None and transform["status"] == "failed"
    assert transform["limit"] == "transform_timeout"
    (error,) = transform["errors"]
    assert error["error"].startswith("the transforms after dataset(s) slow stopped after 1 s")
    assert "--set transform_timeout=" in error["error"]
    clients.sqs.purge_queue(QueueUrl=queue.url)
    assert reconcile(clients, queue.url) == []


def fork_servers() -> list[int]:
    """This process's children that are multiprocessing's fork server."""
    from emulators.memory import descendants

    found = []
    for pid in descendants(os.getpid()):
        with contextlib.suppress(OSError):
            if b"forkserver" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
    return found


def test_stopping_ends_the_fork_server() -> None:
    limits = Limits("crawl", "a small piece", 60, 1000, "crawl_timeout", "crawl_memory_mb")
    run_bounded(bounded_targets.hold_memory, (1,), limits)
    assert fork_servers()
    bounded.stop()
    assert fork_servers() == []
    # The next piece of work starts a new one.
    assert run_bounded(bounded_targets.hold_memory, (1,), limits)[0] == 1024 * 1024


def test_work_ended_by_a_stopping_stack_writes_no_record_and_is_sent_again(
    clients: Clients, tmp_path: Path
) -> None:
    settings = replace(clients.settings, crawl_timeout=120)
    clients = Clients(settings)
    queue = provision(clients)
    wide = preprocessed(clients, "wide/w.csv", wide_csv(WIDE_COLUMNS))
    (thread,) = GlueScheduler(clients, tmp_path / "work").dispatch([wide])
    deadline = time.monotonic() + 60
    while len(fork_servers()) < 2:  # the fork server and the crawl's child, forked from it
        assert time.monotonic() < deadline, "the crawl's child did not start"
        time.sleep(0.05)  # watching another process; bounded by the deadline

    bounded.stop()  # what the stack does as it stops
    thread.join(timeout=30)
    assert not thread.is_alive()

    assert record(clients, wide["run_id"], "crawl") is None
    clients.sqs.purge_queue(QueueUrl=queue.url)
    assert reconcile(clients, queue.url) == ["wide/w.csv"]
