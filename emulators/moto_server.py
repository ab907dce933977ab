"""The moto server the stack runs: ``python -m emulators.moto_server -H HOST -p PORT``, which is
``python -m moto.server`` with three of moto's per-request costs taken out.

Why: with many small files the emulator, not csvpipe, was the bottleneck (``bench/latency.py``
counts its requests and times the stack). Two costs of moto's own grow with the work:

- SQS ``ReceiveMessage`` checks each message it returns against the queue's retention period by
  computing *every* queue attribute, three of which count the queue's messages. A receive of 10
  with 1,000 events queued took 0.6-0.8 s, so a burst of N files cost O(N²). Here the check reads
  the one attribute it needs: the same number, the same answer.
- SQS reads the clock for every message it looks at (is it visible, is it delayed), and
  ``SendMessage`` counts the queue's messages too; moto's clock builds two datetimes per reading
  (about 6 µs). Here SQS reads ``time.time()``, the same clock without the datetimes: a send to a
  queue of 1,000 events went from about 14 ms to 2 ms.
- Every request finds its service through ``get_backend_for_host``, which lists moto's package
  folder (some 200 ``isdir`` calls) and tries every service's URL patterns, under the one lock of
  the dispatcher, twice for a request whose service comes from its signature. The answer depends
  on the host only (the folder and the patterns do not change while the server runs), so it is
  remembered per host.

With ``--state FOLDER`` it also keeps what it acknowledged (emulators.durable): the journal in
FOLDER is replayed before the port opens, and every write is journaled before its answer.

Neither changes what any request returns. Each is applied only while moto still has the function
it stands in for, with the signature it expects; a moto that changed them runs as it is (slower,
never different), which the functional tests would show.
"""

from __future__ import annotations

import argparse
import inspect
import logging
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

from moto import server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from moto.sqs.models import SQSBackend

from emulators.durable import COMPACT_EVERY

_MAX_HOSTS = 1024


def _has_signature(owner: type, name: str, parameters: list[str]) -> bool:
    function = getattr(owner, name, None)
    return function is not None and list(inspect.signature(function).parameters) == parameters


def _remember_backends() -> None:
    """``get_backend_for_host`` answers once per host."""
    if not _has_signature(DomainDispatcherApplication, "get_backend_for_host", ["self", "host"]):
        return
    original = DomainDispatcherApplication.get_backend_for_host
    known: dict[str | None, Any] = {}
    lock = threading.Lock()

    def get_backend_for_host(self: DomainDispatcherApplication, host: str | None) -> Any:
        with lock:
            if host in known:
                return known[host]
        backend = original(self, host)
        with lock:
            if len(known) < _MAX_HOSTS:  # hosts come from requests: bounded, come what may
                known[host] = backend
        return backend

    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]


def _retention_from_the_attribute() -> None:
    """The retention check of ``ReceiveMessage`` reads ``MessageRetentionPeriod`` alone."""
    if not _has_signature(
        SQSBackend, "is_message_valid_based_on_retention_period", ["self", "queue_name", "message"]
    ):
        return
    from moto.sqs import models

    def is_message_valid_based_on_retention_period(self: SQSBackend, queue_name: str, message: Any) -> bool:
        retention_period = int(self.get_queue(queue_name).message_retention_period)
        return retention_period + message.sent_timestamp / 1000 > models.unix_time()

    SQSBackend.is_message_valid_based_on_retention_period = (  # type: ignore[method-assign]
        is_message_valid_based_on_retention_period
    )


def _sqs_reads_the_clock_directly() -> None:
    """SQS's ``unix_time()`` and ``unix_time_millis()`` without an argument are ``time.time()``."""
    from moto.core import utils
    from moto.sqs import models

    if models.unix_time is not utils.unix_time or models.unix_time_millis is not utils.unix_time_millis:
        return  # not the functions this stands in for
    original = utils.unix_time

    def unix_time(dt: Any = None) -> float:
        return time.time() if dt is None else original(dt)

    def unix_time_millis(dt: Any = None) -> float:
        return unix_time(dt) * 1000.0

    models.unix_time, models.unix_time_millis = unix_time, unix_time_millis


def _serve_durably(host: str, port: int, state: Path, compact_every: int) -> None:
    """moto's server (as ``moto.server.main`` runs it) behind the journal of emulators.durable."""
    from werkzeug.serving import run_simple

    from emulators.durable import open_durable

    os.environ.setdefault("MOTO_PORT", str(port))
    journal_log = logging.getLogger("csvpipe.durable")  # compactions and replay warnings, in the log
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    journal_log.addHandler(handler)
    journal_log.setLevel(logging.INFO)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    moto_app = DomainDispatcherApplication(create_backend_app)
    moto_app.debug = True  # type: ignore[attr-defined]
    app = open_durable(moto_app, state, compact_every)
    run_simple(host, port, app, threaded=True, request_handler=MotoRequestHandler)


def main(argv: list[str] | None = None) -> None:
    _remember_backends()
    _retention_from_the_attribute()
    _sqs_reads_the_clock_directly()
    arguments = argv if argv is not None else sys.argv[1:]
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--state", type=Path)
    parser.add_argument("-H", "--host", default="127.0.0.1")
    parser.add_argument("-p", "--port", type=int, default=5000)
    parser.add_argument("--compact-every", type=int, default=COMPACT_EVERY)
    known, rest = parser.parse_known_args(arguments)
    if known.state is None or rest:
        server.main(arguments)
        return
    _serve_durably(known.host, known.port, known.state, known.compact_every)


if __name__ == "__main__":
    main()
