"""The local stack's supervisor: ``csvpipe up``, ``down`` and ``status`` for the local profile.

It starts the embedded AWS emulator, provisions buckets, queue, notification and catalog
database (idempotently), starts the local Lambda and the event source, and records what runs in
``<data_dir>/.csvpipe/stack.json`` so other commands can find and stop it.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from emulators import bounded, leftovers, persistence
from emulators.aws_emulator import AwsEmulator, is_ready, port_in_use
from emulators.event_source import EventSource
from emulators.glue_jobs import GlueScheduler
from emulators.lambda_runtime import FunctionConfig, LocalLambda
from pipeline import stack_settings
from pipeline.aws import Clients
from pipeline.errors import StackError
from pipeline.ingest.watch import Watcher
from pipeline.provision import provision
from pipeline.runs import now_iso
from pipeline.settings import PACKAGED_RULES, PACKAGED_TRANSFORMS, Settings, env_var

HANDLER = "pipeline.preprocess.handler.handler"
# An emulator that dies more often than this is not restarted again.
MAX_RESTARTS, RESTART_WINDOW = 3, 60.0
# How long `up --detach` waits for a starting stack (a large restore on a loaded machine takes
# minutes), with a progress line every START_PROGRESS seconds. Past it, the stack is left to go
# on starting, never stopped.
START_TIMEOUT = 900.0
START_PROGRESS = 10.0
STOP_TIMEOUT = 30.0
log = logging.getLogger("csvpipe.stack")


def state_path(settings: Settings) -> Path:
    return settings.state_dir / "stack.json"


def log_dir(settings: Settings) -> Path:
    return settings.state_dir / "logs"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def read_live_state(path: Path) -> dict[str, Any] | None:
    """The JSON state file at ``path`` of a process that still runs (its ``pid``), or None when
    there is none or it is stale (a stale file is removed)."""
    try:
        state = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return None
    if not _alive(int(state.get("pid", 0))):
        path.unlink(missing_ok=True)
        return None
    return dict(state)


def read_state(settings: Settings) -> dict[str, Any] | None:
    """The running stack's state, or None when none runs (a stale file is removed, and what
    that dead stack started is ended)."""
    path = state_path(settings)
    stale = path.exists()
    state = read_live_state(path)
    if state is None and stale:
        end_leftovers(settings)  # a stack that died without stopping what it started
    return state


def end_leftovers(settings: Settings) -> list[int]:
    """End the processes a dead stack of this data folder left running (its emulator, dashboard
    and Lambda environments, holding their ports), saying so in one line."""
    found = leftovers.find(settings.state_dir).leftovers
    if found:
        names = ", ".join(leftovers.describe(pid) for pid in found)
        print(f"ended what a stack that did not stop cleanly left running: {names}", file=sys.stderr)
        leftovers.end(found)
    return found


def _write_state(settings: Settings, state: dict[str, Any]) -> None:
    path = state_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as fh:
        json.dump(state, fh, indent=2)
    os.replace(fh.name, path)


def require_local(settings: Settings) -> None:
    if settings.profile == "aws":
        raise StackError("the aws profile runs nothing locally: use `csvpipe deploy` for AWS")
    if settings.profile == "localstack":
        raise StackError(
            "the localstack profile runs under Docker Compose (`docker compose up`); "
            "on a machine without Docker use the default local profile"
        )


def function_config(settings: Settings, code: Path | None = None) -> FunctionConfig:
    """The preprocessing function as the local Lambda runs it; with ``code`` (a deployment zip)
    it runs that package instead of this environment's modules."""
    environment = settings.as_env()
    if code is not None:
        # Default folders are then the package's own, as on AWS; only folders the user chose
        # are passed on.
        for name, packaged in (("rules_dir", PACKAGED_RULES), ("transforms_dir", PACKAGED_TRANSFORMS)):
            if Path(getattr(settings, name)).resolve() == packaged.resolve():
                environment.pop(env_var(name), None)
    # The handler inside the Lambda reaches the emulator with its own credentials, as on AWS.
    if settings.aws_access_key_id and settings.aws_secret_access_key:
        environment["AWS_ACCESS_KEY_ID"] = settings.aws_access_key_id
        environment["AWS_SECRET_ACCESS_KEY"] = settings.aws_secret_access_key
    return FunctionConfig(
        name=settings.lambda_function_name,
        handler=HANDLER,
        timeout=settings.lambda_timeout,
        memory_mb=settings.lambda_memory_mb,
        region=settings.region,
        environment=environment,
        tmp_dir=settings.state_dir / "lambda-tmp",
        log_path=log_dir(settings) / "lambda.log",
        code=code,
    )


