"""The Glue stand-in resumes what a killed stack left half done: runs preprocessed and never
crawled and transformed (their results waited in the killed process's memory) are found from
their run records and go through, once; finished and failed runs are left alone."""

from __future__ import annotations

from pathlib import Path

from emulators.glue_jobs import GlueScheduler, after_preprocess_batch, unfinished_runs
from pipeline import layout, runs
from pipeline.aws import Clients
from pipeline.settings import replace


def record(clients: Clients, run: str, stage: str, status: str = "ok", **extra: object) -> None:
    document = {"status": status, **extra}
    runs.write_stage_record(clients.s3, clients.settings.processed_bucket, run, stage, document)


def test_only_runs_preprocessed_and_never_transformed_are_unfinished(clients: Clients) -> None:
    record(clients, "pending", "preprocess", dataset="things")  # killed before its crawl
    record(clients, "crawled", "preprocess", dataset="things")  # killed between crawl and transform
    record(clients, "crawled", "crawl")
    record(clients, "done", "preprocess", dataset="things")
    record(clients, "done", "crawl")
    record(clients, "done", "transform")
    record(clients, "bad-file", "preprocess", status="failed", dataset="things")
    record(clients, "bad-crawl", "preprocess", dataset="things")
    record(clients, "bad-crawl", "crawl", status="failed")
    record(clients, "retried", "invoke", status="failed")  # its event is still queued

    found = unfinished_runs(clients)
    assert [result["run_id"] for result in found] == ["crawled", "pending"]
    assert all(result["status"] == "ok" and result["dataset"] == "things" for result in found)


def test_a_resume_crawls_and_transforms_what_a_killed_stack_left(clients: Clients, tmp_path: Path) -> None:
    transforms = tmp_path / "transforms"
    transforms.mkdir()
    (transforms / "things_rows.sql").write_text("SELECT count(*) AS row_count FROM things")
    clients = Clients(replace(clients.settings, transforms_dir=transforms))
    settings = clients.settings
    clients.s3.put_object(Bucket=settings.processed_bucket, Key="things/a.csv", Body=b"id\n1\n2\n")
    clients.s3.put_object(Bucket=settings.processed_bucket, Key="things/b.csv", Body=b"id\n3\n")
    record(clients, "run-a", "preprocess", dataset="things")
    record(clients, "run-b", "preprocess", dataset="things")
    record(clients, "run-b", "crawl")

    scheduler = GlueScheduler(clients, tmp_path / "work")
    assert scheduler.resume() == 2
    batch = scheduler.next_batch(lambda: False)
    after_preprocess_batch(clients, batch + batch[:1], tmp_path / "work")  # one submitted twice

    for run in ("run-a", "run-b"):
        transform = runs.read_stage_record(clients.s3, settings.processed_bucket, run, "transform")
        assert transform is not None and transform["status"] == "ok", transform
    body = clients.s3.get_object(Bucket=settings.final_bucket, Key=layout.final_data_key("things_rows"))
    assert body["Body"].read() == b"row_count\n3\n"
    assert scheduler.resume() == 0  # nothing left to resume
