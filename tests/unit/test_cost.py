"""``csvpipe cost``'s arithmetic against AWS's published pricing examples, the shipped price
table, the usage read from run records, and the command itself, offline on the aws profile."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from pipeline.cost import model, prices, usage
from pipeline.cost.exceptions import CostError
from pipeline.cost.prices import Price
from tests.conftest import cli

US_EAST_1 = prices.load("us-east-1")


def price(value: float, per: float = 1, unit: str = "unit") -> Price:
    """A price as a published example states it (examples round some prices)."""
    return Price("example", value, per, unit, "example", "https://aws.amazon.com/", "2026-12-07", "example")


# AWS's published examples: (what, computed dollars, published dollars).
GLUE_JOB = US_EAST_1["glue_etl_dpu_hour"]
LAMBDA_COMPUTE = price(0.00001667, unit="GB-second")  # as the Lambda page's examples round it
LAMBDA_REQUEST = US_EAST_1["lambda_request"]
PUBLISHED_EXAMPLES = [
    # AWS Glue pricing: a Spark job of 6 DPUs for 15 minutes at $0.44 per DPU-hour = $0.66.
    ("glue job, 6 DPU, 15 min", model.charge(model.dpu_hours(1, 6, 15 * 60, 60), GLUE_JOB), 0.66),
    # AWS Glue pricing: an interactive session of 5 DPUs for 24 minutes = $0.88.
    ("glue session, 5 DPU, 24 min", model.charge(model.dpu_hours(1, 5, 24 * 60, 60), GLUE_JOB), 0.88),
    # AWS Lambda pricing, example 1: 512 MB, 3 million invocations of 1 s, after the free tier.
    (
        "lambda example 1, compute",
        model.charge(model.gb_seconds(3_000_000, 1.0, 512), LAMBDA_COMPUTE, free=400_000),
        18.34,
    ),
    ("lambda example 1, requests", model.charge(3_000_000, LAMBDA_REQUEST, free=1_000_000), 0.40),
    # AWS Lambda pricing, example 2: 128 MB, 30 million invocations of 200 ms.
    (
        "lambda example 2, compute",
        model.charge(model.gb_seconds(30_000_000, 0.2, 128), LAMBDA_COMPUTE, free=400_000),
        5.83,
    ),
    ("lambda example 2, requests", model.charge(30_000_000, LAMBDA_REQUEST, free=1_000_000), 5.80),
    # S3 Standard requests at the table's prices: 1 million PUTs, 10 million GETs.
    ("s3 1M PUT", model.charge(1_000_000, US_EAST_1["s3_put_copy_post_list"]), 5.00),
    ("s3 10M GET", model.charge(10_000_000, US_EAST_1["s3_get_select"]), 4.00),
    # SQS standard: 6.3 million requests at $0.40 per million (a published worked example).
    ("sqs 6.3M requests", model.charge(6_300_000, US_EAST_1["sqs_standard_request"]), 2.52),
]


@pytest.mark.parametrize(
    ("what", "computed", "published"), PUBLISHED_EXAMPLES, ids=[e[0] for e in PUBLISHED_EXAMPLES]
)
def test_formulas_give_aws_published_examples(what: str, computed: float, published: float) -> None:
    assert round(computed, 2) == published, what


def test_lambda_gb_seconds_of_example_1_are_published_figure() -> None:
    assert model.gb_seconds(3_000_000, 1.0, 512) == 1_500_000


@pytest.mark.parametrize(
    ("seconds", "minimum", "billed_seconds"),
    [(10, 60, 60), (60, 60, 60), (90, 60, 90), (120, 600, 600), (900, 600, 900)],
)
def test_a_glue_run_is_billed_at_least_its_minimum(
    seconds: float, minimum: float, billed_seconds: float
) -> None:
    assert model.dpu_hours(1, 1, seconds, minimum) == pytest.approx(billed_seconds / 3600)


@pytest.mark.parametrize(
    ("files_per_day", "runs"),
    [(0, 0), (1, 1), (100, 100), (1440, 1440), (10_000, 1440), (1_000_000, 10_000)],
)
def test_glue_runs_follow_eventbridge_batching(files_per_day: float, runs: float) -> None:
    assert model.glue_runs_per_day(files_per_day, 100, 60) == runs


@pytest.mark.parametrize(("memory_mb", "factor"), [(512, 1769 / 512), (1769, 1.0), (4096, 1.0)])
def test_lambda_seconds_scale_with_its_cpu_share(memory_mb: int, factor: float) -> None:
    assert model.lambda_seconds(2.0, memory_mb) == pytest.approx(2.0 * factor)


def test_shipped_table_gives_every_price_a_source_and_a_date() -> None:
    document = prices.read_document()
    assert len(document["date"]) == 10 and document["date"].startswith("20")
    for region in prices.regions(document):
        table = prices.table_for(document, region)
        assert set(table.prices) == set(prices.REQUIRED)
        for item in table.prices.values():
            assert item.source.startswith("https://aws.amazon.com/"), item.key
            assert item.page and item.seen_in and item.checked.startswith("20"), item.key
            assert item.price > 0 and item.per > 0, item.key
    assert US_EAST_1.glue_job_minimum_seconds == 60 and US_EAST_1.glue_crawler_minimum_seconds == 600


def test_a_region_without_verified_prices_is_refused_with_the_known_ones() -> None:
    with pytest.raises(CostError, match=r"no verified prices for region 'xx-nowhere-1' \(it has us-east-1\)"):
        prices.load("xx-nowhere-1")


def run(
    size: int, seconds: float, out: str = "movies/a.csv", crawl: float = 2.0, transform: float = 3.0
) -> dict:
    return {
        "preprocess": {
            "status": "ok",
            "source": {"bucket": "raw", "key": out, "size": size},
            "output": {"bucket": "processed", "key": out},
            "seconds": seconds,
        },
        "crawl": {"status": "ok", "seconds": crawl},
        "transform": {"status": "ok", "seconds": transform},
    }


def test_measure_takes_medians_of_successful_runs() -> None:
    mb = usage.MB
    runs = [
        run(2 * mb, 1.0, "movies/a.csv"),
        run(4 * mb, 4.0, "movies/b.csv", crawl=4.0),
        run(1 * mb, 0.3, "movies/c.csv", transform=5.0),
        {"preprocess": {"status": "failed", "source": {"size": 100 * mb}, "seconds": 99.0}},
    ]
    sizes = {("processed", "movies/a.csv"): 3 * mb, ("processed", "movies/b.csv"): 4 * mb}
    measured = usage.measure(runs, sizes)
    assert measured.runs == 3
    assert measured.mb_per_file == 2.0
    assert measured.local_seconds_per_mb == 0.5  # median of 0.5, 1.0, 0.3
    assert measured.local_min_seconds == 0.3
    assert measured.processed_ratio == 1.25  # median of 1.5 and 1.0
    assert (measured.crawl_seconds, measured.transform_seconds) == (2.0, 3.0)
    assert measured.assumed == ()


def test_measure_without_records_says_everything_is_assumed() -> None:
    measured = usage.measure([], {})
    assert measured.runs == 0 and measured.mb_per_file == usage.ASSUMED_MB_PER_FILE
    assert set(measured.assumed) == {
        "mb_per_file", "lambda_seconds_per_mb", "processed_size", "crawl_seconds", "transform_seconds"
    }  # fmt: skip


def test_a_small_file_sets_the_fixed_seconds_not_the_rate_per_mb() -> None:
    measured = usage.measure([run(1000, 0.07)], {})
    assert measured.local_min_seconds == 0.07
    assert measured.local_seconds_per_mb == usage.ASSUMED_LOCAL_SECONDS_PER_MB
    assert "lambda_seconds_per_mb" in measured.assumed and "mb_per_file" not in measured.assumed


PIPELINE = model.Pipeline(
    glue_backend="aws-glue",
    lambda_memory_mb=512,
    lambda_architecture="x86_64",
    spark_dpus=2,
    outputs=1,
    batch_size=100,
    batch_window_seconds=60,
)
NOTHING_MEASURED = usage.measure([], {})


def test_aws_glue_estimate_prices_crawler_and_jobs_at_their_minimums() -> None:
    volume = model.Volume(files_per_day=10, mb_per_file=1)
    result = model.estimate(volume, NOTHING_MEASURED, PIPELINE, US_EAST_1)
    glue = {line.item: line for line in result.lines if line.service == "Glue"}
    # 10 files a day arrive one per batch window: 300 runs a month.
    assert glue["crawler (2 DPU)"].quantity == pytest.approx(300 * 2 * 600 / 3600)
    assert glue["transforms job (2 DPU)"].quantity == pytest.approx(300 * 2 * 60 / 3600)
    assert glue["records job (0.0625 DPU)"].cost == pytest.approx(300 * 0.0625 / 60 * 0.44)
    assert result.total == pytest.approx(sum(line.cost for line in result.lines))
    assert "SQS" not in result.by_service()


def test_csvpipe_backend_has_no_glue_lines_but_its_queue_polls() -> None:
    volume = model.Volume(files_per_day=10, mb_per_file=1)
    result = model.estimate(volume, NOTHING_MEASURED, replace(PIPELINE, glue_backend="csvpipe"), US_EAST_1)
    services = result.by_service()
    assert "Glue" not in services
    sqs = next(line for line in result.lines if line.service == "SQS")
    assert sqs.quantity == 43_200 * 30 + 300 * 2


def test_stored_data_grows_with_the_month_and_arm_is_cheaper() -> None:
    first = model.estimate(model.Volume(100, 5, month=1), NOTHING_MEASURED, PIPELINE, US_EAST_1)
    third = model.estimate(model.Volume(100, 5, month=3), NOTHING_MEASURED, PIPELINE, US_EAST_1)

    def line(result: model.Estimate, item: str) -> model.Line:
        return next(x for x in result.lines if x.item == item)

    assert line(third, "raw: storage").quantity == pytest.approx(3 * line(first, "raw: storage").quantity)
    arm = model.estimate(
        model.Volume(100, 5), NOTHING_MEASURED, replace(PIPELINE, lambda_architecture="arm64"), US_EAST_1
    )
    assert line(arm, "duration (arm64, 512 MB)").cost < line(first, "duration (x86_64, 512 MB)").cost
    total = model.total_over(3, model.Volume(100, 5), NOTHING_MEASURED, PIPELINE, US_EAST_1)
    assert first.total < total < 3 * third.total


def test_one_glue_run_a_day_beats_a_run_per_file_at_a_hundred_files() -> None:
    volume = model.Volume(100, 1)
    totals = {
        option.label: model.estimate(volume, NOTHING_MEASURED, option.pipeline, US_EAST_1).total
        for option in model.alternatives(PIPELINE)
    }
    per_batch, csvpipe, daily = (
        next(t for label, t in totals.items() if word in label) for word in ("batch", "host", "a day")
    )
    assert csvpipe < daily < per_batch


# -- the command, offline -----------------------------------------------------------------------

# Any HTTP(S) request would go to a closed local port and fail: the command must make none.
OFFLINE = {
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "AWS_EC2_METADATA_DISABLED": "true",
}


def test_cost_on_the_aws_profile_prints_services_and_a_total_offline(tmp_path: Path) -> None:
    result = cli(
        "--profile", "aws", "cost", cwd=tmp_path, env={**OFFLINE, "CSVPIPE_DATA_DIR": str(tmp_path / "data")}
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for service in ("Lambda", "S3", "Glue", "CloudWatch Logs"):
        assert f"│ {service}" in out, service
    assert f"prices of {US_EAST_1.date}" in out
    assert "total: $" in out and "glue_backend aws-glue" in out
    assert "files per day: 100 assumed" in out and "MB per file: 1 assumed" in out
    assert "(configured)" in out and "(cheapest)" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--region", "xx-nowhere-1"), "no verified prices for region 'xx-nowhere-1'"),
        (("--refresh-prices",), "--refresh-prices needs AWS credentials and network"),
        (("--files-per-day", "-1"), "--files-per-day must be zero or more"),
        (("--months", "0"), "--months must be 1 or more"),
    ],
)
def test_cost_mistakes_are_one_error_line(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    result = cli(
        "--profile", "aws", "cost", *args, cwd=tmp_path, env={**OFFLINE, "CSVPIPE_DATA_DIR": str(tmp_path)}
    )
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ") and message in result.stderr
    assert "Traceback" not in result.stderr
