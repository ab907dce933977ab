"""The emulator's state on disk: a snapshot put back into a fresh moto server gives the same
objects (same ETags, so the same run ids), tables and partitions; a snapshot left by an older
csvpipe moves into the emulator's journal once; and reconcile re-sends exactly the raw objects
whose processing did not finish."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulators.aws_emulator import AwsEmulator
from emulators.persistence import has_snapshot, reconcile, restore, snapshot
from emulators.stack import StateKeeper, journal_dir, persistence_root
from pipeline import runs
from pipeline.aws import Clients
from pipeline.catalog.crawler import crawl_dataset
from pipeline.provision import provision
from pipeline.settings import replace
from tests.conftest import free_port

# Every test here takes a second or more on a 2-core machine: left out of the quick tier.
pytestmark = pytest.mark.slow


def listing(clients: Clients, bucket: str) -> dict[str, str]:
    contents = clients.s3.list_objects_v2(Bucket=bucket).get("Contents", [])
    return {obj["Key"]: obj["ETag"] for obj in contents}


def test_a_snapshot_restores_into_a_fresh_emulator(clients: Clients, tmp_path: Path) -> None:
    settings = clients.settings
    clients.s3.put_object(
        Bucket=settings.raw_bucket, Key="sales/a b+c.csv", Body=b"id\n1\n", ContentType="text/csv"
    )
    clients.s3.put_object(
        Bucket=settings.processed_bucket, Key="sales/year=2024/a.csv", Body=b"id,amount\n1,2.5\n"
    )
    clients.s3.put_object(Bucket=settings.processed_bucket, Key="../escape.csv", Body=b"x\n")
    crawl_dataset("sales", settings, clients.s3, clients.glue, tmp_path / "work")
    root = tmp_path / "state"
    snapshot(clients, root)
    assert [p.relative_to(root).as_posix() for p in root.rglob("escape.csv")] == [
        f"s3/{settings.processed_bucket}/objects/%2E%2E/escape.csv"
    ]
    assert not (tmp_path / "escape.csv").exists() and not (root / "s3" / "escape.csv").exists()
    clients.s3.delete_object(Bucket=settings.processed_bucket, Key="../escape.csv")
    snapshot(clients, root)  # a deleted object leaves the snapshot too
    assert not list(root.rglob("escape.csv"))

    fresh = AwsEmulator("127.0.0.1", free_port(), tmp_path / "fresh.log").start()
    try:
        moved = Clients(replace(settings, endpoint_url=fresh.endpoint))
        restored = restore(moved, root)
        assert (restored.objects, restored.tables) == (2, 1)
        for bucket in (settings.raw_bucket, settings.processed_bucket, settings.final_bucket):
            assert listing(moved, bucket) == listing(clients, bucket)
        head = moved.s3.head_object(Bucket=settings.raw_bucket, Key="sales/a b+c.csv")
        assert head["ContentType"] == "text/csv"
        table = moved.glue.get_table(DatabaseName=settings.glue_database, Name="sales")["Table"]
        original = clients.glue.get_table(DatabaseName=settings.glue_database, Name="sales")["Table"]
        assert table["StorageDescriptor"]["Columns"] == original["StorageDescriptor"]["Columns"]
        assert table["PartitionKeys"] == original["PartitionKeys"]
        partitions = moved.glue.get_partitions(DatabaseName=settings.glue_database, TableName="sales")
        assert [p["Values"] for p in partitions["Partitions"]] == [["2024"]]
    finally:
        fresh.stop()


def test_reconcile_resends_only_unfinished_runs(clients: Clients) -> None:
    settings = clients.settings
    queue = provision(clients)
    clients.sqs.purge_queue(QueueUrl=queue.url)
    etags = {}
    for key in ("m/done.csv", "m/failed.csv", "m/halfway.csv", "m/new.csv", "m/notes.txt"):
        etags[key] = clients.s3.put_object(Bucket=settings.raw_bucket, Key=key, Body=key.encode())["ETag"]
    while clients.sqs.receive_message(QueueUrl=queue.url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
        "Messages"
    ):
        pass  # drain the events of the puts above: only reconcile's may follow
    from pipeline.layout import run_id

    def record(key: str, stage: str, status: str) -> None:
        run = run_id(settings.raw_bucket, key, etags[key])
        runs.write_stage_record(clients.s3, settings.processed_bucket, run, stage, {"status": status})

    for stage in ("preprocess", "crawl", "transform"):
        record("m/done.csv", stage, "ok")
    record("m/failed.csv", "preprocess", "failed")
    record("m/halfway.csv", "preprocess", "ok")

    assert sorted(reconcile(clients, queue.url)) == ["m/halfway.csv", "m/new.csv"]
    bodies = []
    while messages := clients.sqs.receive_message(
        QueueUrl=queue.url, MaxNumberOfMessages=10, WaitTimeSeconds=1, VisibilityTimeout=60
    ).get("Messages"):
        bodies += [json.loads(m["Body"])["Records"][0]["s3"]["object"]["key"] for m in messages]
    assert sorted(bodies) == ["m/halfway.csv", "m/new.csv"]


def test_an_older_snapshot_moves_into_the_journal_once(clients: Clients, tmp_path: Path) -> None:
    settings = clients.settings
    etag = clients.s3.put_object(Bucket=settings.raw_bucket, Key="sales/a.csv", Body=b"id\n1\n")["ETag"]
    root = persistence_root(settings)
    snapshot(clients, root)  # what an older csvpipe left
    port = free_port()

    def start() -> AwsEmulator:
        return AwsEmulator("127.0.0.1", port, tmp_path / "durable.log", journal_dir(settings)).start()

    durable = start()
    try:
        moved = Clients(replace(settings, endpoint_url=durable.endpoint))
        keeper = StateKeeper(moved.settings, moved)
        keeper.restore()
        assert keeper.migrated and not has_snapshot(root)
        assert (root / "snapshot-before-journal" / "s3" / settings.raw_bucket / "objects.json").exists()
        assert listing(moved, settings.raw_bucket) == {"sales/a.csv": etag}

        assert durable.process is not None
        durable.process.kill()  # the journal has it now: a kill loses nothing
        durable.process.wait(timeout=10)
        durable = start()
        again = StateKeeper(moved.settings, moved)
        again.restore()
        assert not again.migrated
        assert listing(moved, settings.raw_bucket) == {"sales/a.csv": etag}
    finally:
        durable.stop()
