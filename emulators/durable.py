"""The embedded emulator's durability: nothing it has acknowledged is lost to a ``kill -9``.

Why: S3 promises that an acknowledged write is durable, and the pipeline relies on it (the
watcher moves a file to ``.done/`` once its PutObject returned). moto keeps everything in memory,
and periodic snapshots lost acknowledged uploads. So the emulator journals (emulators.journal):

- **Requests.** A WSGI middleware around moto buffers each mutating request's body (to a file
  beyond 1 MB, so a large PUT costs no extra memory), lets moto handle it and, when moto answered
  2xx, appends the request to the journal and fsyncs it *before* the answer goes back. Mutating
  requests pass one at a time, so the journal's order is the order moto applied them. Starting
  again, the same requests are replayed through moto in that order, before the port is opened:
  objects come back with the same bytes, so the same ETags (a multipart upload is replayed part
  by part, so its ``…-N`` ETag is the same too; the upload ids moto hands out on replay are
  mapped to the recorded ones), and Glue tables with the same versions.
- **Queue effects.** SQS messages are not replayed as requests (message ids and receipt handles
  are random, and S3 notifications send messages from inside moto). Hooks on moto's queue record
  what happened to messages instead: added (a send, an S3 event, or a move to the dead-letter
  queue during a receive), deleted (by id, whatever receipt handle was used), purged. Replay
  restores the messages with their ids, bodies and attributes; what was received and not deleted
  is visible again (at-least-once, as after a visibility timeout).
- **Compaction.** The journal is rewritten without the records later ones made useless (an object
  overwritten or deleted, an upload aborted, a message deleted), atomically (see
  emulators.journal), from a thread of the emulator whenever enough records were appended.

What is not kept: receive counts and visibility of messages in flight, objects' LastModified
(replay time) and Glue's create/update times; multipart uploads in progress are kept, part by
part.
"""

from __future__ import annotations

import base64
import html
import io
import logging
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from emulators.journal import Journal

log = logging.getLogger("csvpipe.durable")

READ_METHODS = {"GET", "HEAD", "OPTIONS"}
READ_PREFIXES = ("Get", "List", "Describe", "Search", "BatchGet", "Head", "Query", "Scan", "Lookup")
# SQS message operations: recorded through their effects on the queues, never replayed.
QUEUE_EFFECTS = {"SendMessage", "SendMessageBatch", "DeleteMessage", "DeleteMessageBatch", "PurgeQueue"}
# Operations that may move a message to a dead-letter queue, or change only what is not kept.
UNRECORDED = {"ReceiveMessage", "ChangeMessageVisibility", "ChangeMessageVisibilityBatch"}
MEMORY_BODY = 1024 * 1024  # request bodies beyond this are spooled to disk
CHUNK = 1024 * 1024
# Environ keys a replayed request keeps (with every HTTP_* header but Transfer-Encoding).
ENVIRON_KEYS = ("REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "SERVER_NAME", "SERVER_PORT")
COMPACT_EVERY = 2000  # appended records between compactions

# One lock orders moto's mutations and the journal's records.
MUTATION = threading.RLock()


class _Context(threading.local):
    pending: list[dict[str, Any]] | None = None  # effects of the request this thread handles
    last: int = 0  # the journal position this thread's answer waits for


_context = _Context()
_journal: Journal | None = None
_replaying = False


# Queue effects -------------------------------------------------------------------------------


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"$bytes": value.hex()}
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"$bytes"}:
            return bytes.fromhex(value["$bytes"])
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


MESSAGE_FIELDS = (
    "body",
    "message_attributes",
    "system_attributes",
    "sender_id",
    "sent_timestamp",
    "deduplication_id",
    "group_id",
    "sequence_number",
    "delayed_until",
)


def _effect(op: str, queue: Any, **fields: Any) -> dict[str, Any]:
    return {
        "t": "sqs",
        "op": op,
        "account": queue.account_id,
        "region": queue.region,
        "queue": queue.name,
        **fields,
    }


