"""``csvpipe cost``: what the deployed pipeline would cost a month on AWS, line by line.

A thin layer: the usage comes from ``pipeline.cost.usage`` (the local run records, read offline),
the prices from the shipped table (``pipeline.cost.prices``), the arithmetic from
``pipeline.cost.model``; this module reads the flags and prints. It never calls AWS, on any
profile.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from pipeline.aws import Clients
from pipeline.cli_common import console, settings_of
from pipeline.cost import model, prices, usage
from pipeline.cost.exceptions import CostError
from pipeline.errors import CsvpipeError
from pipeline.settings import Settings, load_settings, replace

WORKER_DPUS = {"G.025X": 0.25, "G.1X": 1.0, "G.2X": 2.0, "G.4X": 4.0, "G.8X": 8.0}


def _quantity(value: float) -> str:
    return f"{value:,.0f}" if value >= 1000 else f"{value:,.4g}"


def _money(value: float) -> str:
    return f"${value:,.2f}" if value >= 1 else f"${value:,.4f}"


def deployed_pipeline(settings: Settings, crawler_dpus: float, authors: int, readers: int) -> model.Pipeline:
    """What deploy would create, as far as the bill goes: the Lambda's memory and
    architecture, the Glue job's workers, the transforms' outputs, the workflow's batching."""
    from pipeline.deploy.artifacts import transform_outputs
    from pipeline.deploy.plan import EVENT_BATCH_SIZE, EVENT_BATCH_WINDOW
    from pipeline.spark.glue_script import job_request

    job = job_request(settings, name="cost", script_uri="s3://cost/", reference_root="s3://cost/", role=None)
    dpus = WORKER_DPUS.get(str(job.get("WorkerType")), 1.0) * float(job.get("NumberOfWorkers", 2))
    return model.Pipeline(
        glue_backend=settings.glue_backend,
        lambda_memory_mb=settings.lambda_memory_mb,
        lambda_architecture=settings.lambda_architecture,
        spark_dpus=dpus,
        outputs=max(1, len(transform_outputs(settings))),
        batch_size=EVENT_BATCH_SIZE,
        batch_window_seconds=EVENT_BATCH_WINDOW,
        crawler_dpus=crawler_dpus,
        quicksight_authors=authors,
        quicksight_readers=readers,
    )


def _usage(
    settings: Settings, files_per_day: float | None, mb_per_file: float | None
) -> tuple[model.Volume, usage.Measured, list[str], str]:
    runs, sizes, source = _local_runs(settings)
    measured = usage.measure(runs, sizes)
    notes = []
    if files_per_day is None:
        files_per_day = float(usage.ASSUMED_FILES_PER_DAY)
        notes.append(f"files per day: {usage.ASSUMED_FILES_PER_DAY} assumed (set --files-per-day)")
    if mb_per_file is None:
        mb_per_file = measured.mb_per_file
        if "mb_per_file" in measured.assumed:
            notes.append(f"MB per file: {mb_per_file:g} assumed (set --mb-per-file)")
        else:
            notes.append(f"MB per file: {mb_per_file:.3g}, the median of {measured.runs} local run(s)")
    return model.Volume(files_per_day, mb_per_file), measured, notes, source


def _local_runs(
    settings: Settings,
) -> tuple[list[dict[str, dict[str, Any]]], dict[tuple[str, str], int], str]:
    """The run records of the local stack's buckets, when one runs; where they came from."""
    from emulators.stack import read_state

    local = load_settings(profile="local", overrides={"data_dir": str(settings.data_dir)})
    state = read_state(local)
    if state is None:
        assumed = (
            "runs: no local stack runs, so every figure is assumed (to measure yours: "
            "`csvpipe run FILE`, then `csvpipe cost` while the stack runs)"
        )
        return [], {}, assumed
    clients = Clients(replace(local, endpoint_url=state["endpoint_url"]))
    buckets = [local.raw_bucket, local.processed_bucket, local.final_bucket]
    runs, sizes = usage.recorded_runs(clients.s3, buckets)
    return runs, sizes, f"runs: {len(runs)} measured on the local stack at {state['endpoint_url']}"


