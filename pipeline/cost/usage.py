"""Usage per file for the estimate: measured from the local run records, or assumed.

Why from the records: every stage writes what it did (the raw object's size, the Lambda's
seconds, the crawl's and the transforms' seconds), so the estimate can start from the user's
own files instead of figures typed by hand. The records are read from the local stack's
buckets through the S3 API (``recorded_runs``), whatever profile the estimate is for: no AWS is
needed. Without a running local stack, every figure is assumed, and the output says so.

``measure`` is pure (records in, figures out); ``recorded_runs`` is the I/O.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pipeline import layout

MB = 1024 * 1024
# What is assumed when there are no run records (each is printed as an assumption).
ASSUMED_FILES_PER_DAY = 100
ASSUMED_MB_PER_FILE = 1.0
# csvpipe's preprocess of a 1 GB file took 30 to 63 s on our 2-core machines (ARCHITECTURE.md,
# December 2026): 0.06 s per MB, the slower figure; and at least half a second for any file.
ASSUMED_LOCAL_SECONDS_PER_MB = 0.06
ASSUMED_LOCAL_MIN_SECONDS = 0.5
ASSUMED_STAGE_SECONDS = 1.0  # a local crawl or transforms pass over small files
# Below this size a file's seconds are the fixed cost of any file, not a rate per MB.
MIN_MB_FOR_RATE = 1.0


@dataclass(frozen=True)
class Measured:
    """What the run records say, per file (``runs`` 0: nothing measured, all assumed). A file
    takes ``local_min_seconds`` (the fastest run: the fixed cost) plus ``local_seconds_per_mb``
    (from runs of at least MIN_MB_FOR_RATE MB) for each MB, here."""

    runs: int
    mb_per_file: float
    local_seconds_per_mb: float
    local_min_seconds: float
    processed_ratio: float
    crawl_seconds: float
    transform_seconds: float
    assumed: tuple[str, ...]


def _median(values: Sequence[float], default: float) -> float:
    return statistics.median(values) if values else default


def measure(
    runs: Sequence[Mapping[str, Mapping[str, Any]]], sizes: Mapping[tuple[str, str], int]
) -> Measured:
    """The per-file figures of the successful runs (``runs``: each run's records by stage;
    ``sizes``: object sizes by (bucket, key), for the processed outputs). Medians, so one odd
    file does not move the estimate."""
    raw_mb, per_mb, seconds, ratios, crawls, transforms = [], [], [], [], [], []
    for records in runs:
        pre = records.get("preprocess") or {}
        size = (pre.get("source") or {}).get("size")
        took = pre.get("seconds")
        if pre.get("status") != "ok" or not isinstance(size, int | float) or size <= 0:
            continue
        if not isinstance(took, int | float):
            continue
        raw_mb.append(size / MB)
        if size / MB >= MIN_MB_FOR_RATE:
            per_mb.append(took / (size / MB))
        seconds.append(float(took))
        output = pre.get("output") or {}
        out_size = sizes.get((str(output.get("bucket")), str(output.get("key"))))
        if out_size is not None:
            ratios.append(out_size / size)
        for stage, found in (("crawl", crawls), ("transform", transforms)):
            record = records.get(stage) or {}
            if record.get("status") == "ok" and isinstance(record.get("seconds"), int | float):
                found.append(float(record["seconds"]))
    assumed = []
    if not raw_mb:
        assumed.append("mb_per_file")
    if not per_mb:
        assumed.append("lambda_seconds_per_mb")
    if not ratios:
        assumed.append("processed_size")
    if not crawls:
        assumed.append("crawl_seconds")
    if not transforms:
        assumed.append("transform_seconds")
    return Measured(
        runs=len(raw_mb),
        mb_per_file=_median(raw_mb, ASSUMED_MB_PER_FILE),
        local_seconds_per_mb=_median(per_mb, ASSUMED_LOCAL_SECONDS_PER_MB),
        local_min_seconds=min(seconds) if seconds else ASSUMED_LOCAL_MIN_SECONDS,
        # Cleaning drops rows; it may also add quotes: never assume it shrinks the data.
        processed_ratio=max(1.0, _median(ratios, 1.0)),
        crawl_seconds=_median(crawls, ASSUMED_STAGE_SECONDS),
        transform_seconds=_median(transforms, ASSUMED_STAGE_SECONDS),
        assumed=tuple(assumed),
    )


def recorded_runs(
    s3: Any, buckets: Sequence[str]
) -> tuple[list[dict[str, dict[str, Any]]], dict[tuple[str, str], int]]:
    """Every run's records in ``buckets`` (under ``_runs/<run>/<stage>.json``), and the size of
    every object in them. A record that is not JSON is skipped."""
    runs: dict[str, dict[str, dict[str, Any]]] = {}
    sizes: dict[tuple[str, str], int] = {}
    for bucket in buckets:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for item in page.get("Contents", []):
                key = item["Key"]
                sizes[(bucket, key)] = int(item["Size"])
                run, _, name = key.removeprefix(layout.RUNS_PREFIX).partition("/")
                stage = name.removesuffix(".json")
                if not key.startswith(layout.RUNS_PREFIX) or stage not in layout.STAGES:
                    continue
                try:
                    record = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
                except ValueError:
                    continue
                if isinstance(record, dict):
                    runs.setdefault(run, {})[stage] = record
    return list(runs.values()), sizes