def _record_effect(effect: dict[str, Any]) -> None:
    """Called with MUTATION held: the effect joins the current request's records, or (a move to
    a dead-letter queue during a receive) goes to the journal at once."""
    if _context.pending is not None:
        _context.pending.append(effect)
    elif _journal is not None:
        _context.last = _journal.append([effect])


def install_queue_hooks() -> None:
    """Record every change to a queue's messages; during a replay, drop the messages moto sends
    by itself (S3 events): the recorded ones are restored instead."""
    from moto.sqs.models import Queue, SQSBackend

    add_message, delete_message, purge_queue = Queue.add_message, Queue.delete_message, SQSBackend.purge_queue

    def hooked_add_message(self: Any, message: Any) -> None:
        if _replaying:
            return
        with MUTATION:
            add_message(self, message)
            if not any(m is message for m in reversed(self._messages)):
                return  # a FIFO duplicate moto dropped
            fields = {name: _encode(getattr(message, name)) for name in MESSAGE_FIELDS}
            moved = message.approximate_receive_count > 0
            if moved:
                fields["approximate_receive_count"] = message.approximate_receive_count
            _record_effect(_effect("add", self, id=message.id, moved=moved, message=fields))

    def hooked_delete_message(self: Any, receipt_handle: str) -> None:
        with MUTATION:
            ids = [m.id for m in self._messages if m.had_receipt_handle(receipt_handle)]
            delete_message(self, receipt_handle)
            if ids:
                _record_effect(_effect("delete", self, ids=ids))

    def hooked_purge_queue(self: Any, queue_name: str) -> None:
        with MUTATION:
            purge_queue(self, queue_name)
            _record_effect(_effect("purge", self.get_queue(queue_name)))

    Queue.add_message = hooked_add_message  # type: ignore[method-assign]
    Queue.delete_message = hooked_delete_message  # type: ignore[method-assign]
    SQSBackend.purge_queue = hooked_purge_queue  # type: ignore[method-assign]


class _QueueReplay:
    """Applies recorded queue effects straight to moto's queues."""

    def __init__(self) -> None:
        self.messages: dict[str, tuple[Any, Any]] = {}  # id -> (queue, message)

    def apply(self, effect: dict[str, Any]) -> None:
        from moto.sqs.models import Message, sqs_backends

        backend = sqs_backends[effect["account"]][effect["region"]]
        queue = backend.queues.get(effect["queue"])
        if queue is None:
            return  # deleted later in the journal's order
        if effect["op"] == "add":
            if effect["moved"]:
                self._remove(effect["id"])
            fields = _decode(effect["message"])
            message = Message(effect["id"], fields["body"], fields.get("system_attributes"))
            for name in MESSAGE_FIELDS[1:]:
                if name in fields:
                    setattr(message, name, fields[name])
            message.approximate_receive_count = fields.get("approximate_receive_count", 0)
            with queue._messages_lock:
                queue._messages.append(message)
            self.messages[message.id] = (queue, message)
        elif effect["op"] == "delete":
            for message_id in effect["ids"]:
                self._remove(message_id)
        elif effect["op"] == "purge":
            for message in queue._messages:
                self.messages.pop(message.id, None)
            queue._messages = []
            queue._pending_messages = set()

    def _remove(self, message_id: str) -> None:
        found = self.messages.pop(message_id, None)
        if found is None:
            return
        queue, message = found
        queue._messages = [m for m in queue._messages if m is not message]


# Requests ------------------------------------------------------------------------------------


def _action(environ: dict[str, Any], body: bytes | None) -> str | None:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return str(target).rsplit(".", 1)[-1]
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" in query:
        return query["Action"][0]
    if body is not None and str(environ.get("CONTENT_TYPE", "")).startswith(
        "application/x-www-form-urlencoded"
    ):
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        if "Action" in form:
            return form["Action"][0]
    return None


