"""Glue work in a child process, stopped at a deadline and a memory cap.

Why: the Glue stand-in crawled and transformed in the stack's own process, one dataset after
another. One pathological file (a CSV of 1,000,000 columns) then held it for minutes at more
than a gigabyte, every other dataset waited behind it, and a restart sent it again. Here each
piece of work runs in a child process the parent watches: past ``seconds`` or above
``memory_mb`` of resident memory the child is killed and the work fails with
``LimitExceeded``, naming the limit and the setting to raise. The caller writes that failure
into the run's record, which ends the run, so a restart does not send it again.

How: children are forked from multiprocessing's fork server, started once with the Glue
stand-in's modules imported, so a child costs a fork rather than a new interpreter, and forking
never copies the stack's threads or their locks. Memory is read every ``POLL_SECONDS`` from
``/proc`` as the local Lambda reads it (emulators.memory: the peak resident memory of the child
and the current one of its descendants); where ``/proc`` is missing only time is enforced. A
child whose parent dies ends itself, and the fork server ends with the parent.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from emulators.memory import MemoryWatch
from pipeline.aws import endpoint_fault
from pipeline.errors import CsvpipeError, LimitExceeded, StageError, failure_text

log = logging.getLogger("csvpipe.bounded")
POLL_SECONDS = 0.05
# Imported once by the fork server, so each child starts with them loaded.
PRELOAD = ["emulators.glue_jobs"]
_CONTEXT = multiprocessing.get_context("forkserver")
_CONTEXT.set_forkserver_preload(PRELOAD)
_ACTIVE: set[Any] = set()  # children running now, ended by stop()
_STOPPED: set[Any] = set()  # children stop() ended: their work did not fail, it was cut short
_ACTIVE_LOCK = threading.Lock()


class EndpointUnavailable(StageError):
    """The child's work failed because the endpoint could not be reached or answered 5xx: the
    endpoint's fault, not the run's (see pipeline.aws.endpoint_fault)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, retryable=True)


class Stopped(Exception):
    """The stack stopped while the work ran: not a failure of the work, so no record is
    written and the run stays unfinished (the next start's reconcile sends it again)."""


@dataclass(frozen=True)
class Limits:
    """The bounds of one piece of work, and the settings that set them (for the message)."""

    stage: str  # "crawl" or "transform": names an unexpected failure
    what: str  # "the crawl of dataset 'x'", "the transforms after dataset(s) x, y"
    seconds: float
    memory_mb: int
    seconds_setting: str
    memory_setting: str


@dataclass(frozen=True)
class Usage:
    """What a finished child used: its wall time and peak resident memory (None: not measured)."""

    seconds: float
    peak_mb: int | None


def _watch_parent() -> None:
    """End this child when the process that started it dies (its pipe from that process
    closes): work nobody waits for must not run on."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return
    parent.join()
    os._exit(1)


def _child(send: Connection, cwd: str, stage: str, target: Callable[..., Any], args: tuple[Any, ...]) -> None:
    # Ctrl-C reaches the whole process group: the parent decides, and stops the child itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_watch_parent, name="parent-watch", daemon=True).start()
    os.chdir(cwd)  # the fork server's folder is the one it started in, not the caller's
    try:
        outcome: tuple[Any, ...] = ("ok", target(*args))
    except Exception as exc:
        if not isinstance(exc, CsvpipeError):
            log.exception("bounded work failed unexpectedly")
        outcome = ("error", failure_text(stage, exc), getattr(exc, "retryable", False), endpoint_fault(exc))
    send.send(outcome)
    send.close()


def run_bounded(target: Callable[..., Any], args: tuple[Any, ...], limits: Limits) -> tuple[Any, Usage]:
    """``target(*args)`` in a child process; its result and what it used. Raises LimitExceeded
    when the child goes over ``limits`` (it is killed at once), StageError with the child's
    message when ``target`` raised, or when the child died without an answer, and Stopped when
    ``stop()`` ended it. ``target`` and ``args`` must pickle (a module-level function, plain
    values)."""
    receive, send = _CONTEXT.Pipe(duplex=False)
    child = _CONTEXT.Process(target=_child, args=(send, os.getcwd(), limits.stage, target, args), daemon=True)
    started = time.monotonic()
    with _ACTIVE_LOCK:
        child.start()
        _ACTIVE.add(child)
    send.close()
    assert child.pid is not None
    watch = MemoryWatch(child.pid, limits.memory_mb)
    deadline = started + limits.seconds
    outcome: tuple[Any, ...] | None = None
    try:
        while outcome is None:
            if receive.poll(POLL_SECONDS):
                with contextlib.suppress(EOFError):
                    outcome = receive.recv()
                break
            if not child.is_alive():
                if receive.poll(0):
                    with contextlib.suppress(EOFError):
                        outcome = receive.recv()
                break
            watch.sample()
            if watch.over_limit:
                raise LimitExceeded(
                    f"{limits.what} stopped at {watch.peak_mb} MiB of memory, over its limit of "
                    f"{limits.memory_mb} MiB ({limits.memory_setting}); raise it with "
                    f"--set {limits.memory_setting}=N, or fix the file",
                    setting=limits.memory_setting,
                    peak_mb=watch.peak_mb,
                )
            if time.monotonic() > deadline:
                raise LimitExceeded(
                    f"{limits.what} stopped after {limits.seconds:g} s, its time limit "
                    f"({limits.seconds_setting}); raise it with --set {limits.seconds_setting}=N, "
                    "or fix the file",
                    setting=limits.seconds_setting,
                    peak_mb=watch.peak_mb,
                )
    finally:
        if child.is_alive():
            child.kill()
        child.join()
        receive.close()
        with _ACTIVE_LOCK:
            _ACTIVE.discard(child)
            stopped = child in _STOPPED
            _STOPPED.discard(child)
    usage = Usage(round(time.monotonic() - started, 3), watch.peak_mb)
    if stopped:
        raise Stopped(f"{limits.what} was ended: the stack is stopping")
    if outcome is None:
        ended = f"{limits.what} ended without an answer (exit code {child.exitcode})"
        raise StageError(ended, retryable=True)
    if outcome[0] == "error":
        if outcome[3]:
            raise EndpointUnavailable(outcome[1])
        raise StageError(outcome[1], retryable=outcome[2])
    return outcome[1], usage


def stop() -> None:
    """End the children running now and the fork server, and wait for them: a stack that stops
    leaves none of them behind for ``down`` to find. (The fork server would end by itself once
    this process is gone, a moment too late for that.) Uses the standard library's own way of
    stopping its fork server, ``ForkServer._stop``."""
    with _ACTIVE_LOCK:
        for child in list(_ACTIVE):
            _STOPPED.add(child)
            with contextlib.suppress(OSError, ValueError):
                child.kill()
                child.join(5)
    with contextlib.suppress(OSError, ChildProcessError, AttributeError):
        multiprocessing.forkserver._forkserver._stop()
