"""Unit tests of pipeline.follow.FileProgress, built from plain run-record dicts.

follow() itself polls the processed bucket; it is exercised against the emulator elsewhere, never
against a fake of S3 here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline import layout
from pipeline.follow import FileProgress
from pipeline.ingest.upload import Uploaded

UPLOAD = Uploaded(
    path=Path("data/samples/movies.csv"),
    bucket="csv-raw-data-bucket",
    key="movies/movies.csv",
    etag="0c5e0f3a8b4d2e1f9a7c6b5d4e3f2a1b",
    size=1305,
)

OK = {"status": "ok"}
PRE_OK = {"status": "ok", "dataset": "movies", "rows": {"in": 27, "out": 27}, "error": None}
PRE_FAILED = {"status": "failed", "error": "movies/movies.csv: the file has a header but no data rows"}
CRAWL_FAILED = {"status": "failed", "error": "NoData: no processed data for dataset 'movies'"}
TRANSFORM_FAILED = {
    "status": "failed",
    "outputs": [],
    "skipped": [],
    "errors": [{"transform": "a", "error": "Binder Error: x"}, {"transform": "b", "error": "y"}],
}
INVOKE_RETRY = {
    "status": "failed",
    "error_type": "Runtime.ExitError",
    "error": "exit status 1",
    "attempt": 1,
    "max_attempts": 3,
    "will_retry": True,
}
INVOKE_DLQ = {**INVOKE_RETRY, "attempt": 3, "will_retry": False}


@pytest.mark.parametrize(
    ("records", "stage", "failed", "done", "error"),
    [
        ({}, "queued", False, False, None),
        (
            {"invoke": INVOKE_DLQ},
            "preprocess",
            True,
            True,
            "preprocess invocation failed: Runtime.ExitError: exit status 1 "
            "(sent to the dead-letter queue: see `csvpipe dlq list`)",
        ),
        ({"preprocess": PRE_OK}, "preprocess", False, False, None),
        ({"invoke": INVOKE_RETRY, "preprocess": PRE_OK}, "preprocess", False, False, None),
        (
            {"preprocess": PRE_FAILED},
            "preprocess",
            True,
            True,
            "preprocess failed: movies/movies.csv: the file has a header but no data rows",
        ),
        ({"preprocess": PRE_OK, "crawl": OK}, "crawl", False, False, None),
        (
            {"preprocess": PRE_OK, "crawl": CRAWL_FAILED},
            "crawl",
            True,
            True,
            "crawl failed: NoData: no processed data for dataset 'movies'",
        ),
        ({"preprocess": PRE_OK, "crawl": OK, "transform": OK}, "transform", False, True, None),
        (
            {"preprocess": PRE_OK, "crawl": OK, "transform": TRANSFORM_FAILED},
            "transform",
            True,
            True,
            "transform failed: a: Binder Error: x; b: y",
        ),
        (
            {"preprocess": PRE_OK, "crawl": OK, "transform": {**TRANSFORM_FAILED, "error": "whole job"}},
            "transform",
            True,
            True,
            "transform failed: whole job",
        ),
        # A record without status "ok" is a failure, whatever else it says.
        (
            {"preprocess": {"status": "running", "error": "still going"}},
            "preprocess",
            True,
            True,
            "preprocess failed: still going",
        ),
    ],
    ids=[
        "queued",
        "invoke-dlq",
        "preprocessed",
        "invoke-then-preprocessed",
        "preprocess-failed",
        "crawled",
        "crawl-failed",
        "all-ok",
        "transform-failed",
        "transform-failed-one-error",
        "not-ok-status",
    ],
)
def test_file_progress(
    records: dict[str, dict[str, Any]], stage: str, failed: bool, done: bool, error: str | None
) -> None:
    progress = FileProgress(UPLOAD, dict(records))
    assert progress.stage == stage
    assert progress.failed is failed
    assert progress.done is done
    assert progress.error() == error
    assert (progress.error() is not None) == progress.failed


@pytest.mark.parametrize(
    ("records", "stage", "waiting_for"),
    [
        ({}, "queued", "preprocess"),
        ({"preprocess": PRE_OK}, "preprocess", "crawl"),
        ({"preprocess": PRE_OK, "crawl": OK}, "crawl", "transform"),
    ],
)
def test_timed_out_progress(records: dict[str, dict[str, Any]], stage: str, waiting_for: str) -> None:
    progress = FileProgress(UPLOAD, dict(records), timed_out=True)
    assert progress.stage == stage
    assert progress.failed is True
    assert progress.done is True
    assert progress.error() == f"timed out waiting for the {waiting_for} stage"


def test_first_failed_stage_is_reported() -> None:
    progress = FileProgress(UPLOAD, {"preprocess": PRE_FAILED, "crawl": CRAWL_FAILED})
    assert progress.stage == "crawl"
    assert progress.error() == f"preprocess failed: {PRE_FAILED['error']}"


def test_records_are_per_progress() -> None:
    first, second = FileProgress(UPLOAD), FileProgress(UPLOAD)
    first.records["preprocess"] = PRE_OK
    assert (first.stage, second.stage) == ("preprocess", "queued")


def test_upload_run_id_matches_layout() -> None:
    assert UPLOAD.run_id == layout.run_id(UPLOAD.bucket, UPLOAD.key, UPLOAD.etag)
    assert UPLOAD.run_id == layout.run_id(UPLOAD.bucket, UPLOAD.key, f'"{UPLOAD.etag}"')


def test_invocation_that_will_be_retried_says_so() -> None:
    progress = FileProgress(UPLOAD, {"invoke": INVOKE_RETRY})
    assert progress.stage == "preprocess, retry 1"
    assert progress.error() == (
        "preprocess invocation failed: Runtime.ExitError: exit status 1 (will be retried)"
    )


def test_invocation_that_will_be_retried_is_not_final() -> None:
    progress = FileProgress(UPLOAD, {"invoke": INVOKE_RETRY})
    assert progress.done is False
    assert progress.failed is False
