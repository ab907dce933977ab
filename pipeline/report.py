"""``csvpipe run``'s work: upload, follow with a progress display, print a summary per file."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table
from rich.text import Text

from pipeline import layout, limits, runs
from pipeline.aws import Clients
from pipeline.errors import CsvpipeError
from pipeline.follow import FileProgress, clear_records, follow
from pipeline.ingest.upload import upload_file
from pipeline.settings import PACKAGED_TRANSFORMS, Settings, replace
from pipeline.storage import head, split_s3_uri
from pipeline.transform.job import load_plan

PREVIEW_ROWS = 10


def run_files(
    console: Console,
    clients: Clients,
    files: list[Path],
    dataset: str | None,
    timeout: float,
    transforms_dir: Path | None = None,
) -> bool:
    """Upload and follow ``files``; True when every stage of every file succeeded.
    ``transforms_dir``: the transforms that run (the stack's), default the settings'."""
    settings = clients.settings
    for warning in _limit_warnings(clients, files):
        console.print(f"warning: {warning}", style="yellow")
    uploads = []
    for path in files:
        key = layout.raw_key_for_upload(path.name, dataset)
        # The same bytes at the same key are the same run: forget its old records first.
        found = head(clients.s3, settings.raw_bucket, key)
        if found is not None:
            clear_records(
                clients.s3, settings.processed_bucket, layout.run_id(settings.raw_bucket, key, found[1])
            )
        uploads.append(upload_file(clients.s3, settings.raw_bucket, path, dataset))
        console.print(f"uploaded {path} -> s3://{settings.raw_bucket}/{uploads[-1].key}")

    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.fields[stage]}"),
        console=console,
        transient=True,
        disable=not console.is_terminal,  # piped output (logs, CI) gets the summary, not a bar
    ) as bar:
        tasks = {
            u.run_id: bar.add_task(u.path.name, total=len(layout.STAGES), stage="queued") for u in uploads
        }

        def changed(item: FileProgress) -> None:
            done = sum(1 for s in layout.STAGES if s in item.records)
            bar.update(
                tasks[item.upload.run_id],
                completed=done,
                stage=("failed at " if item.failed else "") + item.stage,
            )

        results = follow(clients.s3, settings.processed_bucket, uploads, timeout, on_change=changed)

    outputs: dict[str, str] = {}
    transforms_dir = transforms_dir or settings.transforms_dir
    read = datasets_read(replace(settings, transforms_dir=transforms_dir))
    for item in results:
        print_file(console, item, read, transforms_dir)
        for output in (item.records.get("transform") or {}).get("outputs", []):
            outputs[output["output"]] = output["data"]
    for name, uri in outputs.items():
        _print_output(console, clients.s3, name, uri)
    failed = [item for item in results if item.failed]
    if failed:
        console.print(f"{len(failed)} of {len(results)} file(s) failed", style="red")
    else:
        console.print(f"{len(results)} file(s) went through every stage", style="green")
    return not failed


def _limit_warnings(clients: Clients, files: list[Path]) -> list[str]:
    """Files predicted to exceed the Lambda's limits; the run records are read only when a file
    is big enough for its throughput to matter."""
    throughput = limits.Throughput(limits.DEFAULT_MB_PER_S, 0)
    if any(limits.text_bytes(path) >= limits.MIN_MEASURED_BYTES for path in files):
        records = runs.latest_runs(clients.s3, clients.settings.processed_bucket, limits.RECENT_RUNS)
        throughput = limits.measured_throughput(records)
    return [
        warning for path in files for warning in limits.limit_warnings(path, throughput, clients.settings)
    ]


def datasets_read(settings: Settings) -> set[str] | None:
    """The datasets some transform of ``transforms_dir`` reads; None when the transforms cannot
    be read (their own command, ``csvpipe transform --dry-run``, says why)."""
    try:
        steps, _ = load_plan(settings)
    except CsvpipeError:
        return None
    return {table for step in steps for table in step.catalog}


def no_transform_line(dataset: str, transforms_dir: Path) -> str:
    """What a file whose dataset no transform reads gets instead of outputs: the fact, and how
    to start a transform."""
    if transforms_dir.resolve() == PACKAGED_TRANSFORMS.resolve():
        where = (
            "in a folder of your own (e.g. transforms/) and restart the stack with it: "
            "`csvpipe down && csvpipe --set transforms_dir=transforms up --detach`"
        )
    else:
        where = f"in {transforms_dir}"
    return (
        f"  outputs: none: no transform reads dataset {dataset}; write one as <name>.sql "
        f"(e.g. SELECT count(*) AS n FROM {dataset}) {where}; see docs/runs-and-status.md"
    )


def print_file(
    console: Console, item: FileProgress, read: set[str] | None = None, transforms_dir: Path | None = None
) -> None:
    """One file's summary: its outcome over every stage and why it failed, the rules that
    applied, its rows, table, outputs (or that no transform reads its dataset) and timings.
    ``read``: the datasets some transform reads (None: unknown, nothing said about it)."""
    upload = item.upload
    pre = item.records.get("preprocess") or {}
    crawl = item.records.get("crawl") or {}
    transform = item.records.get("transform") or {}
    mark = Text("FAILED", style="red") if item.failed else Text("ok", style="green")
    console.print()
    console.print(mark, f"{upload.path}  (s3://{upload.bucket}/{upload.key}, run {upload.run_id})")
    if error := item.error():
        console.print(f"  error: {error}")
    if pre.get("rules"):
        console.print(f"  rules: {pre['rules']}")
    if rows := pre.get("rows"):
        console.print(
            f"  rows: {rows['in']} in, {rows['out']} out, {rows['rejected']} rejected, "
            f"{rows['empty']} empty, {rows.get('duplicate', 0)} duplicate"
        )
    if pre.get("rejects"):
        console.print(f"  rejects: s3://{pre['rejects']['bucket']}/{pre['rejects']['key']}")
    if crawl.get("table"):
        schema = ", ".join(f"{c['name']} {c['type']}" for c in crawl["columns"])
        console.print(f"  table: {crawl['database']}.{crawl['table']} ({crawl['action']}): {schema}")
    for output in transform.get("outputs", []):
        console.print(f"  output: {output['data']} ({output['rows']} rows), manifest {output['manifest']}")
    for skipped in transform.get("skipped", []):
        console.print(f"  skipped: {skipped['transform']}: {skipped['reason']}")
    dataset = pre.get("dataset")
    unread = read is not None and bool(dataset) and dataset not in read
    if unread and transforms_dir is not None and "transform" in item.records and not item.failed:
        console.print(no_transform_line(str(dataset), transforms_dir))
    timings = ", ".join(
        f"{stage} {item.records[stage]['seconds']:.2f} s"
        for stage in layout.STAGES
        if stage in item.records and "seconds" in item.records[stage]
    )
    if timings:
        console.print(f"  seconds: {timings}")


def _print_output(console: Console, s3: Any, name: str, uri: str) -> None:
    bucket, key = split_s3_uri(uri)
    text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        return
    table = Table(title=f"{name}  ({uri})")
    for column in rows[0]:
        table.add_column(column)
    for row in rows[1 : PREVIEW_ROWS + 1]:
        table.add_row(*row)
    console.print()
    console.print(table)
    if len(rows) - 1 > PREVIEW_ROWS:
        console.print(f"  ... {len(rows) - 1 - PREVIEW_ROWS} more rows")