def _kind(environ: dict[str, Any], body: bytes | None) -> str:
    """``read``, ``unrecorded``, ``effects`` (a queue operation) or ``record``."""
    if environ["REQUEST_METHOD"] in READ_METHODS:
        return "read"
    action = _action(environ, body)
    if action is None:
        return "record"  # S3's REST writes (and anything else that names no action)
    if action in UNRECORDED:
        return "unrecorded"
    if action in QUEUE_EFFECTS:
        return "effects"
    if action.startswith(READ_PREFIXES):
        return "read"
    return "record"


def _buffer(environ: dict[str, Any], journal: Journal) -> bytes | Path:
    """The request body, read whole: in memory up to MEMORY_BODY, else in a file of the journal."""
    stream = environ["wsgi.input"]
    if environ.get("wsgi.input_terminated"):
        remaining = -1
    else:
        try:
            remaining = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            remaining = 0
    chunks: list[bytes] = []
    size = 0
    spooled: Path | None = None
    out: Any = None
    try:
        while remaining != 0:
            chunk = stream.read(CHUNK if remaining < 0 else min(CHUNK, remaining))
            if not chunk:
                break
            if remaining > 0:
                remaining -= len(chunk)
            size += len(chunk)
            if out is None and size > MEMORY_BODY:
                spooled = journal.new_body_path()
                out = spooled.open("wb")
                out.write(b"".join(chunks))
                chunks = []
            if out is not None:
                out.write(chunk)
            else:
                chunks.append(chunk)
    except BaseException:
        if spooled is not None:
            spooled.unlink(missing_ok=True)  # the client went away mid-body
        raise
    finally:
        if out is not None:
            out.close()
    return spooled if spooled is not None else b"".join(chunks)


def _body_stream(body: bytes | Path | None) -> Any:
    if isinstance(body, Path):
        return body.open("rb")
    return io.BytesIO(body or b"")


def _body_size(body: bytes | Path | None) -> int:
    if isinstance(body, Path):
        return body.stat().st_size
    return len(body or b"")


def _with_body(environ: dict[str, Any], body: bytes | Path | None) -> dict[str, Any]:
    environ = dict(environ)
    environ["wsgi.input"] = _body_stream(body)
    environ["CONTENT_LENGTH"] = str(_body_size(body))
    environ.pop("HTTP_TRANSFER_ENCODING", None)
    environ.pop("wsgi.input_terminated", None)
    return environ


