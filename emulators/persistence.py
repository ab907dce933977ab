"""The embedded emulator's state saved by csvpipe before its journal existed, and the checks
that run on every start.

Why: the emulator now keeps everything it acknowledged itself (emulators.durable: a journal
under ``data/.csvpipe/state/journal``). Older versions kept periodic snapshots here instead
(objects by ETag, the Glue database, tables and partitions as JSON), which lost what was written
between two snapshots. ``restore`` moves such a snapshot into the journal once, the first time
the journal is empty, and ``retire_snapshot`` sets it aside; ``reconcile`` then re-sends the
events of raw objects whose processing never finished (that snapshot kept no queue). ``snapshot``
still writes the format, as a portable export through the public API.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import layout, runs
from pipeline.aws import Clients
from pipeline.provision import ensure_bucket
from pipeline.sample_events import s3_put_event
from pipeline.storage import download, local_relative

MANIFEST = "objects.json"
CATALOG = "glue.json"
# What a table's GetTable answer holds that CreateTable refuses.
TABLE_OUTPUT_ONLY = {
    "DatabaseName",
    "CreateTime",
    "UpdateTime",
    "CreatedBy",
    "IsRegisteredWithLakeFormation",
    "CatalogId",
    "VersionId",
    "FederatedTable",
    "IsMultiDialectView",
}


@dataclass(frozen=True)
class Restored:
    objects: int
    tables: int


def _write_json(path: Path, document: Any) -> None:
    """Atomically: a crash mid-write leaves the previous file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp") as fh:
        json.dump(document, fh, indent=1, default=str)
    os.replace(fh.name, path)


def _read_json(path: Path, default: Any) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default


def snapshot(clients: Clients, root: Path) -> None:
    """Copy the buckets' objects (new or changed ones only) and the catalog under ``root``."""
    settings = clients.settings
    for bucket in (settings.raw_bucket, settings.processed_bucket, settings.final_bucket):
        _snapshot_bucket(clients.s3, bucket, root / "s3" / bucket)
    _snapshot_catalog(clients, root / CATALOG)


def _snapshot_bucket(s3: Any, bucket: str, folder: Path) -> None:
    known: dict[str, dict[str, str]] = _read_json(folder / MANIFEST, {})
    current: dict[str, dict[str, str]] = {}
    paginator = s3.get_paginator("list_objects_v2")
    try:
        pages = list(paginator.paginate(Bucket=bucket))
    except s3.exceptions.NoSuchBucket:
        return
    for page in pages:
        for obj in page.get("Contents", []):
            key, etag = obj["Key"], obj["ETag"].strip('"')
            entry = known.get(key)
            if entry is None or entry["etag"] != etag:
                relative = str(local_relative(key))
                target = folder / "objects" / relative
                target.parent.mkdir(parents=True, exist_ok=True)
                try:
                    download(s3, bucket, key, target)
                except s3.exceptions.ClientError:
                    continue  # deleted since it was listed
                content_type = s3.head_object(Bucket=bucket, Key=key).get("ContentType", "")
                entry = {"etag": etag, "file": relative, "content_type": content_type}
            current[key] = entry
    for key, entry in known.items():
        if key not in current:
            (folder / "objects" / entry["file"]).unlink(missing_ok=True)
    _write_json(folder / MANIFEST, current)


def _snapshot_catalog(clients: Clients, path: Path) -> None:
    glue, database = clients.glue, clients.settings.glue_database
    try:
        tables = glue.get_paginator("get_tables").paginate(DatabaseName=database)
        listed = [table for page in tables for table in page["TableList"]]
    except glue.exceptions.EntityNotFoundException:
        return
    document = []
    for table in listed:
        partitions = [
            partition
            for page in glue.get_paginator("get_partitions").paginate(
                DatabaseName=database, TableName=table["Name"]
            )
            for partition in page["Partitions"]
        ]
        document.append({"table": table, "partitions": partitions})
    _write_json(path, document)


