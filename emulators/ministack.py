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

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from importlib import metadata
from pathlib import Path

from pipeline.errors import StackError

# The version the end-to-end test runs (pyproject.toml's test extra pins it).
TESTED_VERSION = "1.5.33"
INSTALL_HINT = f"pip install ministack=={TESTED_VERSION}"
# What csvpipe's deploy, its Lambda and its Glue stand-in call; MiniStack loads only these.
SERVICES = "s3,sqs,lambda,iam,sts,logs,glue"
READY_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0


def installed_version() -> str | None:
    """MiniStack's version when it is installed in this Python environment, else None."""
    try:
        return metadata.version("ministack")
    except metadata.PackageNotFoundError:
        return None


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
    """One MiniStack server, started and stopped by this object (or, detached, by its pid)."""

    def __init__(self, host: str, port: int, state_dir: Path, *, persist: bool = False) -> None:
        self.host, self.port, self.state_dir, self.persist = host, port, state_dir, persist
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.state_dir / "ministack.log"

    def start(self, *, detach: bool = False) -> MiniStack:
        """Start the server and wait (bounded) until it answers; ``detach`` puts it in its own
        session, so it outlives this process."""
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
                start_new_session=detach,
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
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=STOP_TIMEOUT)
