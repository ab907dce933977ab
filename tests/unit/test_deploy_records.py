"""The records job's decisions (pipeline.deploy.glue_records): which files a crawl handled, what
their crawl and transform records say. Table-driven, no AWS."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta

import pytest

from pipeline.deploy import glue_records
from pipeline.deploy.glue_records import (
    crawl_record,
    handled_runs,
    last_crawl,
    outputs_reading,
    parse_options,
    table_action,
    transform_record,
)

CRAWL = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
BEFORE, AFTER = CRAWL - timedelta(seconds=5), CRAWL + timedelta(seconds=5)


def test_handled_runs_are_preprocessed_before_the_crawl_and_not_yet_transformed() -> None:
    listing = [
        {"Key": "_runs/a/preprocess.json", "LastModified": BEFORE},
        {"Key": "_runs/b/preprocess.json", "LastModified": BEFORE},
        {"Key": "_runs/b/crawl.json", "LastModified": BEFORE},  # a failed crawl: tried again
        {"Key": "_runs/c/preprocess.json", "LastModified": BEFORE},
        {"Key": "_runs/c/transform.json", "LastModified": BEFORE},  # done
        {"Key": "_runs/d/preprocess.json", "LastModified": AFTER},  # the next crawl's
        {"Key": "_runs/movies_per_genre.json", "LastModified": BEFORE},  # not a run folder
    ]
    assert handled_runs(listing, CRAWL) == ["a", "b"]


@pytest.mark.parametrize(
    ("created", "updated", "action"),
    [
        (AFTER, AFTER, "create"),
        (BEFORE, AFTER, "update"),
        (BEFORE, BEFORE, "unchanged"),
        (BEFORE, None, "unchanged"),
    ],
)
def test_table_action(created: datetime, updated: datetime | None, action: str) -> None:
    assert table_action({"CreateTime": created, "UpdateTime": updated}, CRAWL) == action


CRAWLER = {
    "Name": "csvpipe-processed",
    "LastCrawl": {
        "Status": "SUCCEEDED",
        "StartTime": CRAWL,
        "LogGroup": "/aws-glue/crawlers",
        "LogStream": "x",
        "MessagePrefix": "crawl-1",
    },
}
LAST = last_crawl(CRAWLER, [])
TABLE = {
    "CreateTime": AFTER,
    "StorageDescriptor": {
        "Location": "s3://processed/movies/",
        "Columns": [{"Name": "movie_id", "Type": "bigint"}, {"Name": "title", "Type": "string"}],
    },
    "PartitionKeys": [{"Name": "year", "Type": "string"}],
}


def test_a_crawl_record_has_what_csvpipe_run_prints() -> None:
    record = crawl_record("csvpipe-processed", LAST, TABLE, "csvpipe", "movies")
    assert record["status"] == "ok"
    assert (record["database"], record["table"], record["action"]) == ("csvpipe", "movies", "create")
    assert record["columns"] == [
        {"name": "movie_id", "type": "bigint"},
        {"name": "title", "type": "string"},
        {"name": "year", "type": "string"},
    ]
    assert record["started_at"] == "2026-11-26T12:00:00.000Z"
    assert "seconds" not in record  # GetCrawler's LastCrawl has no end time


def test_the_listed_crawl_gives_its_state_and_duration() -> None:
    listed = {"CrawlId": "crawl-1", "State": "COMPLETED", "StartTime": CRAWL, "EndTime": AFTER}
    crawl = last_crawl({**CRAWLER, "LastCrawl": {**CRAWLER["LastCrawl"], "Status": "RUNNING"}}, [listed])
    assert crawl["Status"] == "COMPLETED"
    record = crawl_record("csvpipe-processed", crawl, TABLE, "csvpipe", "movies")
    assert (record["status"], record["seconds"]) == ("ok", 5.0)
    other = last_crawl(CRAWLER, [{**listed, "CrawlId": "crawl-0", "State": "FAILED"}])
    assert other["Status"] == "SUCCEEDED"


@pytest.mark.parametrize(
    ("crawl", "table", "error"),
    [
        (
            {**LAST, "Status": "FAILED", "ErrorMessage": "Access denied"},
            TABLE,
            "the Glue crawler csvpipe-processed ended FAILED: Access denied "
            "(see CloudWatch Logs /aws-glue/crawlers x)",
        ),
        (LAST, None, "the Glue crawler csvpipe-processed made no table movies in csvpipe"),
    ],
)
def test_a_failed_crawl_says_why(crawl: dict, table: dict | None, error: str) -> None:
    record = crawl_record("csvpipe-processed", crawl, table, "csvpipe", "movies")
    assert record["status"] == "failed"
    assert record["error"].startswith(error)


def output(name: str, **inputs: str) -> dict:
    return {"output": name, "inputs": {table: {"kind": kind} for table, kind in inputs.items()}, "rows": 1}


def test_outputs_reading_a_dataset_include_those_reading_its_outputs() -> None:
    records = [
        output("per_genre", movies="catalog"),
        output("classes", movies="catalog", genre_classes="reference"),
        output("per_class", classes="output", genre_classes="reference"),
        output("other", ratings="catalog"),
        output("of_other", other="output"),
    ]
    assert [r["output"] for r in outputs_reading("movies", records)] == ["per_genre", "classes", "per_class"]
    assert [r["output"] for r in outputs_reading("ratings", records)] == ["other", "of_other"]
    assert outputs_reading("nothing", records) == []


def test_transform_records_carry_the_job_run_state() -> None:
    outputs = [output("per_genre", movies="catalog")]
    run = {"Id": "jr_1", "JobRunState": "SUCCEEDED", "StartedOn": CRAWL, "ExecutionTime": 42}
    ok = transform_record("csvpipe-transforms", run, outputs)
    assert (ok["status"], ok["outputs"], ok["errors"], ok["seconds"]) == ("ok", outputs, [], 42)
    failed = transform_record(
        "csvpipe-transforms", {**run, "JobRunState": "FAILED", "ErrorMessage": "boom"}, []
    )
    assert failed["status"] == "failed"
    assert failed["errors"] == [{"error": "the Glue job csvpipe-transforms ended FAILED: boom"}]
    missing = transform_record("csvpipe-transforms", None, [])
    assert missing["errors"] == [{"error": "the Glue job csvpipe-transforms did not run after the crawl"}]


def test_options_ignore_the_arguments_glue_adds() -> None:
    options = parse_options(
        [
            "--JOB_NAME",
            "csvpipe-records",
            "--csvpipe_processed_bucket",
            "p",
            "--csvpipe_final_bucket",
            "f",
            "--csvpipe_database",
            "db",
            "--csvpipe_crawler",
            "c",
            "--csvpipe_transforms_job",
            "j",
        ]
    )
    assert (options.processed_bucket, options.final_bucket, options.crawler, options.endpoint) == (
        "p",
        "f",
        "c",
        None,
    )


def test_the_job_script_stands_alone_on_python_3_9() -> None:
    """Glue runs the file as it is: no pipeline import, nothing newer than Python 3.9."""
    source = glue_records.__file__
    with open(source, encoding="utf-8") as reader:
        tree = ast.parse(reader.read(), feature_version=(3, 9))
    imported = {
        alias.name.split(".")[0]
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
    }
    assert imported <= {
        "__future__",
        "argparse",
        "json",
        "collections",
        "dataclasses",
        "datetime",
        "typing",
        "boto3",
        "sys",
    }