def restore(clients: Clients, root: Path) -> Restored:
    """Put a snapshot back into a fresh emulator: buckets, objects (same content, so the same
    ETags and run ids), the database, tables and partitions. Run before notifications are
    configured, so restored objects raise no events."""
    from pipeline.catalog.crawler import ensure_database

    settings = clients.settings
    objects = 0
    for bucket in (settings.raw_bucket, settings.processed_bucket, settings.final_bucket):
        ensure_bucket(clients.s3, bucket, settings.region)
        folder = root / "s3" / bucket
        for key, entry in _read_json(folder / MANIFEST, {}).items():
            path = folder / "objects" / entry["file"]
            if not path.is_file():
                continue
            extra = {"ContentType": entry["content_type"]} if entry.get("content_type") else {}
            with path.open("rb") as body:
                clients.s3.put_object(Bucket=bucket, Key=key, Body=body, **extra)
            objects += 1
    ensure_database(clients.glue, settings.glue_database)
    tables = 0
    for item in _read_json(root / CATALOG, []):
        table_input = {k: v for k, v in item["table"].items() if k not in TABLE_OUTPUT_ONLY}
        try:
            clients.glue.create_table(DatabaseName=settings.glue_database, TableInput=table_input)
        except clients.glue.exceptions.AlreadyExistsException:
            clients.glue.update_table(DatabaseName=settings.glue_database, TableInput=table_input)
        partitions = [
            {k: p[k] for k in ("Values", "StorageDescriptor", "Parameters") if k in p}
            for p in item["partitions"]
        ]
        for start in range(0, len(partitions), 100):
            clients.glue.batch_create_partition(
                DatabaseName=settings.glue_database,
                TableName=table_input["Name"],
                PartitionInputList=partitions[start : start + 100],
            )
        tables += 1
    return Restored(objects, tables)


def reconcile(clients: Clients, queue_url: str) -> list[str]:
    """Re-send the event of every raw CSV object whose processing did not finish (no preprocess
    record, or a successful one without its transform record): the work that was in flight
    when the emulator stopped. Processing is idempotent per run, so nothing is done twice over.
    The keys re-sent."""
    settings = clients.settings
    resent = []
    paginator = clients.s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=settings.raw_bucket):
        for obj in page.get("Contents", []):
            key, etag = obj["Key"], obj["ETag"].strip('"')
            if not layout.is_csv_key(key):
                continue
            run = layout.run_id(settings.raw_bucket, key, etag)
            if not _finished(clients, run):
                event = s3_put_event(settings.raw_bucket, key, size=obj["Size"], etag=etag)
                clients.sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(event))
                resent.append(key)
    return resent


def _finished(clients: Clients, run: str) -> bool:
    """Whether a run went as far as it can: a failed stage ends it, else the transform record."""
    for stage in layout.STAGES:
        record = runs.read_stage_record(clients.s3, clients.settings.processed_bucket, run, stage)
        if record is None:
            return False
        if record.get("status") != "ok":
            return True
    return True


def has_snapshot(root: Path) -> bool:
    """Whether ``root`` holds a snapshot of the older format."""
    return (root / CATALOG).exists() or any((root / "s3").glob(f"*/{MANIFEST}"))


def journal_has_records(folder: Path) -> bool:
    """Whether the emulator's journal in ``folder`` holds anything."""
    from emulators.journal import LOG

    path = folder / LOG
    return path.exists() and path.stat().st_size > 0


def retire_snapshot(root: Path) -> Path:
    """Set an older snapshot aside once the journal holds it (it is no longer read)."""
    retired = root / "snapshot-before-journal"
    retired.mkdir(parents=True, exist_ok=True)
    for name in (CATALOG, "s3"):
        if (root / name).exists():
            os.replace(root / name, retired / name)
    return retired


def forget(root: Path) -> bool:
    """Delete the persisted state; True when there was some."""
    if not root.exists():
        return False
    shutil.rmtree(root)
    return True
