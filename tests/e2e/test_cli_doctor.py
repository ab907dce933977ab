"""csvpipe doctor as a user meets it: each problem with its fix, and a clean bill once fixed."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.conftest import cli, free_port, running_stack
from tests.e2e.helpers import statuses

pytestmark = pytest.mark.slow


def test_without_a_stack_one_problem_and_the_rest_waits(tmp_path: Path) -> None:
    result = cli("doctor", cwd=tmp_path, env={"CSVPIPE_EMULATOR_PORT": str(free_port())})
    assert result.returncode == 1, result.stderr
    found = statuses(result.stdout)
    assert found["stack"] == "PROBLEM" and found["transforms"] == "ok" and found["buckets"] == "skipped"
    assert "fix stack: start the stack: `csvpipe up --detach`" in result.stdout
    assert result.stdout.rstrip().endswith("1 problem(s)")


def test_a_port_taken_by_another_program_names_the_setting(tmp_path: Path) -> None:
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        result = cli("doctor", cwd=tmp_path, env={"CSVPIPE_EMULATOR_PORT": str(port)})
    assert result.returncode == 1
    assert f"127.0.0.1:{port} is taken by another program" in result.stdout
    assert f"fix stack: use another port: `--set emulator_port={port + 1}`" in result.stdout


def test_a_running_stack_is_healthy_and_broken_parts_are_named(tmp_path: Path) -> None:
    home = tmp_path / "user"
    home.mkdir()
    with running_stack(home) as stack:
        healthy = cli("doctor", cwd=home, env=stack.env)
        assert healthy.returncode == 0, healthy.stdout + healthy.stderr
        assert set(statuses(healthy.stdout).values()) == {"ok"}
        assert healthy.stdout.rstrip().endswith("no problems found")

        transforms = home / "transforms"
        transforms.mkdir()
        (transforms / "broken.sql").write_text("SELEC genre FROM movies")
        env = {**stack.env, "CSVPIPE_TRANSFORMS_DIR": str(transforms)}
        bad_sql = cli("doctor", cwd=home, env=env)
        assert bad_sql.returncode == 1
        assert statuses(bad_sql.stdout)["transforms"] == "PROBLEM"
        assert "broken.sql: not valid SQL" in bad_sql.stdout

        other_buckets = {**stack.env, "CSVPIPE_RAW_BUCKET": "nobody-made-this-bucket"}
        missing = cli("doctor", cwd=home, env=other_buckets)
        assert missing.returncode == 1
        found = statuses(missing.stdout)
        assert (found["buckets"], found["notification"]) == ("PROBLEM", "skipped")
        assert "missing: nobody-made-this-bucket" in missing.stdout