def _assumptions(measured: usage.Measured, pipeline: model.Pipeline) -> list[str]:
    said = []
    fixed = "assumed" if "mb_per_file" in measured.assumed else f"the fastest of {measured.runs} local run(s)"
    if "lambda_seconds_per_mb" in measured.assumed:
        rate = f"assumed: no local run of {usage.MIN_MB_FOR_RATE:g} MB or more"
    else:
        rate = f"the median of the local runs of {usage.MIN_MB_FOR_RATE:g} MB or more"
    said.append(
        f"Lambda: {measured.local_min_seconds:.3g} s a file ({fixed}) + "
        f"{measured.local_seconds_per_mb:.3g} s per MB ({rate}), here"
    )
    said.append(
        f"Lambda seconds = seconds here x {model.LAMBDA_FULL_VCPU_MB} / memory MB when memory is below "
        f"{model.LAMBDA_FULL_VCPU_MB} MB (one full vCPU)"
    )
    if "processed_size" in measured.assumed:
        said.append("cleaned file as large as the raw file (assumed)")
    if pipeline.glue_backend == "aws-glue":
        which = "assumed" if "transform_seconds" in measured.assumed else "measured"
        said.append(
            f"Glue job seconds = {model.GLUE_JOB_STARTUP_SECONDS:g} + {model.GLUE_SLOWDOWN:g} x the local "
            f"transforms' {measured.transform_seconds:.3g} s ({which})"
        )
        said.append(
            f"crawler: {pipeline.crawler_dpus:g} DPU assumed (AWS reports it after a run; --crawler-dpus); "
            f"{model.GLUE_SLOWDOWN:g} x the local crawl's seconds, at least the billing minimum"
        )
        said.append("each Glue run reads every file of the dataset (the crawler recrawls everything)")
    else:
        said.append(
            "the glue-worker's host is not priced; if it runs outside AWS, S3's data transfer out is "
            "billed too (not in the table)"
        )
    said.append(
        f"logs: {model.LAMBDA_LOG_BYTES} bytes per invocation, 1 MB per Spark job run (assumed); "
        "no free tiers; 30-day months"
    )
    return said


