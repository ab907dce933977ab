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
from pipeline.catalog.crawler import crawl_dataset, get_table
from pipeline.errors import CsvpipeError
from pipeline.transform.job import run_transform
from pipeline.transform.sql import Transform, discover

log = logging.getLogger("csvpipe.glue")


def _stage_error(stage: str, exc: Exception) -> str:
    """A stage's failure for its run record: user-facing errors as they are, anything else
    (a bug, an unreachable endpoint) named by type, with the traceback in the stack's log."""
    if isinstance(exc, CsvpipeError):
        return str(exc)
    log.exception("%s stage failed unexpectedly", stage)
    return f"internal error in the {stage} stage: {type(exc).__name__}: {exc}"


def transforms_for(dataset: str, transforms: list[Transform]) -> list[Transform]:
    return [t for t in transforms if dataset in t.tables]


def run_transforms(clients: Clients, transforms: list[Transform], work_dir: Path) -> dict[str, Any]:
    """Run transforms whose tables all exist; a failure stops only that transform."""
    settings = clients.settings
    outputs, skipped, errors = [], [], []
    for transform in transforms:
        missing = sorted(
            t for t in transform.tables if get_table(clients.glue, settings.glue_database, t) is None
        )
        if missing:
            skipped.append(
                {"transform": transform.name, "reason": f"waiting for table(s) {', '.join(missing)}"}
            )
            continue
        try:
            outputs.append(run_transform(transform, settings, clients.s3, clients.glue, work_dir))
        except Exception as exc:
            errors.append({"transform": transform.name, "error": _stage_error("transform", exc)})
    return {"status": "failed" if errors else "ok", "outputs": outputs, "skipped": skipped, "errors": errors}


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
        chosen = transforms_for(dataset, discover(settings.transforms_dir))
        transform = run_transforms(clients, chosen, work_dir)
    except Exception as exc:
        transform = {
            "status": "failed",
            "outputs": [],
            "skipped": [],
            "errors": [{"error": _stage_error("transform", exc)}],
        }
    transform.update(started_at=watch.started_at, seconds=watch.seconds())
    runs.write_stage_record(clients.s3, bucket, run, "transform", transform)
