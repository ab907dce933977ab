"""``csvpipe crawl``: the Glue crawler stand-in on demand, with a dry run that prints the plan.

Why a command: the stack crawls a dataset after each preprocessed file, but a user who changed
the crawler's settings (mode, sample, schema-change policy), or who wants to see what a crawl
would do to the catalog before it does it, needs to run it by hand. The work is done in
pipeline.catalog; this module reads arguments and prints.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from pipeline.aws import Clients
from pipeline.catalog.crawler import check_reachable, list_datasets
from pipeline.catalog.crawler import crawl as crawl_one
from pipeline.catalog.options import crawler_options
from pipeline.catalog.plan import describe_plan
from pipeline.cli_common import console, settings_of
from pipeline.errors import CsvpipeError


def crawl(
    ctx: typer.Context,
    datasets: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="DATASET",
            help="Datasets (top-level folders of the processed bucket) to crawl; default: every one.",
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan per table and change nothing.")
    ] = False,
    full_scan: Annotated[
        bool,
        typer.Option("--full-scan", help="Infer types from every row, not the first crawler_sample_rows."),
    ] = False,
) -> None:
    """Infer the schema of processed data and register it in the Glue Data Catalog.

    For each dataset it prints the plan: create, update or unchanged, each schema change and
    whether the policy applies it (setting crawler_schema_change: update applies compatible
    changes, log only reports), and the partitions from key=value folders. Without --dry-run it
    then applies the plan and says what it did. Settings crawler_mode (csvpipe or
    glue-compatible) and crawler_sample_rows change the inference, e.g.
    `csvpipe --set crawler_mode=glue-compatible crawl --dry-run`. Exits 1 when a dataset
    could not be crawled."""
    settings = settings_of(ctx)
    crawler_options(settings, full_scan=full_scan)  # a bad crawler setting fails before any call
    clients = Clients(settings)
    check_reachable(clients.s3, settings)
    names = list(dict.fromkeys(datasets or list_datasets(clients.s3, settings.processed_bucket)))
    if not names:
        console.print(f"no datasets in s3://{settings.processed_bucket}/: nothing to crawl")
        return
    work_dir = settings.state_dir / "glue-work"
    failed = 0
    for name in names:
        try:
            plan, record = crawl_one(
                name, settings, clients.s3, clients.glue, work_dir, full_scan=full_scan, dry_run=dry_run
            )
        except CsvpipeError as exc:
            print(f"error: {name}: {exc}", file=sys.stderr)
            failed += 1
            continue
        for line in describe_plan(plan):
            console.print(line)
        applied = record["applied"]
        if applied is None:
            continue
        done = []
        if applied["table"] != "unchanged":
            done.append(f"table {applied['table']} (version {applied['version']})")
        for verb in ("created", "updated"):
            if applied[f"partitions_{verb}"]:
                done.append(f"{applied[f'partitions_{verb}']} partition(s) {verb}")
        console.print(f"  applied: {', '.join(done)}" if done else "  applied: nothing to change")
    if dry_run:
        console.print("dry run: nothing was changed")
    if failed:
        raise typer.Exit(1)
