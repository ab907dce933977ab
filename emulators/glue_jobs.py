"""The Glue stand-in's scheduling: after files are preprocessed, crawl their datasets, then run
the transforms that read them. AWS would run a Glue crawler and a Glue job; locally the same
pipeline.catalog and pipeline.transform code runs in-process.

Why batches: a crawl reads every file of its dataset and a transform recomputes its output
from all of them, so doing both once for every file costs O(files²) when many arrive together.
``GlueScheduler`` takes what finished preprocessing while it was busy, and what the event source
still has in flight (for up to a few seconds), and handles it in one pass: one crawl per dataset,
one run of each affected transform, the records written for every run of the batch. One file
alone still goes through at once.

Why resuming: what waits here is in this process's memory, while the event that brought it was
deleted from the queue once the Lambda succeeded. A ``kill -9`` of the stack, or of its emulator
in the middle of a batch, dropped that work: the files were preprocessed and never crawled or
transformed, their runs unfinished for good (and the final outputs stale, when no later file
came). ``GlueScheduler.resume`` finds such runs from their run records (a successful preprocess
record, no transform record, no failed crawl) and submits them again; the stack calls it when it
starts and after it restarted its emulator. A crawl or transform that failed because the
endpoint went away is not recorded as the run's failure (it would end the run): the batch fails,
is submitted again after a pause (three tries in all), and past that is resumed at the next
restart.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from emulators.bounded import EndpointUnavailable, Limits, Stopped, run_bounded
from pipeline import layout, runs
from pipeline.aws import Clients, endpoint_fault
from pipeline.catalog.crawler import crawl_dataset
from pipeline.errors import CsvpipeError, LimitExceeded, failure_text
from pipeline.settings import Settings
from pipeline.storage import Mirror
from pipeline.transform.dag import downstream_of, reading
from pipeline.transform.job import load_plan, run_steps

log = logging.getLogger("csvpipe.glue")
# How long a batch may wait for the results still in flight after its first one (see
# GlueScheduler); AWS's deployment batches the same way, with a longer window
# (pipeline.deploy.plan.EVENT_BATCH_WINDOW).
BATCH_WINDOW_SECONDS = 5.0
MORE_COMING_RECHECK = 0.05
RECORD_WRITERS = 4  # PUTs of a batch's run records at once
_TRANSFORMS = threading.Lock()
# A batch the endpoint failed is tried again after a pause, BATCH_TRIES times in all.
BATCH_TRIES, RETRY_PAUSE_SECONDS = 3, 2.0
ATTEMPT = "glue_attempt"  # the try a resubmitted result is on


def _stage_error(stage: str, exc: Exception) -> str:
    """A stage's failure for its run record: user-facing errors as they are, anything else
    (a bug, an unreachable endpoint) named by type, with the traceback in the stack's log."""
    if not isinstance(exc, CsvpipeError):
        log.exception("%s stage failed unexpectedly", stage)
    return failure_text(stage, exc)


def _write_records(
    clients: Clients, bucket: str, run_ids: list[str], stage: str, record: dict[str, Any]
) -> None:
    """``record`` as the ``stage`` record of every run of a batch, several PUTs at a time: one
    after another, they took a third of the Glue stand-in's time in a burst of small files."""
    with ThreadPoolExecutor(max_workers=RECORD_WRITERS, thread_name_prefix="records") as pool:
        list(pool.map(lambda run: runs.write_stage_record(clients.s3, bucket, run, stage, record), run_ids))


def after_preprocess(clients: Clients, result: dict[str, Any], work_dir: Path) -> None:
    """Crawl and transform after one successful preprocess; write both run records."""
    after_preprocess_batch(clients, [result], work_dir)


def crawl_limits(settings: Settings, dataset: str) -> Limits:
    return Limits(
        "crawl",
        f"the crawl of dataset {dataset!r}",
        settings.crawl_timeout,
        settings.crawl_memory_mb,
        "crawl_timeout",
        "crawl_memory_mb",
    )


def transform_limits(settings: Settings, datasets: list[str]) -> Limits:
    return Limits(
        "transform",
        f"the transforms after dataset(s) {', '.join(datasets)}",
        settings.transform_timeout,
        settings.transform_memory_mb,
        "transform_timeout",
        "transform_memory_mb",
    )


def _crawl_child(
    settings: Settings, dataset: str, work_dir: Path, listed: dict[tuple[str, str], list[Path]]
) -> dict[str, Any]:
    """A dataset's crawl, in the child process run_bounded starts."""
    clients = Clients(settings)
    mirror = Mirror(clients.s3, work_dir, listed)
    return crawl_dataset(dataset, settings, clients.s3, clients.glue, work_dir, mirror)


def _transform_child(
    settings: Settings, datasets: list[str], work_dir: Path, listed: dict[tuple[str, str], list[Path]]
) -> dict[str, Any]:
    """The transforms reading ``datasets`` (and those downstream), in a child process."""
    clients = Clients(settings)
    steps, references = load_plan(settings)
    chosen = downstream_of(steps, [s.name for d in datasets for s in reading(steps, d)])
    mirror = Mirror(clients.s3, work_dir, listed)
    return run_steps(chosen, settings, clients.s3, clients.glue, work_dir, references, mirror)


