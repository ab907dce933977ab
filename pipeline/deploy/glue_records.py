"""The records job: writes the crawl and transform run records ``csvpipe run`` follows, after the
AWS Glue crawler and the transforms job of csvpipe's Glue workflow.

Why a job of its own: on AWS the crawl is Glue's crawler and the transforms are pipeline.spark's
job; neither knows csvpipe's run ids, so neither writes ``_runs/<run>/crawl.json`` or
``transform.json``. This job runs last in the workflow (after a failed crawl, or after the
transforms job ended however it ended), finds the files those two handled, and writes for each
what the local Glue stand-in writes:

* its crawl record: the dataset's table as the crawler left it (columns and types, created,
  updated or unchanged by this crawl), or why there is none (the crawl's error, or no table);
* its transform record: the outputs that read the dataset, directly or through other outputs,
  as the transforms job recorded them in the final bucket (``_runs/<output>.json``), and the
  job run's state and error.

A file counts as handled when its preprocess record is ok, has no transform record yet, and was
written before the crawl started (a later one waits for the next workflow run). So a lost event
or a failed run is picked up by the next one, and running the job twice writes the same records.

It runs as a Glue Python shell job (Python 3.9 and boto3): standard library and boto3 only,
never ``pipeline``; deploy uploads this file as it is. Arguments (Glue's own are ignored):

    --csvpipe_processed_bucket  the processed bucket (run records)
    --csvpipe_final_bucket      the final bucket (the outputs' run records)
    --csvpipe_database          the Glue database the crawler writes
    --csvpipe_crawler           the crawler's name
    --csvpipe_transforms_job    the transforms job's name
    --csvpipe_region            the AWS region
    --csvpipe_endpoint          another AWS endpoint (an emulator, in tests)
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

RUNS = "_runs/"
CRAWL_OK = ("SUCCEEDED", "COMPLETED")  # GetCrawler's LastCrawl word for success, and ListCrawls'
JOB_RUNNING = ("STARTING", "RUNNING", "STOPPING", "WAITING")
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)  # noqa: UP017 (runs on Python 3.9)


@dataclass(frozen=True)
class Options:
    processed_bucket: str
    final_bucket: str
    database: str
    crawler: str
    transforms_job: str
    region: str | None = None
    endpoint: str | None = None


def parse_options(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(prog="csvpipe-records", allow_abbrev=False, add_help=False)
    for name in ("processed_bucket", "final_bucket", "database", "crawler", "transforms_job"):
        parser.add_argument(f"--csvpipe_{name}", required=True)
    parser.add_argument("--csvpipe_region", default=None)
    parser.add_argument("--csvpipe_endpoint", default=None)
    known, _ = parser.parse_known_args(list(argv))
    return Options(
        processed_bucket=known.csvpipe_processed_bucket,
        final_bucket=known.csvpipe_final_bucket,
        database=known.csvpipe_database,
        crawler=known.csvpipe_crawler,
        transforms_job=known.csvpipe_transforms_job,
        region=known.csvpipe_region or None,
        endpoint=known.csvpipe_endpoint or None,
    )


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    utc = moment.astimezone(timezone.utc)  # noqa: UP017
    return utc.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_iso(text: Any) -> datetime:
    """A run record's time (``2026-11-26T01:02:03.456Z``); the epoch when there is none."""
    if not isinstance(text, str) or not text:
        return EPOCH
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return EPOCH
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)  # noqa: UP017


# -- pure decisions ----------------------------------------------------------------------------


def handled_runs(listing: Iterable[Mapping[str, Any]], crawl_started: datetime) -> list[str]:
    """Run ids with a preprocess record written before the crawl started and no transform
    record, from a listing of ``_runs/`` (S3's Key and LastModified)."""
    preprocessed: dict[str, datetime] = {}
    finished: set[str] = set()
    for item in listing:
        parts = str(item["Key"])[len(RUNS) :].split("/")
        if len(parts) != 2:
            continue
        run, name = parts
        if name == "preprocess.json":
            preprocessed[run] = item["LastModified"]
        elif name == "transform.json":
            finished.add(run)
    return sorted(
        run for run, written in preprocessed.items() if run not in finished and written <= crawl_started
    )


