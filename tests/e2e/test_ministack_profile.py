"""The ministack profile as a user meets it: `csvpipe --profile ministack up --detach` starts
MiniStack listening on 127.0.0.1 only (its defaults would open 0.0.0.0 on two ports), the
profile's endpoint and credentials reach it, `down` stops it with its workers; and without
MiniStack installed, `up` says in one line how to install it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emulators.ministack import INSTALL_HINT, is_ready
from emulators.stack import _alive
from pipeline.aws import Clients
from pipeline.settings import load_settings
from tests.conftest import cli, free_port

pytestmark = pytest.mark.slow


def _process_group(leader: int) -> list[int]:
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            continue
        if int(fields[2]) == leader and fields[0] != "Z":  # in the group, and not a zombie
            pids.append(int(stat.parent.name))
    return pids


def listening_sockets(leader: int) -> set[tuple[str, int]]:
    """(address, port) of every TCP socket the process group of ``leader`` listens on."""
    inodes = set()
    for pid in _process_group(leader):
        for fd in Path(f"/proc/{pid}/fd").glob("*"):
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[len("socket:[") : -1])
    found = set()
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        for line in Path(table).read_text().splitlines()[1:]:
            parts = line.split()
            local, state, inode = parts[1], parts[3], parts[9]
            if state != "0A" or inode not in inodes:  # 0A: LISTEN
                continue
            address, port = local.split(":")
            if width == 8:
                shown = ".".join(str(int(address[i : i + 2], 16)) for i in (6, 4, 2, 0))
            else:
                shown = "::" if int(address, 16) == 0 else address
            found.add((shown, int(port, 16)))
    return found


@pytest.mark.ministack
def test_up_starts_ministack_on_loopback_only_and_down_stops_it(tmp_path: Path) -> None:
    port = free_port()
    env = {
        "CSVPIPE_PROFILE": "ministack",
        "CSVPIPE_EMULATOR_PORT": str(port),
        "CSVPIPE_DATA_DIR": str(tmp_path / "data"),
    }
    started = cli("up", "--detach", cwd=tmp_path, env=env, timeout=120)
    state_file = tmp_path / "data" / ".csvpipe" / "ministack.json"
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        assert f"at http://127.0.0.1:{port};" in started.stdout
        assert "csvpipe --profile ministack deploy --from-installed" in started.stdout
        pid = json.loads(state_file.read_text())["pid"]
        assert listening_sockets(pid) == {("127.0.0.1", port)}

        settings = load_settings(environ=env, config_path=None)
        assert settings.endpoint_url == f"http://127.0.0.1:{port}"
        s3 = Clients(settings).s3
        s3.create_bucket(Bucket="profile-check")
        assert "profile-check" in {b["Name"] for b in s3.list_buckets()["Buckets"]}

        again = cli("up", "--detach", cwd=tmp_path, env=env, timeout=60)
        assert again.returncode == 0, again.stderr
        assert f"(pid {pid})" in again.stdout  # the running one, not a second server
    finally:
        stopped = cli("down", cwd=tmp_path, env=env, timeout=60)
    assert stopped.returncode == 0, stopped.stderr
    assert stopped.stdout.strip() == "MiniStack stopped"
    assert not _alive(pid) and not _process_group(pid)
    assert not state_file.exists()
    assert cli("down", cwd=tmp_path, env=env).stdout.strip() == "no MiniStack is running"


def test_up_without_ministack_installed_says_how_to_install_it_in_one_line(tmp_path: Path) -> None:
    # Python's own way to make a module unimportable in one process: the environment is what
    # changes, not csvpipe's code.
    hide = (
        "import sys; sys.modules['ministack'] = None; sys.argv[0] = 'csvpipe'; "
        "from pipeline.cli import main; main()"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CSVPIPE_", "AWS_"))}
    result = subprocess.run(
        [sys.executable, "-c", hide, "--profile", "ministack", "up"],
        cwd=tmp_path,
        env={**base, "CSVPIPE_DATA_DIR": str(tmp_path / "data"), "CSVPIPE_EMULATOR_PORT": str(free_port())},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == (
        f"error: the ministack profile runs MiniStack, which is not installed: `{INSTALL_HINT}` "
        "(into the same Python environment as csvpipe)\n"
    )


@pytest.mark.ministack
def test_up_in_the_foreground_serves_until_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    base = {k: v for k, v in os.environ.items() if not k.startswith(("CSVPIPE_", "AWS_"))}
    env = {**base, "CSVPIPE_EMULATOR_PORT": str(port), "CSVPIPE_DATA_DIR": str(tmp_path / "data")}
    log = tmp_path / "up.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "--profile", "ministack", "up"],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
    try:
        deadline = time.monotonic() + 60
        while f"MiniStack ready at http://127.0.0.1:{port}" not in log.read_text():
            assert process.poll() is None, log.read_text()
            assert time.monotonic() < deadline, f"not ready within 60 s:\n{log.read_text()}"
            time.sleep(0.1)  # polling another process's output; bounded by the deadline
        assert is_ready(f"http://127.0.0.1:{port}")
    finally:
        process.send_signal(signal.SIGINT)  # Ctrl-C
        process.wait(timeout=30)
    assert process.returncode == 0, log.read_text()
    assert log.read_text().rstrip().endswith("MiniStack stopped")
    assert not is_ready(f"http://127.0.0.1:{port}")


@pytest.mark.ministack
def test_buckets_and_objects_outlive_down_and_up(tmp_path: Path) -> None:
    env = {
        "CSVPIPE_PROFILE": "ministack",
        "CSVPIPE_EMULATOR_PORT": str(free_port()),
        "CSVPIPE_DATA_DIR": str(tmp_path / "data"),
    }
    s3 = Clients(load_settings(environ=env, config_path=None)).s3
    try:
        assert cli("up", "--detach", cwd=tmp_path, env=env, timeout=120).returncode == 0
        s3.create_bucket(Bucket="kept")
        s3.put_object(Bucket="kept", Key="movies/a.csv", Body=b"movieId,title\n1,Heat\n")
        assert cli("down", cwd=tmp_path, env=env, timeout=60).stdout.strip() == "MiniStack stopped"
        assert cli("up", "--detach", cwd=tmp_path, env=env, timeout=120).returncode == 0
        body = s3.get_object(Bucket="kept", Key="movies/a.csv")["Body"].read()
        assert body == b"movieId,title\n1,Heat\n"
    finally:
        cli("down", cwd=tmp_path, env=env, timeout=60)
