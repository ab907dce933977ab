"""``csvpipe watch``: upload what is dropped into the watched folder (``data/inbox/``)."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Annotated

import typer

from pipeline.aws import Clients
from pipeline.cli_common import console, settings_of
from pipeline.errors import UserInputError
from pipeline.ingest.watch import Outcome, Watcher


def watch(
    ctx: typer.Context,
    folder: Annotated[
        Path | None,
        typer.Argument(help="Folder to watch (default data/inbox: settings data_dir and inbox_folder)."),
    ] = None,
    once: Annotated[
        bool, typer.Option("--once", help="Upload the files that are complete now, then exit.")
    ] = False,
) -> None:
    """Upload each new or changed .csv / .csv.gz dropped into FOLDER once it is completely
    written, keeping sub-folders as key prefixes (`inbox/movies/a.csv` -> `movies/a.csv`).

    A file is taken once no process has it open for writing (Linux) and it stopped changing.
    Uploaded files move to `.done/`; the same content is never uploaded twice, and a path that
    comes back with new content goes beside the earlier object, never over it. Symbolic links,
    names the store refuses and unreadable files move to `.failed/` with an `.error.txt`; an
    unreachable store is retried for a bounded time. Hidden, temporary and lock files are
    ignored. Runs until Ctrl-C unless --once. `csvpipe up` runs a watcher too."""
    settings = settings_of(ctx)
    inbox = folder or settings.inbox_dir
    if inbox.exists() and not inbox.is_dir():
        raise UserInputError(f"{inbox}: not a folder")
    watcher = Watcher(settings, Clients(settings).s3, inbox)
    failed = 0

    def report(outcome: Outcome) -> None:
        nonlocal failed
        bad = outcome.status in ("failed", "unreadable")
        failed += bad
        console.print(outcome.describe(settings.raw_bucket), style="red" if bad else None)

    if once:
        # Two looks one settle period apart: what did not change in between is complete.
        for outcome in watcher.poll():
            report(outcome)
        time.sleep(settings.watch_settle_ms / 1000)
        for outcome in watcher.poll():
            report(outcome)
        retrying = sorted(watcher.pending)
        waiting = sorted(watcher.settle.seen.keys() - watcher.pending.keys())
        if waiting:
            console.print(f"still being written, left for later: {', '.join(waiting)}")
        if retrying:
            console.print(f"not uploaded (the store did not answer), left for later: {', '.join(retrying)}")
        raise typer.Exit(1 if failed or retrying else 0)

    console.print(
        f"watching {inbox} -> s3://{settings.raw_bucket}/ (every {settings.watch_poll_ms} ms; Ctrl-C to stop)"
    )
    stop = threading.Event()
    try:
        watcher.run(report, stop.is_set)
    except KeyboardInterrupt:
        console.print("stopped watching")
