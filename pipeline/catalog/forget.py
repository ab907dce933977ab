"""Forgetting one dataset (``csvpipe crawl DATASET --forget``): its catalog table and everything
the pipeline made from it, nothing of the other datasets.

Why: a dataset whose files went wrong (a bad export, a header that changed twice) used to be
recoverable only by ``csvpipe down --forget``, which wipes every dataset. Planned, then
executed, like every catalog change: ``--dry-run`` prints the plan.

What a dataset leaves behind, and so what is removed:

    raw        its uploads (else the stack's restart would process them again)
    processed  its cleaned files, its rejects, the run records of its uploads
    catalog    its Glue table (with its versions and partitions)
    final      the outputs of the transforms that read it, and of those reading theirs
    local      the crawler's and the job's copies of its files (Parquet included)

The user's own files (``data/inbox``, the transforms and rules) are not touched.
"""

from __future__ import annotations

import contextlib
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pipeline import layout
from pipeline.catalog.crawler import get_table
from pipeline.errors import CatalogError
from pipeline.settings import Settings
from pipeline.storage import local_relative

DELETE_BATCH = 1000  # S3's DeleteObjects takes at most 1,000 keys a call


@dataclass(frozen=True)
class ForgetPlan:
    dataset: str
    table: str | None  # database.name when the catalog has it
    versions: int
    objects: dict[str, list[str]] = field(default_factory=dict)  # bucket -> keys
    outputs: tuple[str, ...] = ()
    local: tuple[Path, ...] = ()

    @property
    def empty(self) -> bool:
        return self.table is None and not any(self.objects.values()) and not self.local


def _keys(s3: Any, bucket: str, prefix: str = "") -> list[str]:
    keys: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [obj["Key"] for obj in page.get("Contents", [])]
    return keys


def _raw_objects(s3: Any, settings: Settings, dataset: str) -> list[tuple[str, str]]:
    """(key, ETag) of the raw uploads that belong to ``dataset`` (its folder, or a top-level
    file named after it)."""
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=settings.raw_bucket):
        for obj in page.get("Contents", []):
            if layout.is_csv_key(obj["Key"]) and layout.dataset_for_key(obj["Key"]) == dataset:
                found.append((obj["Key"], obj["ETag"].strip('"')))
    return found


def plan_forget(dataset: str, settings: Settings, s3: Any, glue: Any, outputs: list[str]) -> ForgetPlan:
    """What forgetting ``dataset`` removes; ``outputs``: the transforms reading it, directly or
    through other outputs (their final data goes too)."""
    raw = _raw_objects(s3, settings, dataset)
    processed = _keys(s3, settings.processed_bucket, layout.dataset_prefix(dataset))
    processed += _keys(s3, settings.processed_bucket, layout.REJECTS_PREFIX + layout.dataset_prefix(dataset))
    for key, etag in raw:
        run = layout.run_id(settings.raw_bucket, key, etag)
        processed += _keys(s3, settings.processed_bucket, f"{layout.RUNS_PREFIX}{run}/")
    final: list[str] = []
    for output in outputs:
        final += _keys(s3, settings.final_bucket, f"{output}/")
        final += _keys(s3, settings.final_bucket, f"{layout.PARQUET_PREFIX}{output}/")
        final += _keys(s3, settings.final_bucket, layout.final_run_key(output))
    table = get_table(glue, settings.glue_database, dataset)
    versions = 0
    if table is not None:
        pages = glue.get_paginator("get_table_versions").paginate(
            DatabaseName=settings.glue_database, TableName=dataset
        )
        versions = sum(len(page.get("TableVersions", [])) for page in pages)
    work = settings.state_dir / "glue-work"
    local = [
        work / local_relative(settings.processed_bucket) / local_relative(dataset),
        *(work / local_relative(settings.final_bucket) / local_relative(f"parquet/{o}") for o in outputs),
    ]
    return ForgetPlan(
        dataset,
        f"{settings.glue_database}.{dataset}" if table is not None else None,
        versions,
        {
            settings.raw_bucket: [key for key, _ in raw],
            settings.processed_bucket: processed,
            settings.final_bucket: sorted(set(final)),
        },
        tuple(o for o in outputs if any(k.startswith((f"{o}/", f"parquet/{o}/")) for k in final)),
        tuple(path for path in local if path.exists()),
    )


def describe_forget(plan: ForgetPlan, settings: Settings) -> list[str]:
    """The plan as the lines ``csvpipe crawl --forget`` prints."""
    if plan.empty:
        return [f"{plan.dataset}: nothing to forget (no table, no objects, no local copies)"]
    lines = [f"{plan.dataset}: forget"]
    if plan.table:
        lines.append(f"  table {plan.table} ({plan.versions} version(s))")

    def objects(bucket: str, what: str) -> None:
        keys = plan.objects.get(bucket, [])
        if keys:
            shown = ", ".join(keys[:3]) + (", ..." if len(keys) > 3 else "")
            lines.append(f"  {len(keys)} {what} object(s) in s3://{bucket}/: {shown}")

    objects(settings.raw_bucket, "raw")
    objects(settings.processed_bucket, "processed, rejects and run record")
    objects(settings.final_bucket, "final")
    if plan.outputs:
        lines.append(f"  outputs of the transforms reading it: {', '.join(plan.outputs)}")
    lines += [f"  local copies: {path}" for path in plan.local]
    lines.append("  other datasets and your local files (data/inbox, transforms, rules) are not touched")
    return lines


def forget_dataset(plan: ForgetPlan, settings: Settings, s3: Any, glue: Any) -> dict[str, Any]:
    """Remove what ``plan`` lists; the counts of what went."""
    deleted = 0
    for bucket, keys in plan.objects.items():
        for start in range(0, len(keys), DELETE_BATCH):
            batch = keys[start : start + DELETE_BATCH]
            response = s3.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch], "Quiet": True}
            )
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise CatalogError(
                    f"could not delete {len(errors)} object(s) of {plan.dataset} from s3://{bucket}/, "
                    f"e.g. {first.get('Key')}: {first.get('Code')} {first.get('Message')}"
                )
            deleted += len(batch)
    if plan.table:
        # Gone meanwhile: forgotten all the same.
        with contextlib.suppress(glue.exceptions.EntityNotFoundException):
            glue.delete_table(DatabaseName=settings.glue_database, Name=plan.dataset)
    for path in plan.local:
        shutil.rmtree(path, ignore_errors=True)
    return {"table": plan.table, "objects": deleted, "outputs": list(plan.outputs), "local": len(plan.local)}
