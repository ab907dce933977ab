"""The estimate, as plain arithmetic: usage per month times list prices, line by line.

Pure: no files, no clock, no AWS. Every conversion from what csvpipe measures locally to what AWS
bills is a named constant below, and every line carries its formula in words, so the output can
be checked by hand. The figures lean high where AWS's behaviour is not known in advance (a month
of 30 days, each month's data stored the whole month, every file of a dataset read by each Glue
run).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace

from pipeline.cost.prices import Price, PriceTable
from pipeline.cost.usage import Measured

DAYS_PER_MONTH = 30
GB = 1024.0  # MB per GB, as Lambda's memory and S3's GB-month count them
# Lambda gives a function one full vCPU at 1,769 MB and a share in proportion below: local
# seconds (at least one core) become Lambda seconds times 1,769 / memory when memory is lower.
LAMBDA_FULL_VCPU_MB = 1769
# A Glue Spark job: about half a minute to start, then the SQL is taken as 10 times slower than
# DuckDB on this machine (conservative: Spark's per-task overhead on small data).
GLUE_JOB_STARTUP_SECONDS = 30.0
GLUE_SLOWDOWN = 10.0
# AWS does not publish how many DPUs a crawler uses (CrawlerHistory.DPUHour reports it after a
# run): 2 are assumed; --crawler-dpus changes it.
ASSUMED_CRAWLER_DPUS = 2.0
# The records job (pipeline.deploy.plan.records_job): a Python shell job of 1/16 DPU, billed
# for the Glue job minimum.
RECORDS_JOB_DPUS = 0.0625
# The glue-worker long-polls its queue for 2 s at a time (csvpipe glue-worker): a receive
# every 2 s, all day, whether files come or not.
GLUE_WORKER_POLL_SECONDS = 2
SECONDS_PER_DAY = 86400
# CloudWatch Logs written (assumed): Lambda's START, END and REPORT lines and csvpipe's one
# line per object; a Spark job's driver log; a crawler's or a Python shell job's few lines.
LAMBDA_LOG_BYTES = 1024
SPARK_JOB_LOG_BYTES = 1024 * 1024
SMALL_LOG_BYTES = 10 * 1024
# Objects per S3 LIST page.
LIST_PAGE = 1000

BACKENDS = ("csvpipe", "aws-glue")


# -- formulas ----------------------------------------------------------------------------------


def charge(quantity: float, price: Price, free: float = 0.0) -> float:
    """Dollars for ``quantity`` units at ``price``, after ``free`` units (a free tier)."""
    return max(0.0, quantity - free) * price.each


def gb_seconds(invocations: float, seconds_each: float, memory_mb: float) -> float:
    """Lambda's compute: invocations x seconds x memory in GB."""
    return invocations * seconds_each * memory_mb / GB


def dpu_hours(runs: float, dpus: float, seconds_each: float, minimum_seconds: float) -> float:
    """Glue's compute: each run is billed for at least ``minimum_seconds``."""
    return runs * dpus * max(seconds_each, minimum_seconds) / 3600


def lambda_seconds(local_seconds: float, memory_mb: float) -> float:
    """Seconds on Lambda for ``local_seconds`` here (see LAMBDA_FULL_VCPU_MB)."""
    return local_seconds * max(1.0, LAMBDA_FULL_VCPU_MB / memory_mb)


def glue_job_seconds(local_seconds: float) -> float:
    """Seconds a Glue Spark job runs for ``local_seconds`` of DuckDB here."""
    return GLUE_JOB_STARTUP_SECONDS + GLUE_SLOWDOWN * local_seconds


def glue_runs_per_day(files_per_day: float, batch_size: int, window_seconds: int) -> float:
    """Glue workflow runs a day under EventBridge batching (a run starts at ``batch_size``
    files or ``window_seconds`` after the first one): at most one run per file, at most one
    per window unless batches fill up first. Files are taken as arriving evenly, one at a time:
    an upper bound."""
    if files_per_day <= 0:
        return 0.0
    return min(files_per_day, max(math.ceil(files_per_day / batch_size), SECONDS_PER_DAY / window_seconds))


# -- the estimate ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Volume:
    files_per_day: float
    mb_per_file: float
    month: int = 1  # the month of the estimate: data stored so far grows with it


@dataclass(frozen=True)
class Pipeline:
    """The deployed pipeline's settings that change the bill."""

    glue_backend: str
    lambda_memory_mb: int
    lambda_architecture: str
    spark_dpus: float
    outputs: int
    batch_size: int
    batch_window_seconds: int
    crawler_dpus: float = ASSUMED_CRAWLER_DPUS
    glue_runs_per_day: float | None = None  # None: as EventBridge batching gives
    quicksight_authors: int = 0
    quicksight_readers: int = 0