def _endpoints_fault(exc: BaseException) -> bool:
    """Whether the endpoint, not the run, failed: here, or in the bounded child."""
    return isinstance(exc, EndpointUnavailable) or endpoint_fault(exc)


def _failure(stage: str, exc: Exception) -> dict[str, Any]:
    """The failed record's fields; a limit names the setting that would let the run through."""
    failed: dict[str, Any] = {"status": "failed", "error": _stage_error(stage, exc)}
    if isinstance(exc, LimitExceeded):
        failed.update(limit=exc.setting, peak_memory_mb=exc.peak_mb)
    return failed


def after_preprocess_batch(clients: Clients, results: list[dict[str, Any]], work_dir: Path) -> None:
    """Crawl each dataset of the successful ``results`` once, then run the transforms reading
    the datasets that crawled once; write every run's crawl and transform records. Each crawl,
    and the transforms, run in a child process within their limits (``crawl_timeout``,
    ``crawl_memory_mb``, ``transform_timeout``, ``transform_memory_mb``): over one, that work
    fails, with the reason in its records, and the rest goes on."""
    settings, bucket = clients.settings, clients.settings.processed_bucket
    by_dataset: dict[str, list[str]] = {}
    for result in results:
        if result.get("status") == "ok":
            run_ids = by_dataset.setdefault(result["dataset"], [])
            if result["run_id"] not in run_ids:  # submitted twice: by the event source and a resume
                run_ids.append(result["run_id"])
    crawled: dict[str, list[str]] = {}
    # One listing of each dataset for the pass, here: its crawl and its transforms read the same files.
    mirror = Mirror(clients.s3, work_dir)
    for dataset, run_ids in by_dataset.items():
        watch = runs.Stopwatch()
        try:
            mirror.prefix(bucket, layout.dataset_prefix(dataset))
            record, usage = run_bounded(
                _crawl_child, (settings, dataset, work_dir, mirror.listed), crawl_limits(settings, dataset)
            )
            crawl = {"status": "ok", **record, "peak_memory_mb": usage.peak_mb}
        except Stopped:
            raise  # no record: the run stays unfinished, for the next start
        except Exception as exc:
            if _endpoints_fault(exc):
                raise  # not the run's failure: the batch is resumed once the endpoint is back
            crawl = _failure("crawl", exc)
        crawl.update(started_at=watch.started_at, seconds=watch.seconds(), batch=len(run_ids))
        _write_records(clients, bucket, run_ids, "crawl", crawl)
        if crawl["status"] == "ok":
            crawled[dataset] = run_ids
    if not crawled:
        return

    # Passes of different datasets may share outputs: their transforms take turns.
    with _TRANSFORMS:
        watch = runs.Stopwatch()
        try:
            transform, usage = run_bounded(
                _transform_child,
                (settings, list(crawled), work_dir, mirror.listed),
                transform_limits(settings, list(crawled)),
            )
            transform["peak_memory_mb"] = usage.peak_mb
        except Stopped:
            raise
        except Exception as exc:
            if _endpoints_fault(exc):
                raise  # as for the crawl
            failed = _failure("transform", exc)
            transform = {
                "status": "failed",
                "outputs": [],
                "skipped": [],
                "errors": [{"error": failed.pop("error")}],
                **failed,
            }
        transform.update(started_at=watch.started_at, seconds=watch.seconds())
    _write_records(
        clients, bucket, [run for run_ids in crawled.values() for run in run_ids], "transform", transform
    )