def table_action(table: Mapping[str, Any], crawl_started: datetime) -> str:
    """What this crawl did to the table: created it, updated it, or left it as it was."""
    if table.get("CreateTime") and table["CreateTime"] >= crawl_started:
        return "create"
    if table.get("UpdateTime") and table["UpdateTime"] >= crawl_started:
        return "update"
    return "unchanged"


def last_crawl(crawler: Mapping[str, Any], crawls: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The crawler's last crawl: ListCrawls' entry for it when there is one (its state, end time
    and error), else GetCrawler's ``LastCrawl``; ``Status`` either way."""
    last = dict(crawler.get("LastCrawl") or {})
    listed = [c for c in crawls if c.get("CrawlId") and c.get("CrawlId") == last.get("MessagePrefix")]
    if listed:
        crawl = listed[0]
        last.update(
            {k: v for k, v in crawl.items() if k != "State" and v is not None}, Status=crawl.get("State")
        )
    return last


def crawl_record(
    crawler_name: str, crawl: Mapping[str, Any], table: Mapping[str, Any] | None, database: str, dataset: str
) -> dict[str, Any]:
    """The crawl record of one file's dataset, as the local crawler writes one."""
    started, ended = crawl.get("StartTime"), crawl.get("EndTime")
    record: dict[str, Any] = {
        "status": "ok",
        "database": database,
        "table": dataset,
        "engine": f"aws-glue crawler {crawler_name}",
        "started_at": iso(started),
    }
    if started is not None and ended is not None:
        record["seconds"] = round((ended - started).total_seconds(), 3)
    where = (
        f"CloudWatch Logs {crawl.get('LogGroup', '/aws-glue/crawlers')} {crawl.get('LogStream', '')}".rstrip()
    )
    if crawl.get("Status") not in CRAWL_OK:
        record.update(
            status="failed",
            error=f"the Glue crawler {crawler_name} ended {crawl.get('Status')}: "
            f"{crawl.get('ErrorMessage') or 'no message'} (see {where})",
        )
        return record
    if table is None:
        record.update(
            status="failed",
            error=f"the Glue crawler {crawler_name} made no table {dataset} in {database} "
            f"(an empty or unreadable file? see {where})",
        )
        return record
    descriptor = table.get("StorageDescriptor") or {}
    columns = [*descriptor.get("Columns", []), *table.get("PartitionKeys", [])]
    record.update(
        action=table_action(table, started or EPOCH),
        columns=[{"name": c["Name"], "type": c.get("Type", "string")} for c in columns],
        location=descriptor.get("Location"),
    )
    return record


def outputs_reading(dataset: str, records: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """The outputs' run records that read ``dataset``, directly or through other outputs."""
    chosen: set[str] = set()
    changed = True
    while changed:
        changed = False
        for record in records:
            name = str(record.get("output"))
            if name in chosen:
                continue
            inputs = record.get("inputs") or {}
            if any(
                (info.get("kind") == "catalog" and table == dataset)
                or (info.get("kind") == "output" and table in chosen)
                for table, info in inputs.items()
            ):
                chosen.add(name)
                changed = True
    return [record for record in records if record.get("output") in chosen]


def transform_record(
    job_name: str, job_run: Mapping[str, Any] | None, outputs: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The transform record of one file, from the transforms job's run and its outputs."""
    if job_run is None:
        return {
            "status": "failed",
            "outputs": [],
            "skipped": [],
            "errors": [{"error": f"the Glue job {job_name} did not run after the crawl"}],
        }
    state = job_run.get("JobRunState")
    errors = []
    if state != "SUCCEEDED":
        errors.append(
            {"error": f"the Glue job {job_name} ended {state}: {job_run.get('ErrorMessage') or ''}"}
        )
    return {
        "status": "ok" if state == "SUCCEEDED" else "failed",
        "engine": f"aws-glue job {job_name}",
        "job_run_id": job_run.get("Id"),
        "order": [record.get("output") for record in outputs],
        "outputs": list(outputs),
        "skipped": [],
        "errors": errors,
        "started_at": iso(job_run.get("StartedOn")),
        "seconds": job_run.get("ExecutionTime"),
    }


# -- I/O ---------------------------------------------------------------------------------------


def _put_json(s3: Any, bucket: str, key: str, document: Mapping[str, Any]) -> None:
    body = json.dumps(document, indent=2, sort_keys=True, default=str).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")


def _get_json(s3: Any, bucket: str, key: str) -> dict[str, Any]:
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def _listing(s3: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found += page.get("Contents", [])
    return found


def _table(glue: Any, database: str, name: str) -> dict[str, Any] | None:
    try:
        return glue.get_table(DatabaseName=database, Name=name)["Table"]
    except glue.exceptions.EntityNotFoundException:
        return None


def _crawls(glue: Any, name: str, crawler: Mapping[str, Any]) -> list[dict[str, Any]]:
    """ListCrawls' entry for the last crawl (its id is LastCrawl's MessagePrefix); none when the
    crawler has no history of it."""
    crawl_id = (crawler.get("LastCrawl") or {}).get("MessagePrefix")
    if not crawl_id:
        return []
    filters = [{"FieldName": "CRAWL_ID", "FilterOperator": "EQ", "FieldValue": crawl_id}]
    return glue.list_crawls(CrawlerName=name, Filters=filters).get("Crawls", [])


def _latest_job_run(glue: Any, job: str, since: datetime) -> dict[str, Any] | None:
    runs = glue.get_job_runs(JobName=job, MaxResults=10).get("JobRuns", [])
    runs = [run for run in runs if run.get("StartedOn") and run["StartedOn"] >= since]
    return max(runs, key=lambda run: run["StartedOn"]) if runs else None


def write_records(s3: Any, glue: Any, options: Options, log: Callable[[str], None] = print) -> list[str]:
    """Write the crawl and transform records of every handled file; their run ids."""
    crawler = glue.get_crawler(Name=options.crawler)["Crawler"]
    crawl = last_crawl(crawler, _crawls(glue, options.crawler, crawler))
    started = crawl.get("StartTime")
    if started is None:
        log(f"the crawler {options.crawler} has not run yet: nothing to record")
        return []
    runs = handled_runs(_listing(s3, options.processed_bucket, RUNS), started)
    if not runs:
        return []
    job_run = _latest_job_run(glue, options.transforms_job, started)
    if job_run is not None and job_run.get("JobRunState") in JOB_RUNNING:
        log(f"the Glue job {options.transforms_job} is still {job_run['JobRunState']}: the next run records")
        return []
    finals = [
        _get_json(s3, options.final_bucket, item["Key"])
        for item in _listing(s3, options.final_bucket, RUNS)
        if str(item["Key"]).endswith(".json")
    ]
    since = job_run["StartedOn"] if job_run else started
    finals = [record for record in finals if parse_iso(record.get("started_at")) >= since]
    tables: dict[str, dict[str, Any] | None] = {}
    written = []
    for run in runs:
        preprocess = _get_json(s3, options.processed_bucket, f"{RUNS}{run}/preprocess.json")
        if preprocess.get("status") != "ok":
            continue  # a file the Lambda could not read stops at its preprocess record
        dataset = str(preprocess["dataset"])
        if dataset not in tables:
            tables[dataset] = _table(glue, options.database, dataset)
        record = crawl_record(options.crawler, crawl, tables[dataset], options.database, dataset)
        _put_json(
            s3,
            options.processed_bucket,
            f"{RUNS}{run}/crawl.json",
            {"run_id": run, "stage": "crawl", **record},
        )
        if record["status"] == "ok":
            transform = transform_record(options.transforms_job, job_run, outputs_reading(dataset, finals))
            _put_json(
                s3,
                options.processed_bucket,
                f"{RUNS}{run}/transform.json",
                {"run_id": run, "stage": "transform", **transform},
            )
        written.append(run)
        log(f"recorded run {run} ({preprocess.get('source', {}).get('key')}): crawl {record['status']}")
    return written


def main(argv: Sequence[str]) -> None:
    import boto3

    options = parse_options(argv)
    kwargs = {"region_name": options.region, "endpoint_url": options.endpoint}
    written = write_records(boto3.client("s3", **kwargs), boto3.client("glue", **kwargs), options)
    print(json.dumps({"recorded": written}))


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
