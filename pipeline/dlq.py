"""The dead-letter queue of the raw bucket's events: look at it, and re-drive it.

Why: an event whose invocation failed every attempt (one try, two retries) is moved by SQS to
``<queue_name>-dlq``, as Lambda's asynchronous invocation does with its DLQ. Nothing processes
that queue; a user fixes the cause (the handler, the file, the stack) and then needs to see what
failed and why, and send it back to the event queue to be tried again. ``csvpipe dlq list`` and
``csvpipe dlq replay`` are thin layers over this module.

Listing receives every message once, holding it out of sight only while the listing runs, then
makes it visible again: nothing is consumed. Replaying sends each message's body to the event
queue first and deletes it from the DLQ after, so a crash in between duplicates an event (the
handler is idempotent per run id) but never loses one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from pipeline import layout, runs
from pipeline.aws import Clients
from pipeline.errors import StackError, UserInputError
from pipeline.events import ObjectCreated, parse_message_body
from pipeline.provision import dead_letter_queue_name
from pipeline.settings import Settings

# How long a message stays out of sight while a listing or replay has it in hand. Generous, so
# a message is not received twice during one pass; it is made visible again when the pass ends.
HOLD_SECONDS = 60
MAX_BATCH = 10
_MISSING_QUEUE_CODES = {"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"}


@dataclass(frozen=True)
class DeadLetter:
    """One S3 object event waiting in the DLQ (a message with several records gives several)."""

    message_id: str
    bucket: str | None
    key: str | None
    etag: str | None
    sent_at: str  # when the event was first sent to the event queue, ISO 8601 UTC
    receive_count: int  # receives before this listing (SQS counts the listing's own as well)
    last_error: str | None  # the last failed invocation's error, or why the body is unreadable


@dataclass(frozen=True)
class ReplayResult:
    replayed: int  # messages sent back to the event queue and removed from the DLQ
    kept: int  # messages left in the DLQ (they did not match the key)


@dataclass(frozen=True)
class _Held:
    """A message received from the DLQ and held out of sight."""

    message: dict[str, Any]
    records: tuple[ObjectCreated, ...]
    problem: str | None  # why the body is not an S3 event, if it is not

    @property
    def keys(self) -> set[str]:
        return {record.key for record in self.records}


def queue_url(clients: Clients, name: str) -> str:
    """The URL of queue ``name``; a one-line error when it does not exist."""
    settings = clients.settings
    try:
        return str(clients.sqs.get_queue_url(QueueName=name)["QueueUrl"])
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in _MISSING_QUEUE_CODES:
            raise
    hint = (
        "start the stack with `csvpipe up --detach`"
        if settings.profile == "local"
        else f"is the pipeline provisioned at {settings.endpoint_url or 'AWS'}?"
    )
    if name == dead_letter_queue_name(settings):
        raise StackError(f"no dead-letter queue {name}: {hint}")
    raise StackError(f"no event queue {name}: {hint}")


def list_dead_letters(clients: Clients) -> list[DeadLetter]:
    """Every event in the DLQ with the last error recorded for it, oldest first; the messages
    stay in the DLQ."""
    url = queue_url(clients, dead_letter_queue_name(clients.settings))
    with _holding(clients.sqs, url) as (held, _deleted):
        letters = [letter for item in held for letter in _describe(item, clients.s3, clients.settings)]
    return sorted(letters, key=lambda letter: (letter.sent_at, letter.message_id))


def replay(clients: Clients, key: str | None = None) -> ReplayResult:
    """Move the DLQ's messages (only those with an event for object ``key``, if given) back to
    the event queue, where the event source tries them again from the first attempt."""
    sqs = clients.sqs
    target = queue_url(clients, clients.settings.queue_name)
    url = queue_url(clients, dead_letter_queue_name(clients.settings))
    kept = 0
    with _holding(sqs, url) as (held, deleted):
        for item in held:
            if key is not None and key not in item.keys:
                kept += 1
                continue
            message = item.message
            send: dict[str, Any] = {"QueueUrl": target, "MessageBody": message["Body"]}
            if message.get("MessageAttributes"):
                send["MessageAttributes"] = message["MessageAttributes"]
            sqs.send_message(**send)  # first send, then delete: nothing is lost in between
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            deleted.add(message["MessageId"])
    return ReplayResult(replayed=len(deleted), kept=kept)


@contextlib.contextmanager
def _holding(sqs: Any, url: str) -> Iterator[tuple[list[_Held], set[str]]]:
    """Receive every message of the queue once, and when done make those visible again whose
    id the caller did not add to the set of deleted ones.

    All are received before the caller acts on any, so a message the caller sends elsewhere and
    that comes back meanwhile is not seen twice."""
    held: list[_Held] = []
    deleted: set[str] = set()
    seen: set[str] = set()
    try:
        while True:
            response = sqs.receive_message(
                QueueUrl=url,
                MaxNumberOfMessages=MAX_BATCH,
                VisibilityTimeout=HOLD_SECONDS,
                # Long polling asks every SQS server: an empty answer means an empty queue.
                WaitTimeSeconds=1,
                AttributeNames=["All"],
                MessageAttributeNames=["All"],
            )
            fresh = [m for m in response.get("Messages", []) if m["MessageId"] not in seen]
            if not fresh:
                break
            for message in fresh:
                seen.add(message["MessageId"])
                held.append(_read(message))
        yield held, deleted
    finally:
        _release(sqs, url, [item.message for item in held if item.message["MessageId"] not in deleted])


def _read(message: dict[str, Any]) -> _Held:
    try:
        records = tuple(parse_message_body(message["Body"]))
    except UserInputError as exc:
        return _Held(message, (), str(exc))
    return _Held(message, records, None if records else "no ObjectCreated record in the event")


def _release(sqs: Any, url: str, messages: list[dict[str, Any]]) -> None:
    for start in range(0, len(messages), MAX_BATCH):
        batch = messages[start : start + MAX_BATCH]
        sqs.change_message_visibility_batch(
            QueueUrl=url,
            Entries=[
                {"Id": str(index), "ReceiptHandle": message["ReceiptHandle"], "VisibilityTimeout": 0}
                for index, message in enumerate(batch)
            ],
        )


def _describe(item: _Held, s3: Any, settings: Settings) -> list[DeadLetter]:
    attributes = item.message.get("Attributes", {})
    common = {
        "message_id": item.message["MessageId"],
        "sent_at": _iso(attributes.get("SentTimestamp")),
        "receive_count": max(int(attributes.get("ApproximateReceiveCount", "1")) - 1, 0),
    }
    if not item.records:
        return [DeadLetter(bucket=None, key=None, etag=None, last_error=item.problem, **common)]
    return [
        DeadLetter(
            bucket=record.bucket,
            key=record.key,
            etag=record.etag,
            last_error=_last_error(s3, settings, record),
            **common,
        )
        for record in item.records
    ]


def _last_error(s3: Any, settings: Settings, record: ObjectCreated) -> str | None:
    run = layout.run_id(record.bucket, record.key, record.etag)
    invoke = runs.read_stage_record(s3, settings.processed_bucket, run, "invoke")
    if invoke is None:
        return None
    error_type, error = invoke.get("error_type"), invoke.get("error")
    return f"{error_type}: {error}" if error_type and error else error or error_type


def _iso(millis: str | None) -> str:
    if not millis:
        return ""
    moment = datetime.fromtimestamp(int(millis) / 1000, UTC)
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z")
