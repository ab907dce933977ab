"""A local AWS Lambda: the Lambda Runtime API, served on 127.0.0.1, driving AWS's own runtime
interface client (``awslambdaric``) in a child process.

Why: the handler then runs under the real Lambda contract, not a stand-in for it: the real
``context`` object (function name, request id, remaining time), the real error shapes and the
real start-up and import errors. csvpipe adds what the Lambda service does around the runtime:
one invocation at a time per environment, a per-invocation timeout that kills the environment
("Task timed out after N seconds"), the function's memory size (an environment that goes over
it is killed: ``Runtime.OutOfMemory``), and a fresh environment (cold start) after a crash, a
timeout or running out of memory.

Memory: while an invocation runs, the environment's resident memory (the awslambdaric process
and its children, see emulators.memory) is read every 50 ms. Above ``memory_mb`` the environment
is killed and the invocation fails as on Lambda: ``Runtime.OutOfMemory``, "RequestId: <id>
Error: Runtime exited with error: signal: killed". Each result carries ``max_memory_mb``, the
environment's peak since it started (Lambda's "Max Memory Used"). Memory is read from Linux's
``/proc``; where there is none (macOS, Windows) it is neither measured nor enforced and
``max_memory_mb`` is None.

/tmp: each ``LocalLambda`` has its own folder under ``FunctionConfig.tmp_dir``
(``env-<pid of the owning process>-<random>``), passed to the runtime as ``TMPDIR``. As on Lambda,
it belongs to the execution environment: warm invocations share it, and it is emptied whenever
an environment ends, however it ends (timed out, out of memory, crashed, killed, or stopped), so
a killed invocation's half-written files never pile up. ``start`` also removes the folders of
owners that are no longer running (a stack killed with ``kill -9``).

Code: by default the handler is imported from the running Python environment (the developer
loop: edit, invoke). With ``FunctionConfig.code`` (a deployment zip or a folder) the
environment runs that code instead, as Lambda would: the zip is extracted to a task root
(``LAMBDA_TASK_ROOT``, also the working folder) and Python starts without site-packages
(``-S``) on a path of only the task root and awslambdaric with its own dependencies, so the
handler, DuckDB and boto3 come from the package, and a missing module fails as it would on AWS.

Runtime API (https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html):
    GET  /2018-06-01/runtime/invocation/next
    POST /2018-06-01/runtime/invocation/{id}/response
    POST /2018-06-01/runtime/invocation/{id}/error
    POST /2018-06-01/runtime/init/error
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from emulators.lambda_code import CodeDirs, prepare_code
from emulators.memory import MemoryWatch

API_PREFIX = "/2018-06-01/runtime"
ACCOUNT_ID = "123456789012"
# An environment's /tmp under FunctionConfig.tmp_dir: env-<pid of the owning process>-<random>.
_TMP_NAME = re.compile(r"env-(\d+)-")


@dataclass
class Invocation:
    """The outcome of one invocation, as the Lambda service reports it."""

    request_id: str
    ok: bool
    payload: Any = None
    error_type: str | None = None
    error_message: str | None = None
    duration_ms: float = 0.0
    cold_start: bool = False
    # Peak resident memory of the execution environment since it started (Lambda's "Max
    # Memory Used"); None where it cannot be measured.
    max_memory_mb: int | None = None

    @property
    def error(self) -> dict[str, Any] | None:
        if self.ok:
            return None
        return {"errorType": self.error_type, "errorMessage": self.error_message}


@dataclass
class _Pending:
    request_id: str
    body: bytes
    deadline_ms: int
    done: threading.Event = field(default_factory=threading.Event)
    result: Invocation | None = None


@dataclass(frozen=True)
class FunctionConfig:
    """What the Lambda service knows of a function."""

    name: str
    handler: str
    timeout: int
    memory_mb: int
    region: str
    environment: dict[str, str]
    tmp_dir: Path
    log_path: Path
    # The function's code: a deployment zip or a folder; None runs the handler from the
    # running Python environment.
    code: Path | None = None

    @property
    def arn(self) -> str:
        return f"arn:aws:lambda:{self.region}:{ACCOUNT_ID}:function:{self.name}"


class _RuntimeApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Without TCP_NODELAY each invocation waits on Nagle's algorithm (~88 ms instead of ~0.3 ms).
    disable_nagle_algorithm = True
    server: _RuntimeApiServer

    def log_message(self, format: str, *args: Any) -> None:
        """The runtime's own requests are not worth a log line each."""

    def _reply(self, status: HTTPStatus, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def do_GET(self) -> None:
        if self.path != f"{API_PREFIX}/invocation/next":
            self._reply(HTTPStatus.NOT_FOUND)
            return
        pending = self.server.next_invocation()
        if pending is None:  # shutting down
            self._reply(HTTPStatus.GONE)
            return
        config = self.server.config
        self._reply(
            HTTPStatus.OK,
            pending.body,
            {
                "Content-Type": "application/json",
                "Lambda-Runtime-Aws-Request-Id": pending.request_id,
                "Lambda-Runtime-Deadline-Ms": str(pending.deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": config.arn,
                "Lambda-Runtime-Trace-Id": f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Sampled=0",
            },
        )

    def do_POST(self) -> None:
        body = self._body()
        parts = self.path[len(API_PREFIX) :].strip("/").split("/")
        if parts == ["init", "error"]:
            self.server.init_error(_error_document(body, self.headers))
            self._reply(HTTPStatus.ACCEPTED, b'{"status":"OK"}')
        elif len(parts) == 3 and parts[0] == "invocation" and parts[2] in {"response", "error"}:
            request_id = parts[1]
            if parts[2] == "response":
                known = self.server.complete(request_id, ok=True, payload=_json_or_text(body))
            else:
                known = self.server.complete(request_id, ok=False, error=_error_document(body, self.headers))
            if known:
                self._reply(HTTPStatus.ACCEPTED, b'{"status":"OK"}')
            else:
                self._reply(HTTPStatus.BAD_REQUEST, b'{"errorType":"InvalidRequestID"}')
        else:
            self._reply(HTTPStatus.NOT_FOUND)


def _json_or_text(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return body.decode("utf-8", "replace")


def _error_document(body: bytes, headers: Any) -> dict[str, Any]:
    document = _json_or_text(body)
    if not isinstance(document, dict):
        document = {"errorMessage": str(document)}
    document.setdefault("errorType", headers.get("Lambda-Runtime-Function-Error-Type", "Unhandled"))
    return document


class _RuntimeApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, config: FunctionConfig) -> None:
        super().__init__(("127.0.0.1", 0), _RuntimeApiHandler)
        self.config = config
        self.pending: queue.Queue[_Pending | None] = queue.Queue()
        self.in_flight: dict[str, _Pending] = {}
        self.init_errors: queue.Queue[dict[str, Any]] = queue.Queue()
        self.lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A killed environment leaves broken connections behind; that is expected."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)

    @property
    def address(self) -> str:
        host, port = self.server_address[:2]
        return f"{host}:{port}"

    def next_invocation(self) -> _Pending | None:
        item = self.pending.get()
        if item is not None:
            with self.lock:
                self.in_flight[item.request_id] = item
        return item

    def complete(
        self, request_id: str, *, ok: bool, payload: Any = None, error: dict[str, Any] | None = None
    ) -> bool:
        with self.lock:
            item = self.in_flight.pop(request_id, None)
        if item is None:
            return False
        error = error or {}
        item.result = Invocation(
            request_id=request_id,
            ok=ok,
            payload=payload,
            error_type=error.get("errorType"),
            error_message=error.get("errorMessage"),
        )
        item.done.set()
        return True

    def init_error(self, error: dict[str, Any]) -> None:
        self.init_errors.put(error)


class LocalLambda:
    """One function, one execution environment at a time, invoked synchronously."""

    def __init__(self, config: FunctionConfig) -> None:
        self.config = config
        self._server: _RuntimeApiServer | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._memory: MemoryWatch | None = None
        self._code: CodeDirs | None = None
        self._work_dir: Path | None = None
        self._tmp: Path | None = None
        self._invoke_lock = threading.Lock()
        self._log: Any = None

    def start(self) -> LocalLambda:
        """Prepare the function: its /tmp, its log and, when it has a package, its code."""
        self.config.tmp_dir.mkdir(parents=True, exist_ok=True)
        remove_stale_tmp(self.config.tmp_dir)
        self._tmp = Path(tempfile.mkdtemp(prefix=f"env-{os.getpid()}-", dir=self.config.tmp_dir))
        self.config.log_path.parent.mkdir(parents=True, exist_ok=True)
        if self.config.code is not None:
            self._work_dir = Path(tempfile.mkdtemp(prefix="csvpipe-lambda-code-"))
            try:
                self._code = prepare_code(self.config.code, self._work_dir)
            except BaseException:
                shutil.rmtree(self._work_dir, ignore_errors=True)
                raise
        self._log = self.config.log_path.open("ab")
        return self

    @property
    def server(self) -> _RuntimeApiServer:
        assert self._server is not None, "no execution environment"
        return self._server

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process and self._process.poll() is None else None

    @property
    def tmp(self) -> Path:
        """The environment's /tmp (its ``TMPDIR``)."""
        assert self._tmp is not None, "not started"
        return self._tmp

    @property
    def task_root(self) -> Path | None:
        """Where the function's code was unpacked; None when it runs from this environment."""
        return self._code.task_root if self._code else None

    def _environment(self) -> dict[str, str]:
        config = self.config
        env = {key: value for key, value in os.environ.items() if not key.startswith("AWS_")}
        env.update(config.environment)
        env.update(
            {
                "AWS_LAMBDA_RUNTIME_API": self.server.address,
                "AWS_LAMBDA_FUNCTION_NAME": config.name,
                "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory_mb),
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(config.timeout),
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": f"{time.strftime('%Y/%m/%d')}/[$LATEST]{uuid.uuid4().hex}",
                "AWS_REGION": config.region,
                "AWS_DEFAULT_REGION": config.region,
                "AWS_EXECUTION_ENV": f"AWS_Lambda_python{sys.version_info.major}.{sys.version_info.minor}",
                "_HANDLER": config.handler,
                # Absolute: a packaged function runs in its task root, not in this folder.
                "TMPDIR": str(self.tmp.resolve()),
                "PYTHONUNBUFFERED": "1",
            }
        )
        if self._code is not None:
            # Only the package and the runtime client are importable, as on Lambda.
            for name in ("PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "PYTHONSAFEPATH"):
                env.pop(name, None)
            env.update(
                {
                    "PYTHONPATH": os.pathsep.join((str(self._code.task_root), str(self._code.runtime_dir))),
                    "LAMBDA_TASK_ROOT": str(self._code.task_root),
                    "LAMBDA_RUNTIME_DIR": str(self._code.runtime_dir),
                }
            )
        return env

    def _command(self) -> list[str]:
        if self._code is None:
            return [sys.executable, "-m", "awslambdaric", self.config.handler]
        # -S: no site-packages, so nothing of this virtualenv is importable by accident.
        return [sys.executable, "-S", "-m", "awslambdaric", self.config.handler]

    def _ensure_environment(self) -> bool:
        """Start an execution environment if none runs; True when this was a cold start."""
        if self._process is not None and self._process.poll() is None:
            return False
        self._kill_environment()
        # A Runtime API server per environment: a request left blocked by a dead environment
        # can never take an invocation meant for the next one.
        self._server = _RuntimeApiServer(self.config)
        threading.Thread(target=self._server.serve_forever, name="lambda-runtime-api", daemon=True).start()
        self._process = subprocess.Popen(
            self._command(),
            env=self._environment(),
            cwd=self._code.task_root if self._code else None,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Its own process group: killing the environment kills what the handler started too.
            start_new_session=True,
        )
        self._memory = MemoryWatch(self._process.pid, self.config.memory_mb)
        return True

    def _kill_process(self) -> None:
        """SIGKILL the environment's process group: the runtime and anything the handler started
        (even when the runtime itself has already exited)."""
        process = self._process
        if process is None:
            return
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass  # the whole group is gone already
        except (PermissionError, AttributeError):
            if process.poll() is None:
                process.kill()

    def _kill_environment(self) -> None:
        if self._process is not None:
            self._kill_process()
            self._process.wait(timeout=10)
        self._process = None
        self._memory = None
        if self._server is not None:
            self._server.pending.put(None)
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        # The environment is gone, and its /tmp with it, as on Lambda: the next one starts empty.
        if self._tmp is not None:
            _empty(self._tmp)

    def invoke(self, event: Any) -> Invocation:
        """Run the handler once with ``event``; never raises for the handler's failures."""
        with self._invoke_lock:
            cold = self._ensure_environment()
            watch = self._memory
            started = time.monotonic()
            deadline = started + self.config.timeout
            item = _Pending(
                request_id=str(uuid.uuid4()),
                body=json.dumps(event).encode(),
                deadline_ms=int((time.time() + self.config.timeout) * 1000),
            )
            self.server.pending.put(item)
            result = self._wait(item, deadline)
            result.duration_ms = round((time.monotonic() - started) * 1000, 1)
            result.cold_start = cold
            result.max_memory_mb = watch.peak_mb if watch else None
            return result

    def _out_of_memory(self) -> bool:
        """Read the environment's memory; True when it went over the function's memory size."""
        watch = self._memory
        if watch is None or self._process is None or self._process.poll() is not None:
            return False
        watch.sample()
        return watch.over_limit

    def _wait(self, item: _Pending, deadline: float) -> Invocation:
        while True:
            if item.done.wait(timeout=0.05):
                assert item.result is not None
                # The peak counts even when the handler freed the memory before returning:
                # on Lambda the environment would have been killed the moment it went over.
                if self._out_of_memory():
                    return self._abandon_out_of_memory(item)
                return item.result
            if not self.server.init_errors.empty():
                error = self.server.init_errors.get_nowait()
                return self._abandon(
                    item,
                    error.get("errorType", "Runtime.InitError"),
                    error.get("errorMessage", "init failed"),
                )
            if self._out_of_memory():
                return self._abandon_out_of_memory(item)
            process = self._process
            if process is not None and process.poll() is not None:
                return self._abandon(
                    item,
                    "Runtime.ExitError",
                    f"RequestId: {item.request_id} Error: Runtime exited with "
                    f"error: {_exit_reason(process.returncode)}",
                )
            if time.monotonic() >= deadline:
                return self._abandon(
                    item,
                    "Sandbox.Timedout",
                    f"RequestId: {item.request_id} Error: Task timed out after "
                    f"{self.config.timeout:.2f} seconds",
                )

    def _abandon_out_of_memory(self, item: _Pending) -> Invocation:
        return self._abandon(
            item,
            "Runtime.OutOfMemory",
            f"RequestId: {item.request_id} Error: Runtime exited with error: signal: killed",
        )

    def _abandon(self, item: _Pending, error_type: str, message: str) -> Invocation:
        """The environment is lost: kill it so the next invocation starts a fresh one."""
        self._kill_environment()
        return Invocation(request_id=item.request_id, ok=False, error_type=error_type, error_message=message)

    def stop(self) -> None:
        self._kill_process()  # ends an invocation in progress now, as an ExitError
        with self._invoke_lock:
            self._kill_environment()
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
        if self._work_dir is not None:
            shutil.rmtree(self._work_dir, ignore_errors=True)
            self._work_dir = None


def _empty(folder: Path) -> None:
    """Remove everything in ``folder``, keeping the folder; what cannot be removed (a file a
    dying process still creates) goes at the next environment's end."""
    try:
        entries = list(folder.iterdir())
    except OSError:
        return
    for entry in entries:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


def remove_stale_tmp(tmp_dir: Path) -> list[Path]:
    """Remove what earlier runs left in ``tmp_dir``: environments' folders whose owning process
    is no longer running, and anything else (files written there by earlier versions). Folders
    of running owners (another stack, ``csvpipe invoke``) are kept. Returns what was removed."""
    removed = []
    for entry in sorted(tmp_dir.iterdir()):
        owner = _TMP_NAME.match(entry.name)
        if owner and entry.is_dir() and _running(int(owner[1])):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed


# How Lambda (a Go program) names the signal that ended the runtime: "signal: killed".
_SIGNAL_NAMES = {
    signal.SIGKILL: "killed",
    signal.SIGTERM: "terminated",
    signal.SIGSEGV: "segmentation fault",
    signal.SIGABRT: "aborted",
    signal.SIGBUS: "bus error",
    signal.SIGILL: "illegal instruction",
    signal.SIGFPE: "floating point exception",
    signal.SIGINT: "interrupt",
}


def _exit_reason(returncode: int) -> str:
    """``exit status N`` for an exit, ``signal: NAME`` for a signal, as Lambda words them."""
    if returncode >= 0:
        return f"exit status {returncode}"
    try:
        number = signal.Signals(-returncode)
    except ValueError:
        return f"signal: {-returncode}"
    return f"signal: {_SIGNAL_NAMES.get(number, number.name)}"
