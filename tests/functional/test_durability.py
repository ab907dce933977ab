"""What the embedded emulator acknowledged survives a ``kill -9`` at any instant: objects with
their exact ETags (multipart ones too), deletes, queue messages (the dead-letter queue's too),
Glue tables with their versions; and a compacted journal restores the same state."""

from __future__ import annotations

import hashlib
import io
import json
import random
import re
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from boto3.s3.transfer import TransferConfig

from emulators.aws_emulator import AwsEmulator
from emulators.journal import iter_records
from pipeline.aws import Clients
from tests.conftest import free_port, make_settings

# Each test here starts real processes and waits on them for a second or more: CI runs them.
pytestmark = pytest.mark.slow

MB = 1024 * 1024


class Durable:
    """A durable emulator on its own port and state folder, that a test kills and starts again."""

    def __init__(self, folder: Path, compact_every: int | None = None) -> None:
        self.folder, self.port, self.compact_every = folder, free_port(), compact_every
        self.state = folder / "journal"
        self.emulator = self._start()
        self.clients = Clients(make_settings(folder / "data", self.port))

    def _start(self) -> AwsEmulator:
        return AwsEmulator(
            "127.0.0.1", self.port, self.folder / "emulator.log", self.state, compact_every=self.compact_every
        ).start()

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is flushed."""
        assert self.emulator.process is not None
        self.emulator.process.kill()
        self.emulator.process.wait(timeout=10)

    def restart(self) -> None:
        self.emulator = self._start()

    def stop(self) -> None:
        self.emulator.stop()


@pytest.fixture
def durable(tmp_path: Path) -> Iterator[Durable]:
    server = Durable(tmp_path)
    yield server
    server.stop()


def listing(clients: Clients, bucket: str) -> dict[str, str]:
    paginator = clients.s3.get_paginator("list_objects_v2")
    return {
        o["Key"]: o["ETag"] for page in paginator.paginate(Bucket=bucket) for o in page.get("Contents", [])
    }


def multipart_put(clients: Clients, bucket: str, key: str, size: int) -> str:
    """An object uploaded in 5 MB parts, as boto3 uploads large files; its ETag."""
    config = TransferConfig(multipart_threshold=5 * MB, multipart_chunksize=5 * MB)
    clients.s3.upload_fileobj(io.BytesIO(random.randbytes(size)), bucket, key, Config=config)
    return str(clients.s3.head_object(Bucket=bucket, Key=key)["ETag"])


def test_objects_acknowledged_before_a_kill_are_all_there_with_their_etags(durable: Durable) -> None:
    s3 = durable.clients.s3
    s3.create_bucket(Bucket="raw")
    acknowledged = {
        f"in/{i:03d} é+x.csv": s3.put_object(
            Bucket="raw", Key=f"in/{i:03d} é+x.csv", Body=f"id\n{i}\n".encode()
        )["ETag"]
        for i in range(40)
    }
    s3.put_object(Bucket="raw", Key="in/000 é+x.csv", Body=b"id\nrewritten\n")
    acknowledged["in/000 é+x.csv"] = s3.head_object(Bucket="raw", Key="in/000 é+x.csv")["ETag"]
    s3.delete_object(Bucket="raw", Key="in/001 é+x.csv")
    del acknowledged["in/001 é+x.csv"]
    acknowledged["big.csv"] = multipart_put(durable.clients, "raw", "big.csv", 11 * MB)
    assert acknowledged["big.csv"].endswith('-3"')

    durable.kill()  # right after the last acknowledgement
    durable.restart()

    assert listing(durable.clients, "raw") == acknowledged
    assert s3.get_object(Bucket="raw", Key="in/000 é+x.csv")["Body"].read() == b"id\nrewritten\n"
    journal = (durable.state / "journal.log").read_text()
    assert "Signature=redacted" in journal and not re.search(r"Signature=[0-9a-f]{64}", journal)


@pytest.mark.parametrize("compact_every", [None, 25], ids=["journal", "journal-compacted-while-writing"])
def test_every_acknowledged_put_survives_a_kill_at_a_random_instant(
    tmp_path: Path, compact_every: int | None
) -> None:
    durable = Durable(tmp_path, compact_every=compact_every)
    try:
        _kill_while_writing(durable)
    finally:
        durable.stop()


def _kill_while_writing(durable: Durable) -> None:
    """Four writers PUT (and, one key in ten, overwrite) while the emulator is killed; every
    acknowledged PUT must be there after the restart with its ETag, and the last one of a key wins."""
    seed = random.randrange(1 << 30)
    chance = random.Random(seed)
    s3 = durable.clients.s3
    s3.create_bucket(Bucket="raw")
    acknowledged: dict[str, str] = {}
    lock = threading.Lock()

    def writer(name: str) -> None:
        for i in range(10_000):
            key = f"{name}/{i - i % 10 if i % 10 == 9 else i}.csv"  # every tenth overwrites
            try:
                etag = s3.put_object(Bucket="raw", Key=key, Body=f"id\n{name}{i}\n".encode() * (1 + i % 50))[
                    "ETag"
                ]
            except Exception:
                return  # the emulator is gone: this PUT was never acknowledged
            with lock:
                acknowledged[key] = etag

    threads = [threading.Thread(target=writer, args=(f"w{n}",)) for n in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(chance.uniform(0.3, 1.5))  # the random instant of the kill
    durable.kill()
    for thread in threads:
        thread.join(timeout=60)
    with lock:
        survivors = dict(acknowledged)
    assert len(survivors) > 5, "too few PUTs acknowledged before the kill to test anything"

    durable.restart()
    present = listing(durable.clients, "raw")
    lost = {key: etag for key, etag in survivors.items() if present.get(key) != etag}
    assert not lost, (
        f"seed {seed}: {len(lost)} of {len(survivors)} acknowledged PUTs lost, e.g. {list(lost)[:3]}"
    )


def test_a_multipart_etag_is_the_same_after_restarts(durable: Durable) -> None:
    s3 = durable.clients.s3
    s3.create_bucket(Bucket="raw")
    etag = multipart_put(durable.clients, "raw", "movies/large.csv", 7 * MB)
    assert etag.endswith('-2"')

    durable.stop()  # a clean stop
    durable.restart()
    assert s3.head_object(Bucket="raw", Key="movies/large.csv")["ETag"] == etag
    # An upload in progress goes on after a kill, under the id its client holds.
    parts = [random.randbytes(5 * MB), b"the last part"]
    upload = s3.create_multipart_upload(Bucket="raw", Key="movies/resumed.csv")["UploadId"]
    first = s3.upload_part(
        Bucket="raw", Key="movies/resumed.csv", UploadId=upload, PartNumber=1, Body=parts[0]
    )

    durable.kill()
    durable.restart()
    assert s3.head_object(Bucket="raw", Key="movies/large.csv")["ETag"] == etag
    second = s3.upload_part(
        Bucket="raw", Key="movies/resumed.csv", UploadId=upload, PartNumber=2, Body=parts[1]
    )
    done = s3.complete_multipart_upload(
        Bucket="raw",
        Key="movies/resumed.csv",
        UploadId=upload,
        MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": first["ETag"]}, {"PartNumber": 2, "ETag": second["ETag"]}]
        },
    )
    expected = hashlib.md5(b"".join(hashlib.md5(part).digest() for part in parts)).hexdigest()
    assert done["ETag"] == f'"{expected}-2"'


def queue_bodies(sqs: object, url: str) -> dict[str, str]:
    """Every visible message of the queue (id -> body), received once."""
    found: dict[str, str] = {}
    while True:
        messages = sqs.receive_message(  # type: ignore[attr-defined]
            QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=60, WaitTimeSeconds=0
        ).get("Messages", [])
        if not messages:
            return found
        found.update({m["MessageId"]: m["Body"] for m in messages})


def test_the_dead_letter_queue_and_acknowledged_sends_survive_a_kill(durable: Durable) -> None:
    sqs = durable.clients.sqs
    dlq = sqs.create_queue(QueueName="events-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    redrive = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"})
    queue = sqs.create_queue(
        QueueName="events", Attributes={"RedrivePolicy": redrive, "VisibilityTimeout": "0"}
    )["QueueUrl"]
    failing = {
        sqs.send_message(QueueUrl=queue, MessageBody=f"bad {i}")["MessageId"]: f"bad {i}" for i in range(3)
    }
    handled = sqs.send_message(QueueUrl=queue, MessageBody="handled")["MessageId"]
    received = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    assert len(received) == 4
    done = next(m for m in received if m["MessageId"] == handled)
    sqs.delete_message(QueueUrl=queue, ReceiptHandle=done["ReceiptHandle"])
    # Received once already: the next receive moves them to the dead-letter queue.
    assert sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", []) == []
    pending = sqs.send_message(QueueUrl=queue, MessageBody="sent just before the kill")["MessageId"]

    durable.kill()
    durable.restart()

    assert queue_bodies(sqs, dlq) == failing
    assert queue_bodies(sqs, queue) == {pending: "sent just before the kill"}


def test_a_glue_table_comes_back_with_its_version_and_partitions(durable: Durable) -> None:
    glue = durable.clients.glue
    glue.create_database(DatabaseInput={"Name": "csvpipe"})
    columns = [{"Name": "movie_id", "Type": "bigint"}, {"Name": "title", "Type": "string"}]
    year = [{"Name": "year", "Type": "string"}]
    glue.create_table(
        DatabaseName="csvpipe",
        TableInput={"Name": "movies", "StorageDescriptor": {"Columns": columns[:1]}, "PartitionKeys": year},
    )
    glue.update_table(
        DatabaseName="csvpipe",
        TableInput={"Name": "movies", "StorageDescriptor": {"Columns": columns}, "PartitionKeys": year},
    )
    glue.batch_create_partition(
        DatabaseName="csvpipe",
        TableName="movies",
        PartitionInputList=[
            {"Values": [y], "StorageDescriptor": {"Columns": columns}} for y in ("1999", "2024")
        ],
    )
    before = glue.get_table(DatabaseName="csvpipe", Name="movies")["Table"]
    versions = glue.get_table_versions(DatabaseName="csvpipe", TableName="movies")["TableVersions"]

    durable.kill()
    durable.restart()

    after = glue.get_table(DatabaseName="csvpipe", Name="movies")["Table"]
    assert after["StorageDescriptor"]["Columns"] == columns
    assert after["VersionId"] == before["VersionId"] == "2"
    again = glue.get_table_versions(DatabaseName="csvpipe", TableName="movies")["TableVersions"]
    assert [v["VersionId"] for v in again] == [v["VersionId"] for v in versions]
    partitions = glue.get_partitions(DatabaseName="csvpipe", TableName="movies")["Partitions"]
    assert sorted(p["Values"] for p in partitions) == [["1999"], ["2024"]]


def test_a_compacted_journal_restores_the_same_state(tmp_path: Path) -> None:
    server = Durable(tmp_path, compact_every=50)
    try:
        s3, sqs = server.clients.s3, server.clients.sqs
        s3.create_bucket(Bucket="raw")
        queue = sqs.create_queue(QueueName="events")["QueueUrl"]
        for round_ in range(30):
            for key in ("a.csv", "b.csv", "c.csv"):
                s3.put_object(Bucket="raw", Key=key, Body=f"id\n{round_}\n".encode())
            sent = sqs.send_message(QueueUrl=queue, MessageBody=f"m{round_}")
            got = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=1, VisibilityTimeout=60)["Messages"]
            assert got[0]["MessageId"] == sent["MessageId"]
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=got[0]["ReceiptHandle"])
        s3.delete_object(Bucket="raw", Key="c.csv")
        etag = multipart_put(server.clients, "raw", "big.csv", 6 * MB)
        kept = sqs.send_message(QueueUrl=queue, MessageBody="kept")["MessageId"]
        expected = listing(server.clients, "raw")
        appended = 2 + 30 * 5 + 6  # bucket, queue; 3 PUTs, a send and a delete a round; and the rest
        deadline = time.monotonic() + 10
        while len(list(iter_records(server.state))) >= 60:
            assert time.monotonic() < deadline, "the journal was not compacted within 10 s"
            time.sleep(0.05)  # compaction runs in the emulator's own thread; bounded by the deadline

        assert appended > 150
        server.kill()
        server.restart()

        assert listing(server.clients, "raw") == expected and expected["big.csv"] == etag
        assert s3.get_object(Bucket="raw", Key="a.csv")["Body"].read() == b"id\n29\n"
        assert queue_bodies(sqs, queue) == {kept: "kept"}
        assert len(list((server.state / "bodies").iterdir())) == 2  # the two parts of big.csv
    finally:
        server.stop()


def test_acknowledged_sends_deletes_and_puts_survive_a_kill_amid_a_mix_of_them(durable: Durable) -> None:
    """Writers PUT and delete objects, a producer sends and a consumer receives and deletes
    messages, all at once, when the kill comes: every acknowledged effect is there afterwards."""
    seed = random.randrange(1 << 30)
    s3, sqs = durable.clients.s3, durable.clients.sqs
    s3.create_bucket(Bucket="raw")
    queue = sqs.create_queue(QueueName="events", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    objects: dict[str, str | None] = {}  # key -> acknowledged ETag, None once its delete was
    sent: set[str] = set()
    deleted: set[str] = set()
    tried: set[str] = set()  # keys and message ids a delete was sent for (answered or not)
    lock = threading.Lock()
    alive = threading.Event()
    alive.set()

    def put_and_delete() -> None:
        for i in range(10_000):
            try:
                etag = s3.put_object(Bucket="raw", Key=f"k/{i}.csv", Body=f"id\n{i}\n".encode())["ETag"]
                with lock:
                    objects[f"k/{i}.csv"] = etag
                if i % 3 == 0:
                    with lock:
                        tried.add(f"k/{i}.csv")
                    s3.delete_object(Bucket="raw", Key=f"k/{i}.csv")
                    with lock:
                        objects[f"k/{i}.csv"] = None
            except Exception:
                return

    def produce() -> None:
        for i in range(10_000):
            try:
                message_id = sqs.send_message(QueueUrl=queue, MessageBody=f"event {i}")["MessageId"]
            except Exception:
                return
            with lock:
                sent.add(message_id)

    def consume() -> None:
        while alive.is_set():
            try:
                for message in sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get(
                    "Messages", []
                ):
                    with lock:
                        tried.add(message["MessageId"])
                    sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
                    with lock:
                        deleted.add(message["MessageId"])
            except Exception:
                return

    threads = [threading.Thread(target=work) for work in (put_and_delete, produce, consume)]
    for thread in threads:
        thread.start()
    time.sleep(random.Random(seed).uniform(0.5, 1.5))  # the random instant of the kill
    durable.kill()
    alive.clear()
    for thread in threads:
        thread.join(timeout=60)
    assert len(objects) > 3 and len(sent) > 3 and deleted, f"seed {seed}: too little done before the kill"

    durable.restart()
    present = listing(durable.clients, "raw")
    for key, etag in objects.items():
        if etag is None:
            assert key not in present, f"seed {seed}: {key} was deleted, and is back"
        elif key not in tried:  # a delete cut short by the kill may or may not have been applied
            assert present.get(key) == etag, f"seed {seed}: acknowledged {key} lost"
    waiting = set(queue_bodies(sqs, queue))
    assert not waiting & deleted, f"seed {seed}: deleted messages are back"
    missing = sent - tried - waiting
    assert not missing, f"seed {seed}: {len(missing)} of {len(sent - tried)} acknowledged messages lost"
    assert len(sent - tried) + len(deleted) >= len(sent) - 10, "more deletes cut short than one receive holds"