def _call(app: Callable[..., Any], environ: dict[str, Any]) -> tuple[str, list[tuple[str, str]], bytes]:
    """Run the WSGI app to the end: status, headers and the whole answer."""
    answer: dict[str, Any] = {}

    def start_response(
        status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        answer["status"], answer["headers"] = status, headers
        return lambda data: answer.setdefault("written", []).append(data)

    iterable: Iterable[bytes] = app(environ, start_response)
    try:
        body = b"".join([*answer.get("written", []), *iterable])
    finally:
        close = getattr(iterable, "close", None)
        if close:
            close()
        stream = environ.get("wsgi.input")
        if stream is not None and hasattr(stream, "close"):
            stream.close()
    return answer["status"], answer["headers"], body


UPLOAD_ID = re.compile(rb"<UploadId>([^<]+)</UploadId>")
# Credentials are not journaled: a signature (moto does not check it; the access key id in the
# credential scope stays, as moto derives the account and the service from it) and session tokens.
SIGNATURE = re.compile(r"(Signature=)[0-9a-fA-F]+")
SECRET_HEADERS = {"HTTP_TRANSFER_ENCODING", "HTTP_X_AMZ_SECURITY_TOKEN"}


def _request_record(environ: dict[str, Any], answer: bytes) -> dict[str, Any]:
    kept = {key: environ[key] for key in ENVIRON_KEYS if key in environ}
    kept.update(
        {
            key: value
            for key, value in environ.items()
            if key.startswith("HTTP_") and key not in SECRET_HEADERS
        }
    )
    if "HTTP_AUTHORIZATION" in kept:
        kept["HTTP_AUTHORIZATION"] = SIGNATURE.sub(r"\1redacted", str(kept["HTTP_AUTHORIZATION"]))
    kept["QUERY_STRING"] = re.sub(
        r"(X-Amz-(?:Signature|Security-Token)=)[^&]*", r"\1redacted", str(kept.get("QUERY_STRING", ""))
    )
    record: dict[str, Any] = {"t": "http", "env": kept}
    if environ["REQUEST_METHOD"] == "POST" and "uploads" in _query(environ):
        found = UPLOAD_ID.search(answer)
        if found:
            record["upload_id"] = found.group(1).decode()
    return record


def _query(environ: dict[str, Any]) -> dict[str, list[str]]:
    """The query's parameters, without boto3's ``x-id`` (the operation's name, for logs)."""
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    query.pop("x-id", None)
    return query


class DurableApp:
    """WSGI middleware: mutating requests are journaled and fsynced before moto's answer goes back."""

    def __init__(self, app: Callable[..., Any], journal: Journal, compact_every: int = COMPACT_EVERY) -> None:
        self.app, self.journal, self.compact_every = app, journal, compact_every
        self._compacting = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ["REQUEST_METHOD"] in READ_METHODS:
            return self.app(environ, start_response)  # type: ignore[no-any-return]
        body = _buffer(environ, self.journal)
        kept = False
        try:
            kind = _kind(environ, body if isinstance(body, bytes) else None)
            if kind == "read":
                return self.app(_with_body(environ, body), start_response)  # type: ignore[no-any-return]
            if kind == "unrecorded":
                _context.last = 0
                status, headers, answer = _call(self.app, _with_body(environ, body))
                if _context.last:
                    self.journal.sync(_context.last)
            else:
                if kind == "record" and _body_size(body):
                    body = self.journal.seal_body(body)  # before the lock: others need not wait
                status, headers, answer, kept = self._mutate(environ, body, record=kind == "record")
        finally:
            if isinstance(body, Path) and not kept:
                body.unlink(missing_ok=True)  # no record names it
        start_response(status, headers)
        return [answer]

    def _mutate(
        self, environ: dict[str, Any], body: bytes | Path, *, record: bool
    ) -> tuple[str, list[tuple[str, str]], bytes, bool]:
        """Let moto apply the request and journal it (and its queue effects) under the lock;
        answer once the records are on disk. The last item: whether a record took the body."""
        status: str | None = None
        kept = False
        with MUTATION:
            _context.pending = []
            try:
                status, headers, answer = _call(self.app, _with_body(environ, body))
            finally:
                records, _context.pending = _context.pending, None
                if record and status is not None and status[:1] == "2":
                    request = _request_record(environ, answer)
                    self.journal.attach_body(request, body)
                    kept = isinstance(body, Path)
                    records.insert(0, request)
                position = self.journal.append(records) if records else 0
        if position:
            self.journal.sync(position)
            self._maybe_compact()
        return status, headers, answer, kept

    def _maybe_compact(self) -> None:
        if self.journal.appended_since_compaction < self.compact_every:
            return
        if not self._compacting.acquire(blocking=False):
            return
        threading.Thread(target=self._compact, name="journal-compaction", daemon=True).start()

    def _compact(self) -> None:
        try:
            before, after = self.journal.compact(compact)
            log.info("journal compacted: %d records kept of %d", after, before)
        except Exception:  # the old journal stays; the next trigger tries again
            log.exception("journal compaction failed")
        finally:
            self._compacting.release()


# Replay --------------------------------------------------------------------------------------


def replay(
    app: Callable[..., Any], journal: Journal, progress: Callable[[int, int], None] | None = None
) -> int:
    """Apply the journal's records to a fresh moto, in order; the number applied."""
    global _replaying
    records = journal.records()
    uploads: dict[str, str] = {}  # recorded upload id -> the one moto gave on replay
    queues = _QueueReplay()
    _replaying = True
    try:
        for done, record in enumerate(records, 1):
            if record["t"] == "sqs":
                queues.apply(record)
            else:
                _replay_request(app, journal, record, uploads)
            if progress and done % 500 == 0:
                progress(done, len(records))
    finally:
        _replaying = False
    _keep_upload_ids(uploads)
    return len(records)


def _keep_upload_ids(uploads: dict[str, str]) -> None:
    """Give the uploads still in progress their recorded ids back, so that their clients can go
    on with the next part after a restart."""
    from moto.s3.models import s3_backends

    current = {new: recorded for recorded, new in uploads.items() if new != recorded}
    if not current:
        return
    for regions in s3_backends.values():
        for backend in regions.values():
            for bucket in backend.buckets.values():
                for new in [u for u in bucket.multiparts if u in current]:
                    multipart = bucket.multiparts.pop(new)
                    multipart.id = current[new]
                    bucket.multiparts[multipart.id] = multipart


def _replay_request(
    app: Callable[..., Any], journal: Journal, record: dict[str, Any], uploads: dict[str, str]
) -> None:
    environ: dict[str, Any] = dict(record["env"])
    query = environ.get("QUERY_STRING", "")
    for recorded, current in uploads.items():
        if recorded in query:
            environ["QUERY_STRING"] = _replace_upload_id(query, recorded, current)
    environ.update(
        {
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.errors": io.StringIO(),
            "wsgi.multithread": False,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "SCRIPT_NAME": "",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "REMOTE_ADDR": "127.0.0.1",
        }
    )
    status, _, answer = _call(app, _with_body(environ, journal.read_body(record)))
    if status[:1] != "2":
        log.warning("replayed %s %s answered %s", environ["REQUEST_METHOD"], environ.get("PATH_INFO"), status)
    if record.get("upload_id"):
        found = UPLOAD_ID.search(answer)
        if found:
            uploads[record["upload_id"]] = found.group(1).decode()


def _replace_upload_id(query: str, recorded: str, current: str) -> str:
    pairs = urllib.parse.parse_qsl(query, keep_blank_values=True)
    return urllib.parse.urlencode(
        [(k, current if k == "uploadId" and v == recorded else v) for k, v in pairs],
        quote_via=urllib.parse.quote,
    )


def open_durable(app: Callable[..., Any], folder: Path, compact_every: int = COMPACT_EVERY) -> DurableApp:
    """Replay the journal in ``folder`` into ``app`` (a fresh moto), then journal what comes."""
    global _journal
    install_queue_hooks()
    journal = Journal(folder)
    started = time.monotonic()
    applied = replay(app, journal, lambda done, total: print(f"replayed {done}/{total} records", flush=True))
    if applied:
        print(f"replayed {applied} journal records in {time.monotonic() - started:.1f} s", flush=True)
    _journal = journal
    return DurableApp(app, journal, compact_every)


# Compaction ----------------------------------------------------------------------------------


def _s3_target(record: dict[str, Any]) -> tuple[str, str] | None:
    """(bucket, key) of a path-style S3 request (key "" for the bucket itself), None otherwise."""
    env = record["env"]
    if env.get("HTTP_X_AMZ_TARGET") or "Action=" in env.get("QUERY_STRING", ""):
        return None
    host = str(env.get("HTTP_HOST", "")).split(":")[0]
    if not (host in ("localhost", "127.0.0.1") or re.fullmatch(r"[0-9.]+", host)):
        return None  # virtual-hosted style: not compacted
    path = env.get("PATH_INFO", "")
    if not path.startswith("/") or path.startswith("/moto-api"):
        return None
    bucket, _, key = path[1:].partition("/")
    return (bucket, key) if bucket else None


DELETE_KEY = re.compile(r"<Key>([^<]*)</Key>")


def compact(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The records that give the same state as ``records``: without writes later overwritten or
    deleted, uploads aborted, and messages deleted or purged. Pure; order kept."""
    dropped: set[int] = set()
    pinned: set[int] = set()
    objects: dict[tuple[str, str], list[int]] = {}  # the records that made each object
    uploads: dict[str, list[int]] = {}
    buckets: dict[str, list[int]] = {}
    untouchable: set[str] = set()  # versioned buckets, and buckets a copy read from
    messages: dict[str, tuple[str, list[int]]] = {}  # id -> (queue, records)

    def drop(indices: list[int]) -> list[int]:
        """Drop what is not pinned; what had to stay."""
        staying = [i for i in indices if i in pinned]
        dropped.update(i for i in indices if i not in pinned)
        return staying

    def delete_object(target: tuple[str, str]) -> list[int]:
        """Drop the records that made an object; those a copy read stay (and are returned, so
        that whatever replaces or deletes the object is kept after them)."""
        return drop(objects.pop(target, []))

    for i, record in enumerate(records):
        if record["t"] == "sqs":
            queue = f"{record['account']}/{record['region']}/{record['queue']}"
            if record["op"] == "add":
                previous = messages.get(record["id"], (queue, []))[1] if record["moved"] else []
                messages[record["id"]] = (queue, [*previous, i])
            elif record["op"] == "delete":
                known = [m for m in record["ids"] if m in messages]
                for message_id in known:
                    drop(messages.pop(message_id)[1])
                if len(known) == len(record["ids"]):
                    dropped.add(i)
            elif record["op"] == "purge":
                for message_id in [m for m, (q, _) in messages.items() if q == queue]:
                    drop(messages.pop(message_id)[1])
                dropped.add(i)
            continue
        target = _s3_target(record)
        if target is None:
            continue
        bucket, key = target
        env = record["env"]
        method, query = env["REQUEST_METHOD"], _query(env)
        buckets.setdefault(bucket, []).append(i)
        if bucket in untouchable:
            continue
        if not key:
            if method == "PUT" and "versioning" in query:
                untouchable.add(bucket)
            elif method == "DELETE" and not query:
                if drop(buckets.pop(bucket)):
                    untouchable.add(bucket)  # a copy read from it: keep it all, in order
                else:
                    for found in [t for t in objects if t[0] == bucket]:
                        objects.pop(found)
            elif method == "POST" and "delete" in query:
                # DeleteObjects: its keys are in the XML body (inline: at most 1,000 keys).
                if record.get("body_file"):
                    continue  # too large to read here: keep it, and what it deletes
                body = base64.b64decode(record.get("body") or "").decode("utf-8", "replace")
                keys = [html.unescape(k) for k in DELETE_KEY.findall(body)]
                if not [kept for k in keys for kept in delete_object((bucket, k))]:
                    dropped.add(i)
            continue
        copy_source = env.get("HTTP_X_AMZ_COPY_SOURCE")
        if copy_source:
            source = urllib.parse.unquote(str(copy_source).split("?")[0]).lstrip("/")
            source_bucket, _, source_key = source.partition("/")
            if (source_bucket, source_key) in objects:
                pinned.update(objects[(source_bucket, source_key)])
            else:
                untouchable.add(source_bucket)  # what it copied is not known here: keep it all
        if method == "POST" and "uploads" in query:
            uploads[record.get("upload_id", "")] = [i]
        elif "uploadId" in query:
            upload = query["uploadId"][0]
            if method == "PUT":
                uploads.setdefault(upload, []).append(i)
            elif method == "POST":  # complete: the upload's records now make the object
                parts = uploads.pop(upload, [])
                objects[target] = [*delete_object(target), *parts, i]
            elif method == "DELETE" and not drop(uploads.pop(upload, [])):  # abort
                dropped.add(i)
        elif method == "PUT" and not query:
            objects[target] = [*delete_object(target), i]
        elif method == "DELETE" and not query:
            if not delete_object(target):
                dropped.add(i)
        else:
            objects.setdefault(target, []).append(i)  # tagging, ACL…: part of the object's state
    untouched = {i for b in untouchable for i in buckets.get(b, [])}
    return [record for i, record in enumerate(records) if i not in dropped or i in untouched]
