"""Commands that run one csvpipe service in the foreground, as docker compose starts them."""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import typer

from pipeline.aws import Clients
from pipeline.cli_common import console, settings_of


def glue_worker(ctx: typer.Context) -> None:
    """Run the Glue stand-in as a service: crawl and transform after each preprocessed file.

    It learns of them from the processed bucket (a notification of each preprocess run record to
    the queue `<queue_name>-processed`, created here), as when the Lambda runs elsewhere:
    inside LocalStack under docker compose. Runs until Ctrl-C or SIGTERM."""
    from emulators.glue_worker import GlueWorker
    from pipeline.catalog.crawler import ensure_database
    from pipeline.provision import ensure_processed_queue

    settings = settings_of(ctx)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    clients = Clients(settings)
    ensure_database(clients.glue, settings.glue_database)
    queue = ensure_processed_queue(clients)
    stop = threading.Event()

    def on_signal(*_: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    console.print(f"glue worker: listening on {queue.url} (profile {settings.profile})")
    GlueWorker(clients, queue.url, settings.state_dir / "glue-work").run(stop.is_set, wait_seconds=2)
    console.print("glue worker stopped")