class GlueScheduler:
    """Crawl and transform in the background, in batches of what arrived while busy.

    ``more_coming`` (the event source's ``busy``) says whether results are on their way. While it
    does, a batch waits for them, up to ``window`` seconds after its first result: files dropped
    together are then crawled and transformed together, a few times, instead of once for every
    few files while the Lambda still works through the rest (each pass reads the whole dataset).
    A file alone, with nothing else in flight, goes through at once.

    Each dataset of a batch gets a pass of its own, up to ``concurrency`` (``glue_concurrency``)
    at once: a dataset whose crawl is slow or stuck (until its limit stops it) holds one of them,
    not every other dataset. A dataset has one pass at a time; results arriving meanwhile wait
    for it and then go through together."""

    def __init__(
        self,
        clients: Clients,
        work_dir: Path,
        max_batch: int = 1000,
        more_coming: Callable[[], bool] = lambda: False,
        window: float = BATCH_WINDOW_SECONDS,
        concurrency: int | None = None,
    ) -> None:
        self.clients, self.work_dir, self.max_batch = clients, work_dir, max_batch
        self.more_coming, self.window = more_coming, window
        # Daemon threads, each taking a slot for a pass: a stack that stops does not wait for one.
        self._slots = threading.Semaphore(concurrency or clients.settings.glue_concurrency)
        self.pending: queue.Queue[dict[str, Any]] = queue.Queue()
        self._lock = threading.Lock()
        self._held: dict[str, list[dict[str, Any]]] = {}  # dataset in a pass -> results waiting for it
        self._stopping: Callable[[], bool] = lambda: False

    def submit(self, result: dict[str, Any]) -> None:
        self.pending.put(result)

    def resume(self) -> int:
        """Submit again the runs that were preprocessed and never crawled and transformed (see
        the module's docstring); how many."""
        results = unfinished_runs(self.clients)
        for result in results:
            self.submit(result)
        return len(results)

    def next_batch(self, should_stop: Callable[[], bool]) -> list[dict[str, Any]]:
        """The next batch: what is pending, and what arrives while ``more_coming()``, up to
        ``window`` seconds after the first result; empty when nothing came within 0.2 s."""
        try:
            batch = [self.pending.get(timeout=0.2)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + self.window
        while len(batch) < self.max_batch:
            # Asked before looking: a result is submitted before the source stops counting it as
            # to come, so when none is to come, every result is in the queue already.
            coming = self.more_coming()
            try:
                batch.append(self.pending.get_nowait())
                continue
            except queue.Empty:
                pass
            remaining = deadline - time.monotonic()
            if not coming or remaining <= 0 or should_stop():
                break
            # Woken by the next result; asks more_coming() again every 0.05 s.
            with contextlib.suppress(queue.Empty):
                batch.append(self.pending.get(timeout=min(remaining, MORE_COMING_RECHECK)))
        return batch

    def dispatch(self, batch: list[dict[str, Any]]) -> list[threading.Thread]:
        """Start a pass for each dataset of ``batch``, or hold its results for the pass it has;
        the threads started."""
        started = []
        by_dataset: dict[str, list[dict[str, Any]]] = {}
        for result in batch:
            if result.get("status") == "ok":  # the others have nothing to crawl
                by_dataset.setdefault(result["dataset"], []).append(result)
        for dataset, results in by_dataset.items():
            with self._lock:
                if dataset in self._held:
                    self._held[dataset] += results
                    continue
                self._held[dataset] = []
            thread = threading.Thread(
                target=self._passes, args=(dataset, results), name=f"glue-{dataset}", daemon=True
            )
            thread.start()
            started.append(thread)
        return started

    def _passes(self, dataset: str, results: list[dict[str, Any]]) -> None:
        """Passes over ``dataset`` until no result waits for it."""
        while results:
            try:
                with self._slots:
                    after_preprocess_batch(self.clients, results, self.work_dir)
            except Stopped as exc:
                log.info("%s; its %d file(s) are sent again on the next start", exc, len(results))
                with self._lock:
                    self._held.pop(dataset, None)
                return
            except Exception as exc:
                log.exception("crawl and transform failed for %d file(s) of %s", len(results), dataset)
                if _endpoints_fault(exc):  # the emulator went away: tried again, then resumed
                    self.retry(results, self._stopping)
            with self._lock:
                results = self._held.pop(dataset)
                if results:
                    self._held[dataset] = []

    def run(self, should_stop: Callable[[], bool]) -> None:
        self._stopping = should_stop
        while not should_stop():
            batch = self.next_batch(should_stop)
            if batch:
                self.dispatch(batch)

    def retry(self, batch: list[dict[str, Any]], should_stop: Callable[[], bool]) -> int:
        """Submit again, after a pause, a batch the endpoint failed (a 5xx, a cut connection), up
        to ``BATCH_TRIES`` times in all; past that its runs wait for the next start or emulator
        restart, which resumes them. How many were submitted."""
        again = [{**r, ATTEMPT: r.get(ATTEMPT, 1) + 1} for r in batch if r.get(ATTEMPT, 1) < BATCH_TRIES]
        deadline = time.monotonic() + RETRY_PAUSE_SECONDS
        while again and time.monotonic() < deadline and not should_stop():
            time.sleep(0.1)  # the endpoint coming back; bounded by RETRY_PAUSE_SECONDS
        for result in again:
            self.submit(result)
        return len(again)


def unfinished_runs(clients: Clients) -> list[dict[str, Any]]:
    """The preprocess results (as the Lambda returned them) of the runs whose Glue work never
    finished: a successful preprocess record, no transform record, and no failed crawl (a crawl
    that failed on the data would fail again). One listing of the run records, and a GET of the
    records of those runs only."""
    s3, bucket = clients.s3, clients.settings.processed_bucket
    stages: dict[str, set[str]] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=layout.RUNS_PREFIX):
        for obj in page.get("Contents", []):
            run, _, name = obj["Key"].removeprefix(layout.RUNS_PREFIX).partition("/")
            if name.endswith(".json") and "/" not in name:
                stages.setdefault(run, set()).add(name.removesuffix(".json"))
    results = []
    for run, found in sorted(stages.items()):
        if "preprocess" not in found or "transform" in found:
            continue
        if "crawl" in found:
            crawl = runs.read_stage_record(s3, bucket, run, "crawl")
            if crawl is None or crawl.get("status") != "ok":
                continue
        record = runs.read_stage_record(s3, bucket, run, "preprocess")
        if record is not None and record.get("status") == "ok" and record.get("dataset"):
            results.append({"run_id": run, **record})
    return results
