"""``csvpipe cost`` on the aws profile, offline, from the runs of the user's local stack: the
sample through ``csvpipe run``, then the estimate measured from its run records."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import cli, free_port

pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).resolve().parents[2] / "data" / "samples" / "movies.csv"
# Any request beyond the loopback (to AWS) would go through this closed local port and fail: the
# estimate needs none; the local stack on 127.0.0.1 is reached directly.
OFFLINE = {
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "HTTP_PROXY": "http://127.0.0.1:9",
    "NO_PROXY": "127.0.0.1,localhost",
}


def test_cost_measures_the_local_stacks_runs_and_says_so_without_one(tmp_path: Path) -> None:
    env = {"CSVPIPE_EMULATOR_PORT": str(free_port()), "CSVPIPE_DATA_DIR": str(tmp_path / "data")}
    before = cli("--profile", "aws", "cost", cwd=tmp_path, env={**env, **OFFLINE})
    assert before.returncode == 0, before.stderr
    assert "runs: no local stack runs, so every figure is assumed" in before.stdout
    try:
        ran = cli("run", str(SAMPLE), cwd=tmp_path, env=env)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        cost = cli("--profile", "aws", "cost", "--files-per-day", "10", cwd=tmp_path, env={**env, **OFFLINE})
    finally:
        cli("down", cwd=tmp_path, env=env)
    assert cost.returncode == 0, cost.stderr
    assert "runs: 1 measured on the local stack at http://127.0.0.1:" in cost.stdout
    assert "the median of 1 local run(s)" in cost.stdout
    assert "│ Lambda" in cost.stdout and "total" in cost.stdout.lower()
