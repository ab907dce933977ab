"""Reading bucket data onto local disk for DuckDB.

Why: the offline DuckDB wheel has no ``httpfs``, so stages copy objects to a local mirror and
let DuckDB read files. The mirror is keyed by ETag: the crawler and the SQL jobs that read the
same dataset in one pass download each object once.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

# moto serves ranged GETs slowly; one GET per object up to 1 GiB is much faster against it and
# costs nothing against S3 for the file sizes a single machine handles.
SINGLE_GET = TransferConfig(multipart_threshold=1024**3, multipart_chunksize=256 * 1024**2)


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
    ``..``, ``.``, empty segments, a leading ``/`` or control characters, which as a path would
    climb out of the folder or name something else. Those segments and characters are written
    %-escaped instead, so distinct keys stay distinct files."""
    parts = []
    for segment in key.split("/"):
        escaped = "".join(
            f"%{ord(ch):02X}" if ord(ch) < 32 or ord(ch) == 127 or ch == "%" else ch for ch in segment
        )
        if escaped in {"", ".", ".."}:
            escaped = "".join(f"%{ord(ch):02X}" for ch in escaped) or "%"
        parts.append(escaped)
    return PurePosixPath(*parts)


def mirror_prefix(s3: Any, bucket: str, prefix: str, root: Path) -> list[Path]:
    """Local copies of the objects under ``prefix``, downloading only what changed."""
    paths = []
    for obj in list_objects(s3, bucket, prefix):
        local = root / local_relative(bucket) / local_relative(obj["Key"])
        tag = local.with_name(local.name + ".etag")
        etag = obj["ETag"].strip('"')
        if not (local.exists() and tag.exists() and tag.read_text() == etag):
            local.parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(bucket, obj["Key"], str(local), Config=SINGLE_GET)
            tag.write_text(etag)
        paths.append(local)
    return paths


def split_s3_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/a/b/`` -> ``("bucket", "a/b/")``."""
    if not uri.startswith("s3://"):
        raise ValueError(f"not an s3:// URI: {uri}")
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key
