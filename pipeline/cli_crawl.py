"""``csvpipe crawl``: the Glue crawler stand-in on demand, with a dry run that prints the plan;
``--rebuild`` re-derives a table from its current files and ``--forget`` removes one dataset.

Why a command: the stack crawls a dataset after each preprocessed file, but a user who changed
the crawler's settings (mode, sample, schema-change policy), who wants to see what a crawl
would do to the catalog before it does it, or whose dataset drifted, needs to run it by hand.
The work is done in pipeline.catalog; this module reads arguments and prints.
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
from pipeline.errors import CsvpipeError, UserInputError
from pipeline.settings import Settings


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
        typer.Option(
            "--full-scan",
            help="Infer types from every row of every file (in csvpipe mode files up to 64 MiB are "
            "always read whole).",
        ),
    ] = False,
    rebuild: Annotated[
        bool,
        typer.Option(
            "--rebuild",
            help="Re-derive the named datasets' tables from their current files as a new table "
            "version: columns no file has any more are removed, types re-inferred (pinned types "
            "kept). The previous definitions stay in the table's versions.",
        ),
    ] = False,
    forget: Annotated[
        bool,
        typer.Option(
            "--forget",
            help="Forget the named datasets: their table, raw uploads, processed files, rejects, "
            "run records, the outputs of the transforms reading them and the local copies. "
            "Other datasets are not touched. With --dry-run, only list what would go.",
        ),
    ] = False,
    yes: Annotated[
        bool,
        typer.Option("--yes", help="With --forget on a profile other than local: confirm the deletion."),
    ] = False,
) -> None:
    """Infer the schema of processed data and register it in the Glue Data Catalog.

    For each dataset it prints the plan: create, update or unchanged, each schema change and
    whether the policy applies it (setting crawler_schema_change: update applies compatible
    changes, log only reports), and the partitions from key=value folders. Without --dry-run it
    then applies the plan and says what it did. Settings crawler_mode (csvpipe or
    glue-compatible) and crawler_sample_rows change the inference, e.g.
    `csvpipe --set crawler_mode=glue-compatible crawl --dry-run`. A column whose values no
    longer fit its type is widened (to string if it must); a typed column of the dataset's
    rules (`[columns.NAME] type = "int"` in the file DATASET.toml of rules_dir) keeps its type.
    `csvpipe crawl DATASET --rebuild` drops the columns no file has any more;
    `csvpipe crawl DATASET --forget` removes the dataset. Exits 1 when a dataset could not be
    crawled."""
    settings = settings_of(ctx)
    if rebuild and forget:
        raise UserInputError(
            "choose --rebuild (re-derive the table) or --forget (remove the dataset), not both"
        )
    if (rebuild or forget) and not datasets:
        flag = "--rebuild" if rebuild else "--forget"
        raise UserInputError(
            f"name the dataset(s) to {flag.removeprefix('--')}, e.g. `csvpipe crawl movies {flag}`"
        )
    if forget and full_scan:
        raise UserInputError("--full-scan reads files to crawl them; --forget removes them: choose one")
    if forget and not dry_run and not yes and settings.profile != "local":
        raise UserInputError(
            f"--forget deletes the datasets' objects in the {settings.profile} profile's buckets: "
            "run it with --dry-run to see what would go, then with --yes"
        )
    crawler_options(settings, full_scan=full_scan)  # a bad crawler setting fails before any call
    clients = Clients(settings)
    check_reachable(clients.s3, settings)
    if forget:
        _forget(settings, clients, list(dict.fromkeys(datasets or [])), dry_run)
        return
    names = list(dict.fromkeys(datasets or list_datasets(clients.s3, settings.processed_bucket)))
    if not names:
        console.print(f"no datasets in s3://{settings.processed_bucket}/: nothing to crawl")
        return
    work_dir = settings.state_dir / "glue-work"
    failed = 0
    for name in names:
        try:
            plan, record = crawl_one(
                name,
                settings,
                clients.s3,
                clients.glue,
                work_dir,
                full_scan=full_scan,
                dry_run=dry_run,
                rebuild=rebuild,
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


def _forget(settings: Settings, clients: Clients, names: list[str], dry_run: bool) -> None:
    from pipeline.catalog.forget import describe_forget, forget_dataset, plan_forget
    from pipeline.transform.dag import downstream_of, reading
    from pipeline.transform.job import load_plan

    steps, _ = load_plan(settings)
    for name in names:
        outputs = [step.name for step in downstream_of(steps, [s.name for s in reading(steps, name)])]
        plan = plan_forget(name, settings, clients.s3, clients.glue, outputs)
        for line in describe_forget(plan, settings):
            console.print(line)
        if dry_run or plan.empty:
            continue
        done = forget_dataset(plan, settings, clients.s3, clients.glue)
        what = [f"table {done['table']}"] if done["table"] else []
        what.append(f"{done['objects']} object(s)")
        if done["local"]:
            what.append(f"{done['local']} local folder(s)")
        console.print(f"  forgot: {', '.join(what)}")
    if dry_run:
        console.print("dry run: nothing was removed")