def serve(settings: Settings, on_ready: Callable[[dict[str, Any]], None] | None = None) -> None:
    """Run the stack in this process until SIGINT or SIGTERM."""
    require_local(settings)
    existing = read_state(settings)
    if existing:
        raise StackError(
            f"the local stack is already running (pid {existing['pid']}); stop it with `csvpipe down`"
        )
    end_leftovers(settings)
    stopping = threading.Event()
    previous = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in (signal.SIGTERM, signal.SIGINT)}
    # Everything started from here on is marked as this stack's, so that if this process dies
    # without stopping it, the next `up`, `status` or `down` ends it (see emulators.leftovers).
    marks = leftovers.mark_children(settings.state_dir)
    emulator = AwsEmulator(
        settings.emulator_host,
        settings.emulator_port,
        log_dir(settings) / "emulator.log",
        journal_dir(settings) if settings.persist else None,
    )
    functions: list[LocalLambda] = []
    source: EventSource | None = None
    poller: threading.Thread | None = None
    dashboard: subprocess.Popen[bytes] | None = None
    keeper: StateKeeper | None = None
    try:
        with _deaf_to_ctrl_c():
            emulator.start()
        clients = Clients(settings)
        keeper = StateKeeper(settings, clients) if settings.persist else None
        if keeper:
            keeper.restore()
        queue = provision(clients)
        functions = [
            LocalLambda(function_config(settings)).start() for _ in range(settings.lambda_concurrency)
        ]
        # The scheduler batches while the source (made next, fed by it) has results to come.
        glue = GlueScheduler(
            clients,
            settings.state_dir / "glue-work",
            more_coming=lambda: source is not None and source.busy(),
        )
        threading.Thread(target=glue.run, args=(stopping.is_set,), name="glue", daemon=True).start()
        source = EventSource(clients, queue.url, functions, on_result=glue.submit)
        poller = threading.Thread(target=source.run, name="event-source", daemon=True)
        poller.start()
        watcher = Watcher(settings, clients.s3)
        threading.Thread(
            target=watcher.run,
            # Its lines go where the stack's output goes: the terminal, or stack.log when detached.
            args=(lambda outcome: print(outcome.describe(settings.raw_bucket), flush=True), stopping.is_set),
            name="watcher",
            daemon=True,
        ).start()
        state = {
            "pid": os.getpid(),
            "profile": settings.profile,
            "endpoint_url": emulator.endpoint,
            "emulator_pid": emulator.process.pid if emulator.process else None,
            "queue_url": queue.url,
            "dlq_url": queue.dlq_url,
            "buckets": [settings.raw_bucket, settings.processed_bucket, settings.final_bucket],
            "function": settings.lambda_function_name,
            "inbox": str(watcher.inbox.resolve()),
            "logs": str(log_dir(settings).resolve()),
            "started_at": now_iso(),
            # What the stack's Lambda and Glue stand-in run with: commands given other settings say so.
            "settings": stack_settings.recorded(settings),
        }
        dashboard = _start_dashboard(settings)
        if dashboard is not None:
            state.update(
                dashboard_url=f"http://{settings.dashboard_host}:{settings.dashboard_port}",
                dashboard_pid=dashboard.pid,
            )
        _write_state(settings, state)
        if keeper:
            keeper.reconcile(queue.url)
        _resume_in_background(glue)
        if on_ready:
            on_ready(state)
        restarts: list[float] = []
        while not stopping.wait(0.5):
            if emulator.process and emulator.process.poll() is not None:
                restarts = [t for t in restarts if time.monotonic() - t < RESTART_WINDOW] + [time.monotonic()]
                if keeper is None or len(restarts) > MAX_RESTARTS:
                    raise StackError(f"the AWS emulator stopped unexpectedly; see {emulator.log_path}")
                print(
                    f"the AWS emulator stopped (exit {emulator.process.returncode}); restarting it",
                    flush=True,
                )
                with keeper.lock:
                    with _deaf_to_ctrl_c():
                        emulator.start()
                    keeper.restore()
                    queue = provision(clients)
                    state["emulator_pid"] = emulator.process.pid if emulator.process else None
                    _write_state(settings, state)
                keeper.reconcile(queue.url)
                _resume_in_background(glue)
    finally:
        if dashboard is not None:
            dashboard.terminate()
            try:
                dashboard.wait(timeout=10)
            except subprocess.TimeoutExpired:
                dashboard.kill()
        if source:
            source.stop()
        for function in functions:
            function.stop()
        if poller:
            poller.join(timeout=10)
        emulator.stop()
        bounded.stop()  # the Glue stand-in's fork server and any crawl or transform still running
        state_path(settings).unlink(missing_ok=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        leftovers.unmark(marks)


class StateKeeper:
    """The emulator keeps its own state, durably (emulators.durable, under
    ``<state_dir>/state/journal``). This moves a snapshot saved by an older csvpipe (objects,
    tables; no queues) into it once, then re-sends the events of unfinished runs, since that
    snapshot had no queue to keep them."""

    def __init__(self, settings: Settings, clients: Clients) -> None:
        self.settings, self.clients = settings, clients
        self.root = persistence_root(settings)
        self.lock = threading.Lock()
        self.migrated = False

    def restore(self) -> None:
        journal = journal_dir(self.settings)
        if not persistence.has_snapshot(self.root) or persistence.journal_has_records(journal):
            return
        restored = persistence.restore(self.clients, self.root)
        persistence.retire_snapshot(self.root)
        self.migrated = True
        print(
            f"restored {restored.objects} object(s) and {restored.tables} table(s) from {self.root}",
            flush=True,
        )

    def reconcile(self, queue_url: str) -> None:
        if not self.migrated:
            return  # the queues were kept with everything else: nothing in flight was lost
        self.migrated = False
        for key in persistence.reconcile(self.clients, queue_url):
            print(f"processing {key} again: it was in flight when the emulator stopped", flush=True)


def _resume_in_background(glue: GlueScheduler) -> None:
    """Crawl and transform again what a stopped stack or emulator left half done (see
    emulators.glue_jobs), without holding up the start; a failure (the emulator gone again) is
    logged, and the next restart resumes."""

    def resume() -> None:
        try:
            count = glue.resume()
        except Exception:
            log.exception("could not look for unfinished runs; the next start looks again")
            return
        if count:
            print(
                f"crawling and transforming {count} file(s) again: they were preprocessed when "
                "the stack or its emulator stopped, and never crawled and transformed",
                flush=True,
            )

    threading.Thread(target=resume, name="glue-resume", daemon=True).start()


@contextmanager
def _deaf_to_ctrl_c() -> Iterator[None]:
    """Processes started in here never get the terminal's Ctrl-C. The emulator shares the
    stack's process group, so a Ctrl-C reached it too and killed it before the stack's last save
    ("could not save the emulator's state" and a traceback, and the writes since the previous
    save lost). SIGINT is blocked in this thread while they start: children inherit the blocked
    signal, and here it is only deferred, delivered when the block ends. The stack stops its
    children itself, with SIGTERM, after saving."""
    if not hasattr(signal, "pthread_sigmask"):  # Windows
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def journal_dir(settings: Settings) -> Path:
    return persistence_root(settings) / "journal"


def persistence_root(settings: Settings) -> Path:
    return settings.state_dir / "state"


def _start_dashboard(settings: Settings) -> subprocess.Popen[bytes] | None:
    """The dashboard beside the stack, logging to dashboard.log; None, with a line saying why,
    when its port is taken (the stack is useful without it)."""
    from dashboards import serve_command, serve_environment

    if port_in_use(settings.dashboard_host, settings.dashboard_port):
        print(
            f"dashboard not started: {settings.dashboard_host}:{settings.dashboard_port} is in use "
            f"(set dashboard_port, or run `csvpipe dashboard --port N`)",
            flush=True,
        )
        return None
    log = (log_dir(settings) / "dashboard.log").open("ab")
    return subprocess.Popen(
        serve_command(settings),
        env=serve_environment(settings),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def start_detached(
    settings: Settings,
    timeout: float = START_TIMEOUT,
    progress_every: float = START_PROGRESS,
    on_progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Start the stack in a background process and wait until it is ready, with a progress line
    every ``progress_every`` seconds. A stack still starting after ``timeout`` is left to go on
    (StackError says how to follow and stop it): it is never stopped for being slow."""
    require_local(settings)
    existing = read_state(settings)
    if existing:
        return existing
    end_leftovers(settings)
    say = on_progress or (lambda line: print(line, file=sys.stderr, flush=True))
    logs = log_dir(settings)
    logs.mkdir(parents=True, exist_ok=True)
    stack_log = logs / "stack.log"
    # The detached stack is marked with its state folder, so `down` finds it even before it is
    # ready (it has no state file yet), see emulators.leftovers.
    env = {**os.environ, **settings.as_env(), leftovers.STACK_DIR: str(settings.state_dir.resolve())}
    env.pop(leftovers.STACK_OWNER, None)
    with stack_log.open("ab") as out:
        log_start = out.tell()
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "up"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    started = time.monotonic()
    next_progress = started + progress_every
    while True:
        code = process.poll()
        if code is not None:
            raise StackError(_last_error(stack_log) or f"the local stack exited at start (code {code})")
        state = read_state(settings)
        if state and state["pid"] == process.pid and is_ready(state["endpoint_url"]):
            return state
        now = time.monotonic()
        if now - started >= timeout:
            raise StackError(
                f"the local stack (pid {process.pid}) is still starting after {now - started:.0f} s; "
                f"it goes on in the background: `csvpipe status` shows when it is ready, "
                f"`csvpipe down` stops it, and {stack_log} says what it is doing"
            )
        if now >= next_progress:
            last = _last_line(stack_log, log_start)
            say(f"still starting ({now - started:.0f} s): {last or 'starting the AWS emulator'}")
            next_progress = now + progress_every
        time.sleep(0.1)  # polling a starting process; bounded by timeout


def _last_line(log_file: Path, offset: int) -> str | None:
    """The last line written to ``log_file`` after ``offset``."""
    try:
        with log_file.open("rb") as fh:
            fh.seek(offset)
            lines = [line for line in fh.read().decode(errors="replace").splitlines() if line.strip()]
    except OSError:
        return None
    return lines[-1].strip() if lines else None


def _last_error(log_file: Path) -> str | None:
    lines = [line for line in log_file.read_text(errors="replace").splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("error:"):
            return line.removeprefix("error:").strip()
    return lines[-1] if lines else None


def stop(settings: Settings) -> bool:
    """Stop a running stack, or one still starting, or what a dead stack left running; False
    when there was nothing."""
    state = read_state(settings)
    if state is None:
        # No state file: a detached stack still starting, or leftovers (read_state ended those).
        found = leftovers.find(settings.state_dir)
        for pid in found.stacks:
            print(f"stopping {leftovers.describe(pid)}, which was still starting", file=sys.stderr)
        ended = leftovers.end(found.stacks, grace_s=STOP_TIMEOUT)
        return bool(ended) | bool(end_leftovers(settings))
    pid = int(state["pid"])
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        if not _alive(pid):
            state_path(settings).unlink(missing_ok=True)
            end_leftovers(settings)  # what it could not stop itself, if anything
            return True
        time.sleep(0.1)  # waiting for a clean shutdown; bounded by STOP_TIMEOUT
    os.kill(pid, signal.SIGKILL)
    emulator_pid = state.get("emulator_pid")
    if emulator_pid and _alive(int(emulator_pid)):
        os.kill(int(emulator_pid), signal.SIGKILL)
    state_path(settings).unlink(missing_ok=True)
    deadline = time.monotonic() + STOP_TIMEOUT
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)  # a killed process is gone within moments; bounded all the same
    end_leftovers(settings)  # its dashboard and Lambda environments
    return True


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] == "Z"
    except (FileNotFoundError, IndexError):
        return False
