"""Reading bucket data onto local disk for DuckDB.

Why: the offline DuckDB wheel has no ``httpfs``, so stages copy objects to a local mirror and
let DuckDB read files. The mirror is keyed by ETag: the crawler and the SQL jobs that read the
same dataset in one pass download each object once, with one GET (``download``): boto3's
``download_file`` asks for the object's size first (a HEAD) and runs a thread pool, which for the
many small files of a dataset cost as much as the GET itself.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path, PurePosixPath
from typing import Any

from botocore.exceptions import ClientError, IncompleteReadError, ReadTimeoutError, ResponseStreamingError

# What may break a download mid-way and is worth another try, as boto3's own downloads retry
# (a full disk is not: it raises at once).
RETRYABLE_DOWNLOAD_ERRORS = (
    TimeoutError,
    ConnectionError,
    ReadTimeoutError,
    IncompleteReadError,
    ResponseStreamingError,
)
DOWNLOAD_ATTEMPTS = 3
_CHUNK = 1024 * 1024


# Error codes meaning "no such object": S3 says NoSuchKey for GET, a bare 404 for HEAD.
MISSING_OBJECT_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
MISSING_BUCKET_CODE = "NoSuchBucket"


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code"))


def head(s3: Any, bucket: str, key: str) -> tuple[int, str] | None:
    """Size and ETag (unquoted) of ``s3://bucket/key``, or None when there is no such object."""
    try:
        response = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if error_code(exc) in MISSING_OBJECT_CODES | {MISSING_BUCKET_CODE}:
            return None
        raise
    return int(response["ContentLength"]), str(response["ETag"]).strip('"')


def list_objects(s3: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    """Every object under ``prefix``, skipping csvpipe's own ``_``-prefixed folders."""
    paginator = s3.get_paginator("list_objects_v2")
    objects = []
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            relative = obj["Key"][len(prefix) :]
            if any(part.startswith("_") for part in relative.split("/")):
                continue
            objects.append(obj)
    return sorted(objects, key=lambda obj: obj["Key"])


def local_relative(key: str) -> PurePosixPath:
    """Where an object key is kept under a local folder, never outside it: S3 keys may hold
    ``..``, ``.``, empty segments, a leading ``/``, backslashes or control characters, which as a
    path would climb out of the folder or name something else (DuckDB reads a backslash as a
    folder separator: ``..\\..\\x.csv`` climbs out of its allowed folders). Those segments and
    characters are written %-escaped instead, so distinct keys stay distinct files."""
    parts = []
    for segment in key.split("/"):
        escaped = "".join(
            f"%{ord(ch):02X}" if ord(ch) < 32 or ord(ch) == 127 or ch in "%\\" else ch for ch in segment
        )
        if escaped in {"", ".", ".."}:
            escaped = "".join(f"%{ord(ch):02X}" for ch in escaped) or "%"
        parts.append(escaped)
    return PurePosixPath(*parts)


def download(s3: Any, bucket: str, key: str, local: Path) -> str:
    """``s3://bucket/key`` into ``local`` with one GET; the ETag (unquoted) of what was written.
    Written beside ``local`` and renamed into place, so ``local`` is never half-written. One GET:
    moto serves boto3's ranged GETs slowly (a 1 GB object at about 18 MB/s, against about two
    seconds as one GET), and against S3 it costs nothing for the sizes one machine handles."""
    handle, name = tempfile.mkstemp(dir=local.parent, prefix=".download-")
    os.close(handle)
    partial = Path(name)
    try:
        for attempt in range(1, DOWNLOAD_ATTEMPTS + 1):
            try:
                etag = _fetch(s3, bucket, key, partial)
                break
            except RETRYABLE_DOWNLOAD_ERRORS:
                if attempt == DOWNLOAD_ATTEMPTS:
                    raise
        os.replace(partial, local)
        return etag
    finally:
        partial.unlink(missing_ok=True)


def _fetch(s3: Any, bucket: str, key: str, path: Path) -> str:
    response = s3.get_object(Bucket=bucket, Key=key)
    body = response["Body"]
    try:
        with path.open("wb") as sink:
            for chunk in body.iter_chunks(_CHUNK):
                sink.write(chunk)
    finally:
        body.close()
    return str(response["ETag"]).strip('"')


def mirror_prefix(s3: Any, bucket: str, prefix: str, root: Path) -> list[Path]:
    """Local copies of the objects under ``prefix``, downloading only what changed."""
    paths = []
    for obj in list_objects(s3, bucket, prefix):
        local = root / local_relative(bucket) / local_relative(obj["Key"])
        tag = local.with_name(local.name + ".etag")
        etag = obj["ETag"].strip('"')
        if not (local.exists() and tag.exists() and tag.read_text() == etag):
            local.parent.mkdir(parents=True, exist_ok=True)
            # The ETag of what was downloaded: the object may have changed since the listing.
            tag.write_text(download(s3, bucket, obj["Key"], local))
        paths.append(local)
    return paths


class Mirror:
    """``mirror_prefix`` for one pass over the data: each prefix is listed and brought up to date
    once, then every reader of the pass gets the same files.

    Why: the crawl and each transform reading a dataset listed it again, and a listing costs the
    emulator and the client about 0.2 ms of CPU per object (0.2 s for 1,000 files), so every pass
    over a dataset of N files paid for (1 + transforms) listings of N objects. The transforms of a
    pass also read the objects the crawl's listing named, not ones that landed after it."""

    def __init__(self, s3: Any, root: Path, listed: dict[tuple[str, str], list[Path]] | None = None) -> None:
        self.s3, self.root = s3, root
        # ``listed``: another pass's listings (a child process of the Glue stand-in takes its
        # parent's, so the pass still lists each prefix once).
        self._listed: dict[tuple[str, str], list[Path]] = dict(listed or {})

    @property
    def listed(self) -> dict[tuple[str, str], list[Path]]:
        """The listings of this pass so far, to hand to a child process's Mirror."""
        return dict(self._listed)

    def prefix(self, bucket: str, prefix: str) -> list[Path]:
        """Local copies of the objects under ``prefix``, as its first listing in this pass found them."""
        if (bucket, prefix) not in self._listed:
            self._listed[bucket, prefix] = mirror_prefix(self.s3, bucket, prefix, self.root)
        return list(self._listed[bucket, prefix])

    def forget(self, bucket: str, prefix: str) -> None:
        """List ``prefix`` again when it is next asked for."""
        self._listed.pop((bucket, prefix), None)


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b/`` -> ``("bucket", "a/b/")``."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key
