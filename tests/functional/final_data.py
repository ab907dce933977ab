"""Real final data for the dashboard and QuickSight tests, made by the real pipeline stages.

Each raw file is put in the raw bucket, then the Lambda's ``preprocess_object`` (which writes the
processed object and its run record), the crawler and the transforms run in-process against
the emulator, and their run records are written as the local Glue stand-in writes them. No
Lambda runtime or event source is involved, so a dataset is ready in well under a second.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from pipeline import runs
from pipeline.aws import Clients
from pipeline.catalog.crawler import crawl_dataset
from pipeline.events import ObjectCreated
from pipeline.preprocess.handler import preprocess_object
from pipeline.provision import provision
from pipeline.settings import Settings
from pipeline.transform.dag import reading
from pipeline.transform.job import load_plan, run_steps

WESTERNS = (
    b"movieId,title,genre\n"
    b"101,Unforgiven (1992),Western|Drama\n"
    b"102,Tombstone (1993),Western|Action\n"
    b"103,Open Range (2003),Western\n"
    b"104,Half a row\n"
)
"""Three more movies for the sample's dataset (other years, two with two genres) and a row that is
rejected (too few fields)."""


def produce(settings: Settings, files: list[tuple[str, bytes]]) -> Clients:
    """Run ``files`` (raw key, content) through preprocess, crawl and transform, in order; the
    buckets, queue and database are created first when they do not exist yet."""
    clients = Clients(settings)
    if settings.raw_bucket not in {bucket["Name"] for bucket in clients.s3.list_buckets()["Buckets"]}:
        provision(clients)
    with tempfile.TemporaryDirectory(prefix="csvpipe-test-") as work:
        for key, body in files:
            put = clients.s3.put_object(Bucket=settings.raw_bucket, Key=key, Body=body)
            record = ObjectCreated(
                settings.raw_bucket, key, put["ETag"].strip('"'), len(body), "ObjectCreated:Put", ""
            )
            result = preprocess_object(record, settings, clients.s3, None)
            if result["status"] == "ok":
                _crawl_and_transform(clients, result, Path(work))
    return clients


def _crawl_and_transform(clients: Clients, result: dict, work: Path) -> None:
    settings, run, bucket = clients.settings, result["run_id"], clients.settings.processed_bucket
    watch = runs.Stopwatch()
    crawl = {"status": "ok", **crawl_dataset(result["dataset"], settings, clients.s3, clients.glue, work)}
    crawl.update(started_at=watch.started_at, seconds=watch.seconds())
    runs.write_stage_record(clients.s3, bucket, run, "crawl", crawl)
    watch = runs.Stopwatch()
    steps, references = load_plan(settings)
    transform = run_steps(
        reading(steps, result["dataset"]), settings, clients.s3, clients.glue, work, references
    )
    transform.update(started_at=watch.started_at, seconds=watch.seconds())
    runs.write_stage_record(clients.s3, bucket, run, "transform", transform)
