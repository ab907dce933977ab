"""``python -m bench.requests`` as the README runs it: one emulator of its own, a line per kind of
request with its server and client CPU."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.conftest import REPO

# Every test here takes a second or more on a 2-core machine: left out of the quick tier.
pytestmark = pytest.mark.slow

KINDS = [
    "S3 PutObject",
    "S3 GetObject",
    "S3 DeleteObject",
    "SQS SendMessage",
    "SQS ReceiveMessage (1)",
    "SQS DeleteMessage",
    "SQS DeleteMessageBatch (10)",
    "S3 list of 30 objects",
]


def test_bench_requests_prints_the_cost_of_each_kind_of_request() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.requests", "--count", "20", "--listed", "30"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    rows = {}
    for line in done.stdout.splitlines()[1:]:
        match = re.fullmatch(r"(.+?)\s+(\d+\.\d\d)\s+(\d+\.\d\d)\s+(\d+\.\d\d)", line)
        assert match, line
        rows[match[1]] = [float(match[n]) for n in (2, 3, 4)]
    assert list(rows) == KINDS
    # Every request took time on the wire and CPU in this process.
    assert all(wall > 0 and client > 0 for _, client, wall in rows.values())
