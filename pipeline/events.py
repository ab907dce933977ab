"""S3 event records, parsed in one place.

Why: S3 sends object keys URL-encoded (``+`` for a space, ``%2F``); moto does too, but LocalStack
has sent them as they are. Every consumer gets the decoded key from here, and the key as sent
beside it, so a reader that finds no object at the decoded key can try the other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_plus

from pipeline.errors import UserInputError


@dataclass(frozen=True)
class ObjectCreated:
    """One ``ObjectCreated`` record of an S3 event."""

    bucket: str
    key: str
    etag: str
    size: int
    event_name: str
    event_time: str
    key_as_sent: str = ""


def parse_s3_event(event: Any) -> list[ObjectCreated]:
    """The ``ObjectCreated`` records of an S3 event (a Lambda event or an SQS message body).

    S3's test event (sent when a notification is configured) has no records and yields none.
    """
    if not isinstance(event, dict):
        raise UserInputError("not an S3 event: expected a JSON object with a 'Records' list")
    if event.get("Event") == "s3:TestEvent":
        return []
    records = event.get("Records")
    if not isinstance(records, list):
        raise UserInputError("not an S3 event: expected a JSON object with a 'Records' list")
    parsed = []
    for index, record in enumerate(records):
        try:
            if not str(record["eventName"]).startswith("ObjectCreated"):
                continue
            s3 = record["s3"]
            parsed.append(
                ObjectCreated(
                    bucket=s3["bucket"]["name"],
                    key=unquote_plus(s3["object"]["key"]),
                    key_as_sent=str(s3["object"]["key"]),
                    etag=str(s3["object"].get("eTag", "")).strip('"'),
                    size=int(s3["object"].get("size", 0)),
                    event_name=record["eventName"],
                    event_time=record.get("eventTime", ""),
                )
            )
        except KeyError as exc:
            raise UserInputError(f"S3 event record {index} is malformed: missing {exc}") from None
        except (TypeError, ValueError, AttributeError) as exc:
            raise UserInputError(f"S3 event record {index} is malformed: {exc}") from None
    return parsed


def parse_message_body(body: str) -> list[ObjectCreated]:
    """Records from an SQS message body that carries an S3 event."""
    try:
        return parse_s3_event(json.loads(body))
    except json.JSONDecodeError:
        raise UserInputError("SQS message is not JSON: cannot read an S3 event from it") from None
