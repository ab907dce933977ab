"""MiniStack (PyPI ``ministack``, MIT) as a host process: the second emulator csvpipe runs on.

Why: LocalStack needs Docker and, since March 2026, an account token; moto's Lambda needs Docker
too. MiniStack runs zip-deployed Python Lambdas as subprocesses, so the deployed pipeline (the
real deploy plan, the real zip, S3's own notification invoking it) runs on a machine without
Docker: the ``ministack`` profile for users, and the end-to-end test in CI.

Two of its defaults must never apply here: its gateway binds 0.0.0.0, and it opens an IoT mTLS
listener on 0.0.0.0:8883. This module always binds the gateway to the host it is given
(127.0.0.1 by default) and turns the IoT and SFTP listeners off; its pid file, logs and state
go to the folder it is given, never to a shared /tmp.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from pipeline.errors import StackError
from pipeline.settings import Settings

# The version the end-to-end test runs (pyproject.toml's test extra pins it).
TESTED_VERSION = "1.5.33"
INSTALL_HINT = f"pip install ministack=={TESTED_VERSION}"
# What csvpipe's deploy, its Lambda and its Glue stand-in call; MiniStack loads only these.
SERVICES = "s3,sqs,lambda,iam,sts,logs,glue"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


def installed_version() -> str | None:
    """MiniStack's version when it can be imported in this Python environment, else None."""
    if importlib.util.find_spec("ministack") is None:
        return None
    try:
        return metadata.version("ministack")
    except metadata.PackageNotFoundError:
        return "(unknown version)"


def require_installed() -> str:
    version = installed_version()
    if version is None:
        raise StackError(
            f"the ministack profile runs MiniStack, which is not installed: `{INSTALL_HINT}` "
            "(into the same Python environment as csvpipe)"
        )
    return version


def is_ready(endpoint: str, timeout: float = 1.0) -> bool:
    """True when MiniStack answers its readiness probe at ``endpoint``."""
    try:
        with urllib.request.urlopen(f"{endpoint}/_ministack/ready", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def environment(host: str, port: int, state_dir: Path, *, persist: bool) -> dict[str, str]:
    """MiniStack's variables: bound to ``host`` only, no extra listeners, files under
    ``state_dir``; with ``persist`` its state survives a restart (its opt-in persistence)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CSVPIPE_"))}
    return {
        **base,
        "GATEWAY_PORT": str(port),
        "BIND_HOST": host,
        "MINISTACK_HOST": host,
        "SERVICES": SERVICES,
        "IOT_MTLS_ENABLED": "0",
        "SFTP_ENABLED": "0",
        "SFTP_HOST": host,
        "LAMBDA_EXECUTOR": "local",
        # Its pid file and default folders follow TMPDIR.
        "TMPDIR": str(state_dir / "tmp"),
        "PERSIST_STATE": "1" if persist else "0",
        "STATE_DIR": str(state_dir / "state"),
        "S3_PERSIST": "1" if persist else "0",
        "S3_DATA_DIR": str(state_dir / "s3"),
    }


class MiniStack:
    """One MiniStack server, started and stopped by this object (or, detached, by its pid).

    It runs in a session of its own, so stopping it stops the Lambda workers it started (they
    share its process group), and a Ctrl-C meant for csvpipe reaches it only through csvpipe."""

    def __init__(self, host: str, port: int, state_dir: Path, *, persist: bool = False) -> None:
        self.host, self.port, self.state_dir, self.persist = host, port, state_dir, persist
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "ministack.log"

    def start(self) -> MiniStack:
        """Start the server and wait (bounded) until it answers."""
        require_installed()
        from emulators.aws_emulator import port_in_use

        if port_in_use(self.host, self.port):
            raise StackError(
                f"port {self.port} on {self.host} is already in use: stop what uses it, or choose "
                "another with --set emulator_port=<port> (or CSVPIPE_EMULATOR_PORT=<port>)"
            )
        (self.state_dir / "tmp").mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "ministack"],
                env=environment(self.host, self.port, self.state_dir, persist=self.persist),
                cwd=self.state_dir,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + READY_TIMEOUT
        while not is_ready(self.endpoint, timeout=0.5):
            if self.process.poll() is not None:
                raise StackError(
                    f"MiniStack exited at start (code {self.process.returncode}); see {self.log_path}"
                )
            if time.monotonic() > deadline:
                self.stop()
                raise StackError(
                    f"MiniStack did not answer within {READY_TIMEOUT:.0f} s; see {self.log_path}"
                )
            time.sleep(0.1)  # polling a starting server; bounded by READY_TIMEOUT
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_group(self.process.pid, self.process.poll)


def stop_group(leader: int, exited: Callable[[], int | None]) -> None:
    """SIGTERM to MiniStack's process group, SIGKILL to what is left after STOP_TIMEOUT.
    ``exited`` tells whether the leader has ended (and reaps it when it is our child)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(leader, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while exited() is None and time.monotonic() < deadline:
        time.sleep(0.1)  # waiting for a clean shutdown; bounded by STOP_TIMEOUT
    with contextlib.suppress(ProcessLookupError):
        os.killpg(leader, signal.SIGKILL)  # the workers, and the leader if still there


# -- the ministack profile's `csvpipe up` and `csvpipe down` -------------------------------------


def server_for(settings: Settings) -> MiniStack:
    """The profile's MiniStack: on emulator_host:emulator_port, its files and (with persist) its
    state under <data_dir>/.csvpipe/ministack."""
    return MiniStack(
        settings.emulator_host,
        settings.emulator_port,
        settings.state_dir / "ministack",
        persist=settings.persist,
    )


def state_path(settings: Settings) -> Path:
    return settings.state_dir / "ministack.json"


def read_state(settings: Settings) -> dict[str, Any] | None:
    """The detached MiniStack's state, or None when none runs (a stale file is removed)."""
    from emulators.stack import read_live_state

    return read_live_state(state_path(settings))


def start_detached(settings: Settings) -> dict[str, Any]:
    """Start MiniStack in its own session, outliving this command; its state in a file."""
    existing = read_state(settings)
    if existing:
        return existing
    server = server_for(settings).start()
    assert server.process is not None
    state = {
        "pid": server.process.pid,
        "endpoint_url": server.endpoint,
        "version": installed_version(),
        "log": str(server.log_path),
    }
    path = state_path(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(state, indent=2))
    return state


def stop_detached(settings: Settings) -> bool:
    """Stop a detached MiniStack and the Lambda workers it started; False when none ran."""
    from emulators.stack import _alive

    state = read_state(settings)
    if state is None:
        return False
    pid = int(state["pid"])
    stop_group(pid, lambda: None if _alive(pid) else 0)
    state_path(settings).unlink(missing_ok=True)
    return True


def serve(settings: Settings, on_ready: Callable[[MiniStack], None]) -> None:
    """Run MiniStack in the foreground until Ctrl-C (or until it exits)."""
    server = server_for(settings).start()
    assert server.process is not None
    on_ready(server)
    try:
        server.process.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
