"""The Glue stand-in's scheduling: after a file is preprocessed, crawl its dataset, then run the
transforms that read it. AWS would run a Glue crawler and a Glue job; locally the same
pipeline.catalog and pipeline.transform code runs in-process.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from pipeline import runs
from pipeline.aws import Clients
from pipeline.catalog.crawler import crawl_dataset
from pipeline.errors import CsvpipeError, failure_text
from pipeline.transform.dag import reading
from pipeline.transform.job import load_plan, run_steps

log = logging.getLogger("csvpipe.glue")


def _stage_error(stage: str, exc: Exception) -> str:
    """A stage's failure for its run record: user-facing errors as they are, anything else
    (a bug, an unreachable endpoint) named by type, with the traceback in the stack's log."""
    if not isinstance(exc, CsvpipeError):
        log.exception("%s stage failed unexpectedly", stage)
    return failure_text(stage, exc)


def after_preprocess(clients: Clients, result: dict[str, Any], work_dir: Path) -> None:
    """Crawl and transform after one successful preprocess; write both run records."""
    if result.get("status") != "ok":
        return
    settings, run, dataset = clients.settings, result["run_id"], result["dataset"]
    bucket = settings.processed_bucket

    watch = runs.Stopwatch()
    try:
        crawl = {"status": "ok", **crawl_dataset(dataset, settings, clients.s3, clients.glue, work_dir)}
    except Exception as exc:
        crawl = {"status": "failed", "error": _stage_error("crawl", exc)}
    crawl.update(started_at=watch.started_at, seconds=watch.seconds())
    runs.write_stage_record(clients.s3, bucket, run, "crawl", crawl)
    if crawl["status"] != "ok":
        return

    watch = runs.Stopwatch()
    try:
        steps, references = load_plan(settings)
        transform = run_steps(
            reading(steps, dataset), settings, clients.s3, clients.glue, work_dir, references
        )
    except Exception as exc:
        transform = {
            "status": "failed",
            "outputs": [],
            "skipped": [],
            "errors": [{"error": _stage_error("transform", exc)}],
        }
    transform.update(started_at=watch.started_at, seconds=watch.seconds())
    runs.write_stage_record(clients.s3, bucket, run, "transform", transform)
