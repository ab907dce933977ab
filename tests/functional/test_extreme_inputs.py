"""Inputs at the edges, through the real Lambda runtime with its real limits (30 s, 512 MB):
each gets a clear outcome, a processed file or a failed run record with its reason, never a
crash, a timeout or an out-of-memory kill."""

from __future__ import annotations

from pathlib import Path

import pytest

from emulators.lambda_runtime import LocalLambda
from emulators.stack import function_config
from pipeline.aws import Clients
from pipeline.settings import Settings, replace
from tests.functional.helpers import s3_event

pytestmark = pytest.mark.slow


@pytest.fixture
def handler(settings: Settings, clients: Clients):
    function = LocalLambda(function_config(settings)).start()
    yield function
    function.stop()


def invoke_on(handler: LocalLambda, clients: Clients, key: str, body: bytes) -> dict:
    etag = clients.s3.put_object(Bucket=clients.settings.raw_bucket, Key=key, Body=body)["ETag"].strip('"')
    result = handler.invoke(s3_event(clients.settings.raw_bucket, [(key, etag, len(body))]))
    assert result.ok, result.error  # not Sandbox.Timedout, not Runtime.OutOfMemory
    assert result.max_memory_mb is None or result.max_memory_mb < 512
    (record,) = result.payload["records"]
    return record


def test_a_100_mb_single_line(handler: LocalLambda, clients: Clients) -> None:
    record = invoke_on(handler, clients, "line/line.csv", b"a" * 100_000_000)
    assert record["status"] == "failed", record
    assert record["error"].startswith("line/line.csv: ")


def test_a_100_mb_field_inside_a_file(handler: LocalLambda, clients: Clients) -> None:
    body = b"id,note\n1,short\n2," + b"x" * 100_000_000 + b"\n3,short\n"
    record = invoke_on(handler, clients, "field/field.csv", body)
    assert record["status"] == "ok", record
    assert record["rows"]["in"] == record["rows"]["out"] + record["rows"]["rejected"]
    assert record["rows"]["rejected"] == 1 and record["rows"]["out"] == 2


def test_ten_thousand_columns(settings: Settings, clients: Clients, tmp_path: Path) -> None:
    # The dataset's own rules ask for de-duplication (the defaults keep repeated rows).
    rules_dir = tmp_path / "rules"
    rules_dir.mkdir()
    (rules_dir / "wide.toml").write_text("dedupe = true\n")
    function = LocalLambda(function_config(replace(settings, rules_dir=rules_dir))).start()
    columns = 10_000
    header = ",".join(f"c{i}" for i in range(columns))
    rows = [",".join(str((r * 7 + i) % 1000) for i in range(columns)) for r in range(300)]
    body = "\n".join([header, *rows, rows[5], rows[9], ""]).encode()  # two duplicate rows
    try:
        record = invoke_on(function, clients, "wide/wide.csv", body)
    finally:
        function.stop()
    assert record["status"] == "ok", record
    assert record["rules"] == "wide.toml (rules_dir)"
    assert record["rows"] == {"in": 302, "out": 300, "rejected": 0, "empty": 0, "duplicate": 2}
    assert len(record["columns"]) == columns
    processed = clients.s3.get_object(Bucket=clients.settings.processed_bucket, Key=record["output"]["key"])
    lines = processed["Body"].read().decode().splitlines()
    assert len(lines) == 301 and lines[0] == header and lines[1:] == rows
