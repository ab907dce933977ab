"""Load, at the scale CI affords: hundreds of small files dropped at once beside a large one,
through the whole stack with its bounded concurrency. Every file reaches the final output once:
none lost, none counted twice. (bench/ measures the full 1,000 files beside a 1 GB file.)"""

from __future__ import annotations

import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from pipeline import layout, runs
from pipeline.aws import Clients
from tests.conftest import running_stack

pytestmark = pytest.mark.slow

SMALL_FILES = int(os.environ.get("CSVPIPE_LOAD_SMALL_FILES", "300"))
ROWS_PER_SMALL = 5
LARGE_ROWS = 200_000


def test_many_small_files_beside_a_large_one_each_reach_the_output_once(tmp_path: Path) -> None:
    home = tmp_path / "user"
    transforms = home / "transforms"
    transforms.mkdir(parents=True)
    (transforms / "load_rows.sql").write_text(
        "SELECT count(*) AS row_count, count(DISTINCT id) AS ids FROM load"
    )
    with running_stack(home, {"CSVPIPE_TRANSFORMS_DIR": str(transforms)}) as stack:
        settings = stack.settings
        s3 = Clients(settings).s3
        large = "id,title\n" + "".join(f"{i},film {i}\n" for i in range(LARGE_ROWS))
        bodies = {"load/large.csv": large}
        next_id = LARGE_ROWS
        for n in range(SMALL_FILES):
            rows = "".join(f"{next_id + i},film {next_id + i}\n" for i in range(ROWS_PER_SMALL))
            bodies[f"load/small-{n:04}.csv"] = "id,title\n" + rows
            next_id += ROWS_PER_SMALL
        expected = LARGE_ROWS + SMALL_FILES * ROWS_PER_SMALL

        with ThreadPoolExecutor(8) as pool:  # dropped at once
            etags = dict(
                zip(
                    bodies,
                    pool.map(
                        lambda k: s3.put_object(Bucket=settings.raw_bucket, Key=k, Body=bodies[k])["ETag"],
                        bodies,
                    ),
                    strict=True,
                )
            )

        key = layout.final_data_key("load_rows")
        deadline = time.monotonic() + 600
        body = None
        while body != f"row_count,ids\n{expected},{expected}\n":
            assert time.monotonic() < deadline, f"the output never counted {expected} rows; last: {body!r}"
            time.sleep(0.5)  # the stack works in other processes; bounded by the deadline
            try:
                body = s3.get_object(Bucket=settings.final_bucket, Key=key)["Body"].read().decode()
            except s3.exceptions.NoSuchKey:
                body = None

        for raw_key, etag in etags.items():
            run = layout.run_id(settings.raw_bucket, raw_key, etag)
            record = runs.read_stage_record(s3, settings.processed_bucket, run, "preprocess")
            assert record is not None and record["status"] == "ok", raw_key
            assert runs.read_stage_record(s3, settings.processed_bucket, run, "invoke") is None  # no retry
        processed = sum(
            page.get("KeyCount", 0)
            for page in s3.get_paginator("list_objects_v2").paginate(
                Bucket=settings.processed_bucket, Prefix="load/"
            )
        )
        assert processed == len(bodies)
