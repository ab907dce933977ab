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
from pathlib import Path

import pytest

from emulators.aws_emulator import is_ready
from pipeline.aws import Clients
from tests.conftest import free_port, make_settings, running_stack

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
    # No periodic save in the test's time: only the stack's last save can keep the object.
    env = user_env(port, CSVPIPE_PERSIST_INTERVAL_MS="600000")
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
