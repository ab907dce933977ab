"""The stack's supervision of its processes, as a user meets it: Ctrl-C in the terminal stops
the stack cleanly (its last save included), and the processes a dead stack left behind are
found and ended by the next command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.soak import children_of
from emulators import leftovers, stack
from emulators.aws_emulator import is_ready
from pipeline import layout
from pipeline.aws import Clients
from pipeline.errors import StackError
from tests.conftest import SAMPLE, cli, free_port, make_settings, running_stack, wait_for_record

pytestmark = pytest.mark.slow


def user_env(port: int, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CSVPIPE_", "AWS_"))}
    return {
        **base,
        "CSVPIPE_EMULATOR_PORT": str(port),
        "CSVPIPE_DASHBOARD_PORT": str(free_port()),
        **extra,
    }


def wait_until_ready(home: Path, process: subprocess.Popen[str], seconds: float = 90) -> dict[str, object]:
    """The stack's state once its emulator answers; the stack is another process, so its state
    file is polled, within a deadline."""
    state_file = home / "data" / ".csvpipe" / "stack.json"
    deadline = time.monotonic() + seconds
    while True:
        assert process.poll() is None, "the stack exited at start"
        if state_file.exists():
            state = json.loads(state_file.read_text())
            if is_ready(str(state["endpoint_url"])):
                return state
        assert time.monotonic() < deadline, f"the stack was not ready within {seconds} s"
        time.sleep(0.1)  # polling another process; bounded by the deadline


def test_ctrl_c_stops_the_stack_cleanly_and_saves_what_was_written(tmp_path: Path) -> None:
    home = tmp_path / "user"
    home.mkdir()
    port = free_port()
    env = user_env(port)
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "up"],
        cwd=home,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        wait_until_ready(home, process)
        settings = make_settings(home / "data", port)
        Clients(settings).s3.put_object(Bucket=settings.raw_bucket, Key="kept/kept.csv", Body=b"id\n1\n")
        os.killpg(process.pid, signal.SIGINT)  # what Ctrl-C in the terminal does: the whole group
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert "local stack stopped" in output, output
    assert "Traceback" not in output and "could not save" not in output, output

    with running_stack(home, {"CSVPIPE_EMULATOR_PORT": str(port)}) as stack:
        s3 = Clients(stack.settings).s3
        body = s3.get_object(Bucket=stack.settings.raw_bucket, Key="kept/kept.csv")["Body"].read()
        assert body == b"id\n1\n"


def running(pid: int) -> bool:
    return leftovers.identity(pid) is not None


def wait_until(condition: Callable[[], bool], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {seconds} s"
        time.sleep(0.1)  # watching other processes; bounded by the deadline


def test_a_killed_stack_leaves_nothing_running_after_the_next_status(tmp_path: Path) -> None:
    home = tmp_path / "user"
    home.mkdir()
    port = free_port()
    env = {"CSVPIPE_EMULATOR_PORT": str(port)}
    try:
        started = cli("up", "--detach", cwd=home, env=env)
        assert started.returncode == 0, started.stderr
        state = json.loads((home / "data" / ".csvpipe" / "stack.json").read_text())
        settings = make_settings(home / "data", port)
        s3 = Clients(settings).s3
        etag = s3.put_object(Bucket=settings.raw_bucket, Key="movies/movies.csv", Body=SAMPLE.read_bytes())
        run = layout.run_id(settings.raw_bucket, "movies/movies.csv", etag["ETag"])
        wait_for_record(s3, settings.processed_bucket, run, "preprocess", seconds=120)
        stack_pid = int(state["pid"])
        children = [int(state["emulator_pid"]), *children_of(stack_pid, b"awslambdaric")]
        if state.get("dashboard_pid"):
            children.append(int(state["dashboard_pid"]))
        assert len(children) >= 2 and all(running(pid) for pid in children)

        os.kill(stack_pid, signal.SIGKILL)
        wait_until(lambda: not running(stack_pid), 30, "the stack did not die")
        assert is_ready(str(state["endpoint_url"]))  # its emulator lives on, holding the port

        status = cli("status", cwd=home, env=env)
        assert status.returncode == 0, status.stderr
        assert "local stack: not running" in status.stdout
        assert "ended what a stack that did not stop cleanly left running" in status.stderr
        # An idle Lambda environment ends by itself once its Runtime API is gone; one in the
        # middle of an invocation is a leftover like the others until it finishes.
        assert "the AWS emulator" in status.stderr and "the dashboard" in status.stderr
        wait_until(lambda: not any(running(pid) for pid in children), 30, "leftovers still run")
        assert not is_ready(str(state["endpoint_url"]))

        again = cli("up", "--detach", cwd=home, env=env)  # the port is free again
        assert again.returncode == 0, again.stderr
    finally:
        cli("down", cwd=home, env=env)


def test_a_slow_start_is_never_stopped_and_down_stops_it_while_starting(tmp_path: Path) -> None:
    home = tmp_path / "user"
    settings = make_settings(home / "data", free_port())
    progress: list[str] = []
    try:
        with pytest.raises(StackError, match=r"is still starting after \d+ s; it goes on in the background"):
            stack.start_detached(settings, timeout=0.5, progress_every=0.2, on_progress=progress.append)
        assert progress and progress[0].startswith("still starting (")
        # Never stopped for being slow: it becomes ready on its own.
        wait_until(lambda: stack.read_state(settings) is not None, 120, "the stack never became ready")
        state = stack.read_state(settings)
        assert state is not None and is_ready(state["endpoint_url"])
        assert stack.stop(settings) is True
        wait_until(lambda: not running(int(state["pid"])), 60, "the stack did not stop")

        # Stopped while still starting (no state file yet): `down` finds it all the same.
        with pytest.raises(StackError, match="still starting"):
            stack.start_detached(settings, timeout=0.3, progress_every=10, on_progress=progress.append)
        assert stack.read_state(settings) is None
        assert stack.stop(settings) is True
        wait_until(
            lambda: leftovers.find(settings.state_dir) == leftovers.Found([], []), 60, "processes remain"
        )
        assert not is_ready(str(settings.endpoint_url))
    finally:
        stack.stop(settings)
