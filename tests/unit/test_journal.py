"""The emulator's journal on disk: a line cut by a crash is dropped, a compaction cut by a crash
at any step leaves either the old journal or the new one (never both, never neither), and the
compaction rules keep exactly what the state still needs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from emulators.durable import compact
from emulators.journal import LOG, Journal, iter_records


def s3(method: str, path: str, query: str = "", **headers: str) -> dict[str, Any]:
    env = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query, "HTTP_HOST": "127.0.0.1:5000"}
    env.update({f"HTTP_{name.upper()}": value for name, value in headers.items()})
    return {"t": "http", "env": env, "n": f"{method} {path}?{query}"}


def sqs(op: str, queue: str = "events", **fields: Any) -> dict[str, Any]:
    return {"t": "sqs", "op": op, "account": "123", "region": "us-east-1", "queue": queue, **fields}


def add(message_id: str, queue: str = "events", moved: bool = False) -> dict[str, Any]:
    return sqs("add", queue, id=message_id, moved=moved, message={"body": message_id})


def test_a_line_cut_by_a_crash_is_dropped_and_the_journal_goes_on(tmp_path: Path) -> None:
    (tmp_path / LOG).write_bytes(b'{"n":1}\n{"n":2}\n{"n":3, "cut')
    journal = Journal(tmp_path)
    assert journal.records() == [{"n": 1}, {"n": 2}]
    journal.sync(journal.append([{"n": 4}]))
    journal.close()
    assert list(iter_records(tmp_path)) == [{"n": 1}, {"n": 2}, {"n": 4}]


def test_a_crash_before_the_compacted_journal_replaces_the_old_keeps_the_old(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    body = journal.seal_body(b"x" * 100_000)
    assert isinstance(body, Path)
    record: dict[str, Any] = {"n": 1}
    journal.attach_body(record, body)
    journal.sync(journal.append([record, {"n": 2}]))
    journal.close()
    # The crash: the compacted file half written, a request's body spooled and never journaled.
    (tmp_path / f"{LOG}.compacting").write_bytes(b'{"n":2}\n{"n"')
    (tmp_path / "bodies" / "feed.bin").write_bytes(b"cut short")

    reopened = Journal(tmp_path)
    assert reopened.records() == [record, {"n": 2}]
    assert reopened.read_body(record) == body and body.read_bytes() == b"x" * 100_000
    assert sorted(p.name for p in (tmp_path / "bodies").iterdir()) == [body.name]
    assert not (tmp_path / f"{LOG}.compacting").exists()


def test_a_crash_after_the_swap_keeps_the_compacted_journal_and_sweeps_its_dropped_bodies(
    tmp_path: Path,
) -> None:
    journal = Journal(tmp_path)
    dropped = journal.seal_body(b"old" * 50_000)
    record: dict[str, Any] = {"n": 1}
    journal.attach_body(record, dropped)
    journal.sync(journal.append([record, {"n": 2}]))
    journal.close()
    # The crash: the compacted journal renamed in place, the dropped record's body not yet removed.
    (tmp_path / LOG).write_bytes(b'{"n":2}\n')

    assert Journal(tmp_path).records() == [{"n": 2}]
    assert list((tmp_path / "bodies").iterdir()) == []


def test_compaction_keeps_what_is_appended_while_it_runs(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.sync(journal.append([{"n": i} for i in range(5)]))

    def keep_evens_while_a_writer_appends(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        journal.append([{"n": 99}])  # a request answered during the compaction
        return [r for r in records if r["n"] % 2 == 0]

    assert journal.compact(keep_evens_while_a_writer_appends) == (5, 3)
    journal.sync(journal.append([{"n": 100}]))
    journal.close()
    assert [r["n"] for r in iter_records(tmp_path)] == [0, 2, 4, 99, 100]
    assert [r["n"] for r in Journal(tmp_path).records()] == [0, 2, 4, 99, 100]


BUCKET = s3("PUT", "/raw")
CASES = {
    "an overwritten object keeps its last write": (
        [BUCKET, s3("PUT", "/raw/a.csv", "x-id=PutObject"), s3("PUT", "/raw/a.csv")],
        [0, 2],
    ),
    "a deleted object leaves nothing": (
        [BUCKET, s3("PUT", "/raw/a.csv"), s3("PUT", "/raw/a.csv", "tagging"), s3("DELETE", "/raw/a.csv")],
        [0],
    ),
    "a multipart upload is kept whole, then replaced by a later PUT": (
        [
            BUCKET,
            {**s3("POST", "/raw/big.csv", "uploads"), "upload_id": "U1"},
            s3("PUT", "/raw/big.csv", "partNumber=1&uploadId=U1"),
            s3("POST", "/raw/big.csv", "uploadId=U1"),
            {**s3("POST", "/raw/big.csv", "uploads"), "upload_id": "U2"},
            s3("PUT", "/raw/big.csv", "partNumber=1&uploadId=U2"),
            s3("PUT", "/raw/big.csv", "partNumber=2&uploadId=U2"),
            s3("POST", "/raw/big.csv", "uploadId=U2"),
        ],
        [0, 4, 5, 6, 7],
    ),
    "an aborted upload leaves nothing, one in progress is kept": (
        [
            {**s3("POST", "/raw/a.csv", "uploads"), "upload_id": "U1"},
            s3("PUT", "/raw/a.csv", "partNumber=1&uploadId=U1"),
            s3("DELETE", "/raw/a.csv", "uploadId=U1"),
            {**s3("POST", "/raw/b.csv", "uploads"), "upload_id": "U2"},
            s3("PUT", "/raw/b.csv", "partNumber=1&uploadId=U2"),
        ],
        [3, 4],
    ),
    "a copied object keeps the write the copy read": (
        [
            s3("PUT", "/raw/a.csv"),
            s3("PUT", "/raw/b.csv", x_amz_copy_source="/raw/a.csv"),
            s3("PUT", "/raw/a.csv"),
            s3("DELETE", "/raw/a.csv"),
        ],
        [0, 1, 3],
    ),
    "a versioned bucket keeps every write": (
        [BUCKET, s3("PUT", "/raw", "versioning"), s3("PUT", "/raw/a.csv"), s3("PUT", "/raw/a.csv")],
        [0, 1, 2, 3],
    ),
    "a deleted bucket leaves nothing of itself, other buckets stay": (
        [
            BUCKET,
            s3("PUT", "/raw/a.csv"),
            s3("PUT", "/other"),
            s3("DELETE", "/raw/a.csv"),
            s3("DELETE", "/raw"),
        ],
        [2],
    ),
    "a message sent and deleted leaves nothing; one moved to the dead-letter queue keeps both records": (
        [add("m1"), add("m2"), sqs("delete", ids=["m1"]), add("m2", "events-dlq", moved=True)],
        [1, 3],
    ),
    "a purge drops its queue's messages only": (
        [add("m1"), add("m2", "other"), sqs("purge"), add("m3")],
        [1, 3],
    ),
    "other services' writes are all kept": (
        [
            {"t": "http", "env": {"REQUEST_METHOD": "POST", "HTTP_X_AMZ_TARGET": "AWSGlue.CreateTable"}},
            {"t": "http", "env": {"REQUEST_METHOD": "POST", "HTTP_X_AMZ_TARGET": "AWSGlue.UpdateTable"}},
        ],
        [0, 1],
    ),
}


@pytest.mark.parametrize("records, kept", CASES.values(), ids=CASES.keys())
def test_compaction_keeps_what_the_state_needs(records: list[dict[str, Any]], kept: list[int]) -> None:
    result = compact(records)
    positions = [next(i for i, record in enumerate(records) if record is r) for r in result]
    assert positions == kept, json.dumps(result, indent=1)


def test_a_record_the_disk_had_no_room_for_is_cut_off_and_later_ones_are_kept(tmp_path: Path) -> None:
    # In a process of its own: a file size limit stands in for a full disk (write stops mid-line).
    script = f"""
import os, resource, signal
from pathlib import Path
from emulators.journal import Journal
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
journal = Journal(Path({str(tmp_path)!r}))
journal.sync(journal.append([{{"n": 1}}]))
size = os.path.getsize(Path({str(tmp_path)!r}) / "journal.log")
resource.setrlimit(resource.RLIMIT_FSIZE, (size + 100, resource.RLIM_INFINITY))
try:
    journal.append([{{"n": 2, "pad": "x" * 1000}}])
except OSError:
    print("refused")
resource.setrlimit(resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY, resource.RLIM_INFINITY))
journal.sync(journal.append([{{"n": 3}}]))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0 and done.stdout.strip() == "refused", done.stderr
    assert [r["n"] for r in iter_records(tmp_path)] == [1, 3]