def cost(
    ctx: typer.Context,
    files_per_day: Annotated[
        float | None,
        typer.Option(help="Files uploaded per day. Default: 100 (an assumption, said so in the output)."),
    ] = None,
    mb_per_file: Annotated[
        float | None,
        typer.Option(help="Size of a file in MB. Default: the median of the local run records, else 1."),
    ] = None,
    region: Annotated[
        str | None, typer.Option(help="AWS region of the prices. Default: the setting `region`.")
    ] = None,
    months: Annotated[
        int,
        typer.Option(help="Estimate month K (stored data grows each month) and the total of months 1 to K."),
    ] = 1,
    quicksight_authors: Annotated[int, typer.Option(help="QuickSight authors to price.")] = 0,
    quicksight_readers: Annotated[int, typer.Option(help="QuickSight readers to price.")] = 0,
    crawler_dpus: Annotated[
        float, typer.Option(help="DPUs a Glue crawler run uses (AWS does not publish it).")
    ] = model.ASSUMED_CRAWLER_DPUS,
    refresh_prices: Annotated[
        bool,
        typer.Option(
            "--refresh-prices", help="Refresh the price table from the AWS Price List API (not available)."
        ),
    ] = False,
) -> None:
    """Estimate what the deployed pipeline costs a month on AWS: Lambda, S3 (per bucket), SQS,
    Glue (crawler and jobs, with their minimum billing per run), CloudWatch Logs and, when asked,
    QuickSight; each line with its quantity, unit price and formula, then the total.

    Usage per file comes from the local run records (the embedded stack's saved state), scaled to
    --files-per-day and --mb-per-file; prices from the offline table shipped with csvpipe, whose
    date is printed. Works offline, on every profile: it calls no AWS API."""
    if refresh_prices:
        raise CostError(
            "--refresh-prices needs AWS credentials and network (the AWS Price List API) and is not "
            "available in this version; the offline table is used without it"
        )
    for name, value in (("--files-per-day", files_per_day), ("--mb-per-file", mb_per_file)):
        if value is not None and value < 0:
            raise CostError(f"{name} must be zero or more, got {value:g}")
    if months < 1:
        raise CostError(f"--months must be 1 or more, got {months}")
    if quicksight_authors < 0 or quicksight_readers < 0 or crawler_dpus <= 0:
        raise CostError(
            "--quicksight-authors and --quicksight-readers must be 0 or more, --crawler-dpus above 0"
        )
    settings = settings_of(ctx)
    table = prices.load(region or settings.region)
    pipeline = deployed_pipeline(settings, crawler_dpus, quicksight_authors, quicksight_readers)
    volume, measured, notes, source = _usage(settings, files_per_day, mb_per_file)
    volume = model.Volume(volume.files_per_day, volume.mb_per_file, months)
    result = model.estimate(volume, measured, pipeline, table)

    console.print(
        f"csvpipe cost: month {months} of stack {settings.stack_name} in {table.region} "
        f"({table.region_name}), glue_backend {pipeline.glue_backend}, "
        f"Lambda {pipeline.lambda_memory_mb} MB {pipeline.lambda_architecture}"
    )
    console.print(
        f"prices: offline table of {table.date} ({prices.TABLE.name}; on-demand list prices, no free tiers; "
        "sources in the table)"
    )
    console.print(
        f"usage: {volume.files_per_day:g} files a day x {volume.mb_per_file:.3g} MB"
        + ("; " + "; ".join(notes) if notes else " (both from the flags)")
    )
    console.print(source)
    grid = Table(title=f"monthly estimate, {table.region}, prices of {table.date}")
    for column in ("service", "item", "quantity", "unit price", "formula", "cost"):
        grid.add_column(column, justify="right" if column in ("quantity", "cost") else "left")
    for line in result.lines:
        grid.add_row(
            Text(line.service),
            Text(line.item),
            Text(f"{_quantity(line.quantity)} {line.unit}"),
            Text(line.price.label()),
            Text(line.formula),
            Text(_money(line.cost)),
        )
    console.print(grid)
    console.print("per service: " + ", ".join(f"{k} {_money(v)}" for k, v in result.by_service().items()))
    console.print(f"total: {_money(result.total)} a month (month {months}, prices of {table.date})")
    if months > 1:
        console.print(
            f"months 1 to {months}: {_money(model.total_over(months, volume, measured, pipeline, table))}"
        )
    if not (quicksight_authors or quicksight_readers):
        console.print("QuickSight: not counted (--quicksight-authors N, --quicksight-readers N)")
    console.print("assumptions:")
    for said in _assumptions(measured, pipeline):
        console.print(f"  - {said}")
    _compare(volume, measured, pipeline, table)


def _compare(
    volume: model.Volume, measured: usage.Measured, pipeline: model.Pipeline, table: prices.PriceTable
) -> None:
    console.print(f"who runs the Glue stages, at this volume (month {volume.month}):")
    options = []
    for option in model.alternatives(pipeline):
        total = model.estimate(volume, measured, option.pipeline, table).total
        options.append((total, option))
    cheapest = min(total for total, _ in options)
    for total, option in options:
        marks = []
        if (
            option.pipeline.glue_backend == pipeline.glue_backend
            and option.pipeline.glue_runs_per_day is None
        ):
            marks.append("configured")
        if total == cheapest:
            marks.append("cheapest")
        how = f" [{option.setting}]" if option.setting else ""
        tag = f" ({', '.join(marks)})" if marks else ""
        console.print(f"  {_money(total):>12} a month  {option.label}{how}{tag}")


def estimate_line(settings: Settings) -> str:
    """One line for ``csvpipe deploy``: the month's total at the assumed or measured usage."""
    try:
        table = prices.load(settings.region)
        pipeline = deployed_pipeline(settings, model.ASSUMED_CRAWLER_DPUS, 0, 0)
        volume, measured, _, _ = _usage(settings, None, None)
        total = model.estimate(volume, measured, pipeline, table).total
    except (CsvpipeError, OSError, ValueError) as exc:  # never stops a deploy
        return f"estimated cost: not available ({exc})"
    return (
        f"estimated cost: {_money(total)} a month at {volume.files_per_day:g} files a day x "
        f"{volume.mb_per_file:.3g} MB (prices of {table.date}; `csvpipe cost` for the lines and assumptions)"
    )
