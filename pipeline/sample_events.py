"""Realistic AWS events, built in one pure place, for trying the handler by hand.

Why: a handler that passes on a hand-written event can still fail on the event AWS really sends
(the tutorial's first trouble): AWS URL-encodes the object key (``+`` for a space, ``%2B`` for a
plus, UTF-8 bytes as ``%XX``, but ``/`` kept as is), quotes nothing in the ETag and adds fields a
hand-written event forgets. ``csvpipe event s3-put`` and ``csvpipe invoke --key`` build their
events here, with exactly the shape of an S3 ``ObjectCreated:Put`` notification (event version
2.1, as ``tests/fixtures/events/s3-put.json``). No I/O: size, ETag and time are given; the ids
AWS would generate are derived from them, so the same inputs give the same event.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus

# MD5 of zero bytes: the ETag S3 gives an empty object, consistent with the default size 0.
EMPTY_ETAG = "d41d8cd98f00b204e9800998ecf8427e"
DEFAULT_REGION = "us-east-1"
# Example identities in AWS's own formats (an IAM user id, a canonical owner id).
PRINCIPAL_ID = "AWS:AIDACSVPIPELOCALEXAMPLE"
OWNER_ID = "A3CSVPIPELOCALEXAMPLE"
SOURCE_IP = "127.0.0.1"


def encode_key(key: str) -> str:
    """An object key as S3 writes it into event notifications: form-encoded UTF-8, ``/`` kept."""
    return quote_plus(key, safe="/")


def event_time(time: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and ``Z``, as S3 writes ``eventTime``."""
    if time.tzinfo is None:
        time = time.replace(tzinfo=UTC)
    return time.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def configuration_id(key: str) -> str:
    """The notification the raw bucket would match: the ids ``pipeline.provision`` configures."""
    return "csvpipe-csv-gz" if key.lower().endswith(".csv.gz") else "csvpipe-csv"


def s3_put_event(
    bucket: str,
    key: str,
    *,
    size: int = 0,
    etag: str = EMPTY_ETAG,
    region: str = DEFAULT_REGION,
    time: datetime | None = None,
) -> dict[str, Any]:
    """An ``ObjectCreated:Put`` event for ``s3://bucket/key`` (``key`` decoded, as stored),
    exactly shaped like the one S3 sends to Lambda, with one record."""
    when = time or datetime.now(UTC)
    etag = etag.strip('"')  # head_object quotes the ETag; events never do
    seed = f"{bucket}\0{key}\0{etag}\0{event_time(when)}".encode()
    request_id = hashlib.sha256(seed).hexdigest()[:16].upper()
    host_id = base64.b64encode(hashlib.sha384(seed).digest()).decode()
    # S3's sequencer is a hex string that grows with the time of the request.
    sequencer = f"{int(when.timestamp() * 1_000_000):018X}"
    record = {
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "awsRegion": region,
        "eventTime": event_time(when),
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": PRINCIPAL_ID},
        "requestParameters": {"sourceIPAddress": SOURCE_IP},
        "responseElements": {"x-amz-request-id": request_id, "x-amz-id-2": host_id},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": configuration_id(key),
            "bucket": {
                "name": bucket,
                "ownerIdentity": {"principalId": OWNER_ID},
                "arn": f"arn:aws:s3:::{bucket}",
            },
            "object": {
                "key": encode_key(key),
                "size": int(size),
                "eTag": etag,
                "sequencer": sequencer,
            },
        },
    }
    return {"Records": [record]}
