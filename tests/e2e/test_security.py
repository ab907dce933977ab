"""Nobody in, nothing out: no credential in logs, run records, command output or the final
data; and everything local listens on 127.0.0.1 only."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest

from pipeline.aws import Clients
from tests.conftest import SAMPLE, cli, free_port, make_settings

pytestmark = pytest.mark.slow


def test_no_secret_anywhere_and_loopback_only(tmp_path: Path) -> None:
    home = tmp_path / "user"
    home.mkdir()
    secret = f"s3cr3t-{uuid.uuid4().hex}"
    port = free_port()
    env = {"CSVPIPE_EMULATOR_PORT": str(port), "CSVPIPE_AWS_SECRET_ACCESS_KEY": secret}
    try:
        ran = cli("run", str(SAMPLE), cwd=home, env=env)
        assert ran.returncode == 0, ran.stderr + ran.stdout
        outputs = [ran.stdout, ran.stderr]
        for command in (("status",), ("invoke", "--key", "movies/movies.csv"), ("rejects",)):
            result = cli(*command, cwd=home, env=env)
            outputs += [result.stdout, result.stderr]
        shown = cli("config", "show", cwd=home, env=env).stdout
        (line,) = [line for line in shown.splitlines() if "aws_secret_access_key" in line]
        assert "***" in line and "CSVPIPE_AWS_SECRET_ACCESS_KEY" in line
        outputs.append(shown)
        listening = listeners(port)

        settings = make_settings(home / "data", port, aws_secret_access_key=secret)
        s3 = Clients(settings).s3
        stored = []
        for bucket in (settings.processed_bucket, settings.final_bucket):
            for obj in s3.list_objects_v2(Bucket=bucket).get("Contents", []):
                stored.append(
                    s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode("utf-8", "replace")
                )
        logs = [p.read_text(errors="replace") for p in (home / "data" / ".csvpipe" / "logs").iterdir()]
        state = json.loads((home / "data" / ".csvpipe" / "stack.json").read_text())
    finally:
        cli("down", cwd=home, env=env)

    assert len(stored) > 10 and len(logs) >= 2
    for text in [*outputs, *stored, *logs, json.dumps(state)]:
        assert secret not in text
    assert state["endpoint_url"] == f"http://127.0.0.1:{port}"
    assert listening == ["127.0.0.1"]


def listeners(port: int) -> list[str]:
    """The addresses listening on ``port``, from the kernel's socket table (IPv4 and IPv6)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:
                found.append("127.0.0.1" if address == "0100007F" else address)
    return found