@dataclass(frozen=True)
class Line:
    service: str
    item: str
    quantity: float
    unit: str
    price: Price
    cost: float
    formula: str


@dataclass(frozen=True)
class Estimate:
    lines: tuple[Line, ...]

    @property
    def total(self) -> float:
        return sum(line.cost for line in self.lines)

    def by_service(self) -> dict[str, float]:
        totals: dict[str, float] = {}
        for line in self.lines:
            totals[line.service] = totals.get(line.service, 0.0) + line.cost
        return totals


def _n(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 or value == int(value) else f"{value:,.3g}"


def glue_runs(volume: Volume, pipeline: Pipeline) -> float:
    """Glue runs (or glue-worker passes) a day."""
    if pipeline.glue_runs_per_day is not None:
        return pipeline.glue_runs_per_day if volume.files_per_day > 0 else 0.0
    if pipeline.glue_backend == "csvpipe":
        return volume.files_per_day  # at most a pass per file
    return glue_runs_per_day(volume.files_per_day, pipeline.batch_size, pipeline.batch_window_seconds)


def estimate(volume: Volume, measured: Measured, pipeline: Pipeline, prices: PriceTable) -> Estimate:
    """The line items of one month (``volume.month``) of the deployed pipeline."""
    lines: list[Line] = []

    def add(service: str, item: str, quantity: float, unit: str, key: str, formula: str) -> None:
        price = prices[key]
        lines.append(Line(service, item, quantity, unit, price, charge(quantity, price), formula))

    n, mb = volume.files_per_day, volume.mb_per_file
    files = n * DAYS_PER_MONTH
    stored_files = files * volume.month
    runs = glue_runs(volume, pipeline) * DAYS_PER_MONTH
    aws_glue = pipeline.glue_backend == "aws-glue"

    # Lambda
    local = measured.local_min_seconds + measured.local_seconds_per_mb * mb
    seconds = lambda_seconds(local, pipeline.lambda_memory_mb)
    add("Lambda", "requests", files, "requests", "lambda_request", f"{_n(files)} files x 1 invocation")
    arch_key = (
        "lambda_gb_second_arm64" if pipeline.lambda_architecture == "arm64" else "lambda_gb_second_x86_64"
    )
    add(
        "Lambda",
        f"duration ({pipeline.lambda_architecture}, {pipeline.lambda_memory_mb} MB)",
        gb_seconds(files, seconds, pipeline.lambda_memory_mb),
        "GB-s",
        arch_key,
        f"{_n(files)} x {seconds:.2f} s x {pipeline.lambda_memory_mb}/1024 GB",
    )

    # S3, per bucket
    raw_gb = stored_files * mb / GB
    processed_gb = raw_gb * measured.processed_ratio
    add("S3", "raw: PUT (uploads)", files, "requests", "s3_put_copy_post_list", f"{_n(files)} files x 1")
    add("S3", "raw: GET (Lambda reads)", files, "requests", "s3_get_select", f"{_n(files)} files x 1")
    add(
        "S3",
        "raw: storage",
        raw_gb,
        "GB-month",
        "s3_standard_gb_month",
        f"{_n(stored_files)} files stored x {mb:g} MB",
    )
    add(
        "S3",
        "processed: PUT",
        files * 4,
        "requests",
        "s3_put_copy_post_list",
        f"{_n(files)} files x 4 (cleaned file, preprocess/crawl/transform records)",
    )
    pages = math.ceil(stored_files / LIST_PAGE) if stored_files else 0
    if aws_glue:
        gets = runs * stored_files * 2 + files
        gets_formula = (
            f"{_n(runs)} Glue runs x {_n(stored_files)} files x 2 (crawler, transforms job) "
            f"+ {_n(files)} records read"
        )
        lists = runs * pages * 3
        lists_formula = f"{_n(runs)} runs x {pages} pages x 3 (crawler, job, records job)"
    else:
        gets = files * 2
        gets_formula = f"{_n(files)} files x 2 (the glue-worker keeps a copy; file + record)"
        lists = runs * pages
        lists_formula = f"{_n(runs)} passes x {pages} pages"
    add("S3", "processed: GET", gets, "requests", "s3_get_select", gets_formula)
    add("S3", "processed: LIST", lists, "requests", "s3_put_copy_post_list", lists_formula)
    add(
        "S3",
        "processed: storage",
        processed_gb,
        "GB-month",
        "s3_standard_gb_month",
        f"raw GB x {measured.processed_ratio:.2f} (cleaned size / raw size)",
    )
    add(
        "S3",
        "final: PUT",
        runs * pipeline.outputs * 3,
        "requests",
        "s3_put_copy_post_list",
        f"{_n(runs)} runs x {pipeline.outputs} outputs x 3 (CSV, Parquet, run record)",
    )
    add(
        "S3",
        "final: storage",
        processed_gb * 2,
        "GB-month",
        "s3_standard_gb_month",
        "processed GB x 2 (CSV + Parquet; a pass-through transform, the upper bound)",
    )

    # SQS
    if not aws_glue:
        polls = SECONDS_PER_DAY / GLUE_WORKER_POLL_SECONDS * DAYS_PER_MONTH
        add(
            "SQS",
            "glue-worker queue requests",
            polls + files * 2,
            "requests",
            "sqs_standard_request",
            f"{_n(polls)} long polls (one per {GLUE_WORKER_POLL_SECONDS} s) + {_n(files)} x 2 (send, delete)",
        )

    # Glue
    if aws_glue:
        crawl_s = max(measured.crawl_seconds * GLUE_SLOWDOWN, prices.glue_crawler_minimum_seconds)
        add(
            "Glue",
            f"crawler ({pipeline.crawler_dpus:g} DPU)",
            dpu_hours(runs, pipeline.crawler_dpus, crawl_s, prices.glue_crawler_minimum_seconds),
            "DPU-hours",
            "glue_crawler_dpu_hour",
            f"{_n(runs)} runs x {pipeline.crawler_dpus:g} DPU x {crawl_s / 60:.1f} min "
            f"(minimum {prices.glue_crawler_minimum_seconds / 60:g} min)",
        )
        job_s = max(glue_job_seconds(measured.transform_seconds), prices.glue_job_minimum_seconds)
        add(
            "Glue",
            f"transforms job ({pipeline.spark_dpus:g} DPU)",
            dpu_hours(runs, pipeline.spark_dpus, job_s, prices.glue_job_minimum_seconds),
            "DPU-hours",
            "glue_etl_dpu_hour",
            f"{_n(runs)} runs x {pipeline.spark_dpus:g} DPU x {job_s / 60:.1f} min "
            f"(minimum {prices.glue_job_minimum_seconds / 60:g} min)",
        )
        job_minimum = prices.glue_job_minimum_seconds
        add(
            "Glue",
            f"records job ({RECORDS_JOB_DPUS:g} DPU)",
            dpu_hours(runs, RECORDS_JOB_DPUS, 0, prices.glue_job_minimum_seconds),
            "DPU-hours",
            "glue_etl_dpu_hour",
            f"{_n(runs)} runs x {RECORDS_JOB_DPUS:g} DPU x {job_minimum / 60:g} min (the minimum)",
        )

    # CloudWatch Logs
    log_bytes = files * LAMBDA_LOG_BYTES
    formula = f"{_n(files)} invocations x 1 KB"
    if aws_glue:
        log_bytes += runs * (SPARK_JOB_LOG_BYTES + 2 * SMALL_LOG_BYTES)
        formula += f" + {_n(runs)} runs x (1 MB job + 2 x 10 KB)"
    add("CloudWatch Logs", "ingestion", log_bytes / 1024**3, "GB", "cloudwatch_logs_ingest_gb", formula)

    # QuickSight
    if pipeline.quicksight_authors:
        add(
            "QuickSight",
            "authors",
            pipeline.quicksight_authors,
            "authors",
            "quicksight_author_month",
            f"{pipeline.quicksight_authors} x 1 month",
        )
    if pipeline.quicksight_readers:
        add(
            "QuickSight",
            "readers",
            pipeline.quicksight_readers,
            "readers",
            "quicksight_reader_month",
            f"{pipeline.quicksight_readers} x 1 month",
        )
    return Estimate(tuple(lines))


def total_over(
    months: int, volume: Volume, measured: Measured, pipeline: Pipeline, prices: PriceTable
) -> float:
    """The sum of months 1 to ``months`` (stored data, and what each Glue run reads, grow)."""
    return sum(
        estimate(replace(volume, month=k), measured, pipeline, prices).total for k in range(1, months + 1)
    )


@dataclass(frozen=True)
class Alternative:
    label: str
    pipeline: Pipeline
    setting: str  # how to choose it ("" when it is not a csvpipe setting)


def alternatives(pipeline: Pipeline) -> Sequence[Alternative]:
    """The ways csvpipe can run the Glue stages on AWS, and one it cannot (yet), for scale."""
    return (
        Alternative(
            "csvpipe glue-worker (crawl and transforms on your host)",
            replace(pipeline, glue_backend="csvpipe", glue_runs_per_day=None),
            "--set glue_backend=csvpipe",
        ),
        Alternative(
            f"AWS Glue, a run per batch (<= {pipeline.batch_size} files or "
            f"{pipeline.batch_window_seconds} s)",
            replace(pipeline, glue_backend="aws-glue", glue_runs_per_day=None),
            "--set glue_backend=aws-glue",
        ),
        Alternative(
            "AWS Glue, one run a day (a daily schedule: not a csvpipe setting)",
            replace(pipeline, glue_backend="aws-glue", glue_runs_per_day=1.0),
            "",
        ),
    )
