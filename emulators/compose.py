"""The localstack profile's stack: docker compose, driven through the ``docker compose`` command.

Why the command rather than a Python SDK: compose files are the interface users know, the
command is what they would type, and it adds no dependency. Where Docker is missing or its
engine is not running, csvpipe says so in one line and points to the embedded default.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from pipeline.errors import StackError

COMPOSE_FILE = "docker-compose.yml"
REPO_ROOT = Path(__file__).resolve().parents[1]
WAIT_SECONDS = 600


def docker_problem() -> str | None:
    """Why docker compose cannot run here, or None when it can."""
    docker = shutil.which("docker")
    if docker is None:
        return "there is no `docker` command on this machine"
    try:
        info = subprocess.run(
            [docker, "info", "--format", "{{.ServerVersion}}"], capture_output=True, text=True, timeout=30
        )
    except subprocess.TimeoutExpired:
        return "the Docker engine did not answer within 30 s"
    if info.returncode != 0:
        reason = (info.stderr.strip().splitlines() or ["no answer"])[-1]
        return f"the Docker engine is not reachable ({reason})"
    plugin = subprocess.run([docker, "compose", "version"], capture_output=True, text=True, timeout=30)
    if plugin.returncode != 0:
        return "the `docker compose` plugin is not installed"
    return None


def require_docker() -> str:
    problem = docker_problem()
    if problem is not None:
        raise StackError(
            f"the localstack profile runs under Docker, but {problem}; "
            "without Docker, use the embedded default: `csvpipe up` (profile local)"
        )
    docker = shutil.which("docker")
    assert docker is not None
    return docker


def compose_file(cwd: Path | None = None) -> Path:
    """The compose file: the current folder's, else the one beside csvpipe's sources."""
    for folder in (cwd or Path.cwd(), REPO_ROOT):
        candidate = folder / COMPOSE_FILE
        if candidate.is_file():
            return candidate
    raise StackError(
        f"no {COMPOSE_FILE} here or in {REPO_ROOT}: run from a clone of csvpipe, where the file is"
    )


def compose(*args: str, file: Path, timeout: float = WAIT_SECONDS) -> None:
    """Run ``docker compose -f FILE ARGS...`` with its output on the terminal."""
    docker = require_docker()
    command = [docker, "compose", "-f", str(file), *args]
    try:
        result = subprocess.run(command, cwd=file.parent, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise StackError(f"`{' '.join(command[1:])}` did not finish within {timeout:.0f} s") from None
    if result.returncode != 0:
        raise StackError(f"`{' '.join(command[1:])}` failed (exit {result.returncode}); see its output above")


def up(file: Path) -> None:
    """Build csvpipe's image and start every service, waiting until they are healthy (and the
    init step has deployed the pipeline)."""
    compose("up", "--build", "--detach", "--wait", file=file)


def down(file: Path) -> None:
    """Stop the services; named volumes (data, emulator state) are kept."""
    compose("down", file=file)
