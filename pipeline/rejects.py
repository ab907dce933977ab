"""Reading the rejects files the preprocessing stage writes, for ``csvpipe rejects``."""

from __future__ import annotations

import csv
import io
from typing import Any

from pipeline import layout
from pipeline.storage import list_objects


def read_rejects(s3: Any, bucket: str, raw_key: str) -> list[dict[str, str]] | None:
    """The rejected rows of one raw object, or None when it has none."""
    try:
        body = s3.get_object(Bucket=bucket, Key=layout.rejects_key(raw_key))["Body"].read()
    except s3.exceptions.NoSuchKey:
        return None
    return list(csv.DictReader(io.StringIO(body.decode("utf-8"), newline="")))


def list_rejects(s3: Any, bucket: str) -> list[tuple[str, int]]:
    """(source key, number of rejected rows) for every rejects file."""
    found = []
    for obj in list_objects(s3, bucket, layout.REJECTS_PREFIX):
        body = s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().decode("utf-8")
        rows = list(csv.DictReader(io.StringIO(body, newline="")))
        if rows:
            found.append((rows[0]["source_key"], len(rows)))
    return found
