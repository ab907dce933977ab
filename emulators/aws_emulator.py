"""The embedded AWS emulator: a moto server in a child process, bound to 127.0.0.1.

Why a child process: moto keeps its state in one process; the CLI, the Lambda runtime and the
dashboard all reach it over HTTP exactly as they would reach AWS. It runs through
emulators.moto_server: moto's own server with two per-request costs of moto taken out. Given a
``state_dir``, it keeps what it acknowledges there (emulators.durable) and replays it at start.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from pipeline.errors import StackError

READY_TIMEOUT = 30.0
# A durable emulator replays its journal before it answers: allow for a large one.
REPLAY_TIMEOUT = 300.0


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def is_ready(endpoint: str, timeout: float = 1.0) -> bool:
    """True when a moto server answers at ``endpoint``."""
    try:
        with urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=timeout) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


class AwsEmulator:
    def __init__(
        self,
        host: str,
        port: int,
        log_path: Path,
        state_dir: Path | None = None,
        compact_every: int | None = None,
    ) -> None:
        self.host, self.port, self.log_path, self.state_dir = host, port, log_path, state_dir
        self.compact_every = compact_every
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> AwsEmulator:
        if port_in_use(self.host, self.port):
            if is_ready(self.endpoint):
                raise StackError(
                    f"an AWS emulator already answers at {self.endpoint} (a csvpipe stack started "
                    "from another folder? stop it there with `csvpipe down`), or choose another port "
                    "with CSVPIPE_EMULATOR_PORT=<port>"
                )
            raise StackError(
                f"port {self.port} on {self.host} is already in use: stop what uses it, or choose "
                "another with CSVPIPE_EMULATOR_PORT=<port> (or --set emulator_port=<port>)"
            )
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "emulators.moto_server", "-H", self.host, "-p", str(self.port)]
        if self.state_dir is not None:
            command += ["--state", str(self.state_dir)]
            if self.compact_every is not None:
                command += ["--compact-every", str(self.compact_every)]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        timeout = READY_TIMEOUT if self.state_dir is None else REPLAY_TIMEOUT
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StackError(
                    f"the AWS emulator exited at start (code {self.process.returncode}); see {self.log_path}"
                )
            if is_ready(self.endpoint, timeout=0.5):
                return self
            time.sleep(0.1)  # polling a starting server; bounded by READY_TIMEOUT
        self.stop()
        raise StackError(f"the AWS emulator did not answer within {timeout:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
