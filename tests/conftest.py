"""Shared fixtures: free ports, settings for a throw-away data folder, a real moto server.

Tests talk to real parts: a moto server over HTTP, the real Lambda runtime client, DuckDB and
Streamlit. Each fixture that starts something stops it, and uses its own ports and folders.

Three markers name something the machine must have besides the test extra: ``browser``
(Debian's Chromium on PATH), ``spark`` (a Java runtime) and ``ministack``. Where it is missing,
the marked tests skip with one line saying what to install, so the README's test command passes
on a fresh machine; under ``CI=true`` they fail instead, so CI never passes without running them.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from emulators.aws_emulator import AwsEmulator
from pipeline import runs
from pipeline.aws import Clients
from pipeline.settings import Settings, load_settings

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "samples" / "movies.csv"
SAMPLE_GENRE_COUNTS = {
    "action": 6,
    "adventure": 5,
    "children": 1,
    "comedy": 7,
    "crime": 3,
    "drama": 7,
    "horror": 1,
}


def chromium_path() -> str | None:
    """Debian's Chromium (``/usr/bin/chromium``) as found on PATH; never a downloaded browser."""
    return shutil.which("chromium")


def _missing_browser() -> str | None:
    if chromium_path() is None:
        return "no chromium on PATH: `apt-get install -y chromium` (Debian's; never a downloaded browser)"
    if importlib.util.find_spec("playwright") is None:
        return "playwright is not installed: `pip install -e '.[test]'`"
    return None


def _missing_spark() -> str | None:
    java_home = os.environ.get("JAVA_HOME")
    if shutil.which("java") is None and not (java_home and Path(java_home, "bin", "java").is_file()):
        return "no Java runtime: `apt-get install -y openjdk-17-jre-headless` (or set JAVA_HOME)"
    if importlib.util.find_spec("pyspark") is None:
        return "pyspark is not installed: `pip install -e '.[test]'`"
    return None


def _missing_ministack() -> str | None:
    if importlib.util.find_spec("ministack") is None:
        return "ministack is not installed: `pip install -e '.[test]'` (the test extra pins it)"
    return None


# marker -> what tells why the machine cannot run the tests it marks (None: it can)
REQUIREMENTS: dict[str, Callable[[], str | None]] = {
    "browser": _missing_browser,
    "spark": _missing_spark,
    "ministack": _missing_ministack,
}
MISSING = pytest.StashKey[str]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Skip (locally) or fail (CI=true) every test whose marker names something missing."""
    wanted = {marker for item in items for marker in REQUIREMENTS if item.get_closest_marker(marker)}
    missing = {marker: reason for marker in wanted if (reason := REQUIREMENTS[marker]())}
    in_ci = os.environ.get("CI") == "true"
    for item in items:
        for marker, reason in missing.items():
            if item.get_closest_marker(marker) is None:
                continue
            if in_ci:
                item.stash[MISSING] = f"{marker} test under CI=true: {reason}"
            else:
                item.add_marker(pytest.mark.skip(reason=f"{marker}: {reason}"))
            break


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    """Under CI=true a test whose requirement is missing fails before its fixtures start."""
    if MISSING in item.stash:
        pytest.fail(item.stash[MISSING], pytrace=False)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_settings(data_dir: Path, port: int, **overrides: str) -> Settings:
    """Settings of the local profile for tests: only the environment given here counts."""
    environ = {"CSVPIPE_DATA_DIR": str(data_dir), "CSVPIPE_EMULATOR_PORT": str(port)}
    return load_settings(environ=environ, overrides=overrides, config_path=None)


@pytest.fixture(autouse=True)
def _keep_the_main_module() -> Iterator[None]:
    """Streamlit's AppTest runs the dashboard as ``__main__`` and leaves it in ``sys.modules``.
    A process started afterwards by multiprocessing's forkserver (the Glue stand-in's bounded
    crawls and transforms) would then run the dashboard script as its main module and die. A
    real process never swaps its main module: every test ends with the one it started with."""
    main = sys.modules["__main__"]
    yield
    sys.modules["__main__"] = main


@pytest.fixture(scope="session")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[AwsEmulator]:
    """A real moto server for the session, on a free port."""
    logs = tmp_path_factory.mktemp("emulator")
    server = AwsEmulator("127.0.0.1", free_port(), logs / "emulator.log").start()
    yield server
    server.stop()


@pytest.fixture
def unique() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def settings(emulator: AwsEmulator, tmp_path: Path, unique: str) -> Settings:
    """Settings pointing at the session's emulator, with buckets unique to this test."""
    return make_settings(
        tmp_path / "data",
        emulator.port,
        raw_bucket=f"raw-{unique}",
        processed_bucket=f"processed-{unique}",
        final_bucket=f"final-{unique}",
        queue_name=f"events-{unique}",
        glue_database=f"db_{unique}",
    )


@pytest.fixture
def clients(settings: Settings) -> Clients:
    from pipeline.provision import provision

    clients = Clients(settings)
    provision(clients)
    return clients


def cli(
    *args: str, cwd: Path, env: dict[str, str] | None = None, timeout: float = 240, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed CLI as a user would, in a clean environment of our choosing."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CSVPIPE_", "AWS_"))}
    # A stack started here serves its dashboard on a free port, not on a user's 8501.
    base["CSVPIPE_DASHBOARD_PORT"] = str(free_port())
    return subprocess.run(
        [sys.executable, "-m", "pipeline.cli", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@dataclass(frozen=True)
class UserStack:
    """A user's folder with a stack running on its own port, started by ``csvpipe up -d``."""

    home: Path
    env: dict[str, str]
    settings: Settings


@contextmanager
def running_stack(home: Path, extra_env: dict[str, str] | None = None) -> Iterator[UserStack]:
    env = {"CSVPIPE_EMULATOR_PORT": str(free_port()), **(extra_env or {})}
    try:
        started = cli("up", "--detach", cwd=home, env=env)
        assert started.returncode == 0, started.stderr
        yield UserStack(home, env, make_settings(home / "data", int(env["CSVPIPE_EMULATOR_PORT"])))
    finally:
        cli("down", cwd=home, env=env)


def wait_for_record(
    s3: Any,
    bucket: str,
    run: str,
    stage: str,
    *,
    seconds: float = 60,
    accept: Callable[[dict[str, Any]], bool] = lambda record: True,
) -> dict[str, Any]:
    """The run's ``stage`` record once one is accepted: the stack works in another process, so
    polling the bucket is the only way to know; the deadline keeps a broken path from hanging."""
    deadline = time.monotonic() + seconds
    while True:
        record = runs.read_stage_record(s3, bucket, run, stage)
        if record is not None and accept(record):
            return record
        assert time.monotonic() < deadline, f"no {stage} record for run {run} within {seconds} s"
        time.sleep(0.2)  # polling another process's output; bounded by the deadline
