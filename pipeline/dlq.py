"""The dead-letter queue of the raw bucket's events: look at it, and re-drive it.

Why: an event whose invocation failed every attempt (one try, two retries) waits in a
dead-letter queue. Nothing processes that queue; a user fixes the cause (the handler, the file,
the stack) and then needs to see what failed and why, and send it back to be tried again.
``csvpipe dlq list`` and ``csvpipe dlq replay`` are thin layers over this module.

Where that queue is depends on who invokes the function (``dead_letter_path``, chosen once):

* the local profile, csvpipe's own event source (S3 -> SQS -> runtime): SQS moves the event to
  ``<queue_name>-dlq`` (a redrive policy); the message is the S3 event; a replay sends it back
  to the event queue ``<queue_name>``;
* a deployed pipeline (``csvpipe deploy``: S3 -> Lambda): Lambda sends the failed asynchronous
  invocation to its on-failure destination, ``<stack_name>-preprocess-dlq``; the message is the
  invocation record (the event under ``requestPayload``, the error under ``responsePayload``);
  a replay invokes the function asynchronously with the event again. A message that is the
  S3 event alone (a DeadLetterConfig's) is read and replayed as well.

Listing receives every message once, holding it out of sight only while the listing runs, then
makes it visible again: nothing is consumed. Replaying sends each event on first (to the event
queue, or to the function) and deletes its message from the DLQ after, so a crash in between
duplicates an event (the handler is idempotent per run id) but never loses one.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from pipeline import layout, runs
from pipeline.aws import Clients
from pipeline.errors import StackError, UserInputError
from pipeline.events import ObjectCreated, parse_message_body, parse_s3_event
from pipeline.provision import dead_letter_queue_name
from pipeline.settings import Settings

LOCAL_PROFILE = "local"  # the one profile whose events go through csvpipe's own SQS event queue

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
class DeadLetterPath:
    """Where the events that failed every attempt wait, and where a replay sends them."""

    queue: str  # the dead-letter queue's name
    target: str  # the event queue (a replay sends the message there), or the function (invoked)
    invokes: bool  # True: a replay invokes the function ``target`` asynchronously

    @property
    def target_words(self) -> str:
        return f"function {self.target}" if self.invokes else self.target


def dead_letter_path(settings: Settings) -> DeadLetterPath:
    """The dead-letter path of this profile's pipeline (see the module's docstring)."""
    if settings.profile == LOCAL_PROFILE:
        return DeadLetterPath(dead_letter_queue_name(settings), settings.queue_name, invokes=False)
    from pipeline.deploy.plan import names_of  # what `csvpipe deploy` names it

    names = names_of(settings)
    return DeadLetterPath(names.dead_letters, names.function, invokes=True)


@dataclass(frozen=True)
class _Held:
    """A message received from the DLQ and held out of sight."""

    message: dict[str, Any]
    records: tuple[ObjectCreated, ...]
    problem: str | None  # why the body is not an S3 event, if it is not
    event: str  # the S3 event to send again, as JSON text
    error: str | None = None  # the failed invocation's error, when the message carries it

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
        if settings.profile == LOCAL_PROFILE
        else f"is the pipeline deployed (`csvpipe deploy`) at {settings.endpoint_url or 'AWS'}?"
    )
    if name == dead_letter_path(settings).queue:
        raise StackError(f"no dead-letter queue {name}: {hint}")
    raise StackError(f"no event queue {name}: {hint}")


def list_dead_letters(clients: Clients) -> list[DeadLetter]:
    """Every event in the DLQ with the last error recorded for it, oldest first; the messages
    stay in the DLQ."""
    url = queue_url(clients, dead_letter_path(clients.settings).queue)
    with _holding(clients.sqs, url) as (held, _deleted):
        letters = [letter for item in held for letter in _describe(item, clients.s3, clients.settings)]
    return sorted(letters, key=lambda letter: (letter.sent_at, letter.message_id))


def replay(clients: Clients, key: str | None = None) -> ReplayResult:
    """Move the DLQ's messages (only those with an event for object ``key``, if given) back to
    the event queue, where the event source tries them again from the first attempt; or, for a
    deployed pipeline, invoke the function asynchronously with each event again (Lambda's
    retries and on-failure destination apply to it as to the first)."""
    sqs = clients.sqs
    path = dead_letter_path(clients.settings)
    url = queue_url(clients, path.queue)
    target = None if path.invokes else queue_url(clients, path.target)
    kept = 0
    with _holding(sqs, url) as (held, deleted):
        for item in held:
            if (key is not None and key not in item.keys) or (path.invokes and not item.records):
                kept += 1  # not asked for, or nothing the function could take
                continue
            message = item.message
            # First send, then delete: nothing is lost in between.
            if target is None:
                clients.functions.invoke(
                    FunctionName=path.target, InvocationType="Event", Payload=item.event.encode()
                )
            else:
                send: dict[str, Any] = {"QueueUrl": target, "MessageBody": message["Body"]}
                if message.get("MessageAttributes"):
                    send["MessageAttributes"] = message["MessageAttributes"]
                sqs.send_message(**send)
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
    body = message["Body"]
    try:
        document = json.loads(body)
    except ValueError:
        document = None
    if isinstance(document, dict) and isinstance(document.get("requestPayload"), dict):
        # Lambda's invocation record (an on-failure destination's message).
        event, error = document["requestPayload"], _invocation_error(document.get("responsePayload"))
        try:
            records = tuple(parse_s3_event(event))
        except UserInputError as exc:
            return _Held(message, (), str(exc), json.dumps(event), error)
        problem = None if records else "no ObjectCreated record in the event"
        return _Held(message, records, problem, json.dumps(event), error)
    try:
        records = tuple(parse_message_body(body))
    except UserInputError as exc:
        return _Held(message, (), str(exc), body)
    return _Held(message, records, None if records else "no ObjectCreated record in the event", body)


def _invocation_error(response: Any) -> str | None:
    """``errorType: errorMessage`` of a failed invocation's response, if it has them."""
    if not isinstance(response, dict):
        return None
    error_type, error = response.get("errorType"), response.get("errorMessage")
    return f"{error_type}: {error}" if error_type and error else error or error_type


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
            last_error=item.error or _last_error(s3, settings, record),
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
