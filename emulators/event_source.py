"""The S3 -> SQS -> Lambda event source mapping of the local profile.

Why: moto's own Lambda needs Docker. S3 notifies an SQS queue instead; this poller receives the
events, invokes the local Lambda with each event as S3 would send it, and deletes a message only
after its invocation succeeded. A failed invocation is retried with backoff; after three receives
SQS moves the message to the dead-letter queue.

``run`` receives as many messages as there are idle execution environments, as soon as one is
idle: a message is invoked the moment it is received (its visibility timeout runs from then), and
no environment waits for the slowest invocation of a batch. A warm environment is preferred to
one that never ran, as Lambda reuses warm ones. ``busy()`` tells the Glue stand-in that more
results are on their way, so it can wait for them and crawl once (emulators.glue_jobs).

Handled messages are deleted ten at a time (``DeleteMessageBatch``), as Lambda's own event source
mapping deletes a batch: a delete per message cost the emulator and the poller about as much as a
small file's S3 requests. A delete waits for its batch about a second at most (what waited
``DELETE_WITHIN`` seconds goes out with the next message handled, or when the poller comes round),
and not at all when nothing else is in flight or the source is stopping, so a message is deleted
long before its visibility timeout (the function's timeout plus 30 s) could hand it out again.
"""

from __future__ import annotations

import json
import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from emulators.lambda_runtime import Invocation, LocalLambda
from pipeline import layout, runs
from pipeline.aws import Clients
from pipeline.errors import UserInputError
from pipeline.events import parse_message_body
from pipeline.provision import MAX_RECEIVES

log = logging.getLogger("csvpipe.event_source")
MAX_BATCH = 10
RETRY_BASE_SECONDS = 2
DELETE_WITHIN = 0.5  # seconds a handled message may wait for its batched delete


class _Deletes:
    """Receipt handles of handled messages, deleted in batches of up to ten."""

    def __init__(self, sqs: Any, queue_url: str) -> None:
        self.sqs, self.queue_url = sqs, queue_url
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._oldest = 0.0  # time.monotonic() when the oldest pending one was added

    def add(self, receipt_handle: str) -> bool:
        """Queue a delete; True when a whole batch is waiting."""
        with self._lock:
            if not self._pending:
                self._oldest = time.monotonic()
            self._pending.append(receipt_handle)
            return len(self._pending) >= MAX_BATCH

    def flush(self, older_than: float = 0.0) -> None:
        """Send every pending delete, when the oldest has waited ``older_than`` seconds. A batch
        that fails is tried once more, then logged: its messages come back after their
        visibility timeout and are handled again, as after a failed single delete."""
        while True:
            with self._lock:
                if not self._pending or time.monotonic() - self._oldest < older_than:
                    return
                batch, self._pending = self._pending[:MAX_BATCH], self._pending[MAX_BATCH:]
            entries = [{"Id": str(n), "ReceiptHandle": handle} for n, handle in enumerate(batch)]
            for attempt in (1, 2):
                try:
                    response = self.sqs.delete_message_batch(QueueUrl=self.queue_url, Entries=entries)
                except Exception:
                    if attempt == 1:
                        continue
                    log.exception("event source: deleting %d handled message(s) failed", len(batch))
                else:
                    for failure in response.get("Failed", []):
                        log.warning(
                            "event source: a handled message was not deleted: %s", failure.get("Message")
                        )
                break


class EventSource:
    """Invokes ``functions`` (one execution environment each, so at most that many invocations
    at a time: Lambda's reserved concurrency) with the queue's events."""

    def __init__(
        self,
        clients: Clients,
        queue_url: str,
        functions: LocalLambda | Sequence[LocalLambda],
        on_result: Callable[[dict[str, Any]], None],
    ) -> None:
        self.clients = clients
        self.queue_url = queue_url
        self.functions = [functions] if isinstance(functions, LocalLambda) else list(functions)
        self.function = self.functions[0]
        self.on_result = on_result
        self.stopping = threading.Event()
        # Last in, first out: the environment that finished last (warm) takes the next event;
        # one that never ran starts (a cold start) only when the others are all busy.
        self._idle: queue.LifoQueue[LocalLambda] = queue.LifoQueue()
        for function in reversed(self.functions):
            self._idle.put(function)
        # Two threads per environment: one can delete its message and pass its result on while
        # the environment, free again, runs the next event on another.
        self._pool = ThreadPoolExecutor(max_workers=2 * len(self.functions), thread_name_prefix="invoke")
        # One permit per environment: ``run`` receives only what idle environments can take now.
        self._free = threading.Semaphore(len(self.functions))
        self._lock = threading.Lock()
        self._in_flight = 0  # messages received (by ``run`` or ``poll_once``) and not yet handled
        self._deletes = _Deletes(clients.sqs, queue_url)

    def busy(self) -> bool:
        """True while received messages are being handled: their results are still to come."""
        with self._lock:
            return self._in_flight > 0

    def poll_once(self, wait_seconds: int = 1) -> int:
        """Receive one batch and handle it; the number of messages handled."""
        messages = self._receive(MAX_BATCH, wait_seconds)
        with self._lock:
            self._in_flight += len(messages)
        try:
            for done in [self._pool.submit(self._on_idle_function, message) for message in messages]:
                done.result()
        finally:
            with self._lock:
                self._in_flight -= len(messages)
            self._deletes.flush()  # what the batch handled, even when a handler raised
        return len(messages)

    def _on_idle_function(self, message: dict[str, Any], on_free: Callable[[], None] = lambda: None) -> None:
        """Handle ``message`` on an idle environment; ``on_free`` is called once the environment
        is idle again, which is before the message is deleted and its result passed on."""
        if self.stopping.is_set():
            on_free()
            return  # left on the queue: handed out again after its visibility timeout
        function = self._idle.get()
        freed = threading.Event()

        def free() -> None:
            if not freed.is_set():
                freed.set()
                self._idle.put(function)
                on_free()

        try:
            self._handle(message, function, free)
        finally:
            free()

    def _handle(self, message: dict[str, Any], function: LocalLambda, free: Callable[[], None]) -> None:
        try:
            records = parse_message_body(message["Body"])
        except UserInputError as exc:
            log.warning("dropping a message that is not an S3 event: %s", exc)
            self._delete(message)
            return
        if not records:  # s3:TestEvent
            self._delete(message)
            return
        invocation = function.invoke(json.loads(message["Body"]))
        free()
        if invocation.ok:
            self._delete(message)
            for result in (invocation.payload or {}).get("records", []):
                self.on_result(result)
            return
        attempt = int(message.get("Attributes", {}).get("ApproximateReceiveCount", "1"))
        self._record_failure(records, invocation, attempt)
        # Back off before a retry; after the last attempt there is nothing to wait for: visible
        # now, the next receive makes SQS move it to the dead-letter queue.
        backoff = RETRY_BASE_SECONDS**attempt if attempt < MAX_RECEIVES else 0
        self.clients.sqs.change_message_visibility(
            QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=backoff
        )

    def _record_failure(self, records: list[Any], invocation: Invocation, attempt: int) -> None:
        log.error(
            "invocation %s failed (attempt %d of %d): %s: %s",
            invocation.request_id,
            attempt,
            MAX_RECEIVES,
            invocation.error_type,
            invocation.error_message,
        )
        for record in records:
            run = layout.run_id(record.bucket, record.key, record.etag)
            runs.write_stage_record(
                self.clients.s3,
                self.clients.settings.processed_bucket,
                run,
                "invoke",
                {
                    "status": "failed",
                    "source": {"bucket": record.bucket, "key": record.key, "etag": record.etag},
                    "request_id": invocation.request_id,
                    "error_type": invocation.error_type,
                    "error": invocation.error_message,
                    "max_memory_mb": invocation.max_memory_mb,
                    "memory_mb": self.function.config.memory_mb,
                    "attempt": attempt,
                    "max_attempts": MAX_RECEIVES,
                    "will_retry": attempt < MAX_RECEIVES,
                    "at": runs.now_iso(),
                },
            )

    def _receive(self, count: int, wait_seconds: int) -> list[dict[str, Any]]:
        """Up to ``count`` messages, with how many times each was received (for the retries)."""
        return self.clients.sqs.receive_message(
            QueueUrl=self.queue_url,
            MaxNumberOfMessages=count,
            WaitTimeSeconds=wait_seconds,
            AttributeNames=["ApproximateReceiveCount"],
        ).get("Messages", [])

    def _delete(self, message: dict[str, Any]) -> None:
        """Delete a handled message: with the next batch, or now when a batch is full, nothing
        else is in flight (the last message of a burst, or a file alone) or the source stops."""
        full = self._deletes.add(message["ReceiptHandle"])
        with self._lock:
            alone = self._in_flight <= 1
        self._deletes.flush(0.0 if full or alone or self.stopping.is_set() else DELETE_WITHIN)

    def _reserve(self) -> int:
        """Wait for an idle environment; the number idle now, each reserved (0 when stopping)."""
        while not self._free.acquire(timeout=DELETE_WITHIN):  # bounded: to notice ``stop()``
            if self.stopping.is_set():
                return 0
            self._deletes.flush(older_than=DELETE_WITHIN)
        count = 1
        while count < MAX_BATCH and self._free.acquire(blocking=False):
            count += 1
        return count

    def _release(self, count: int) -> None:
        for _ in range(count):
            self._free.release()

    def _handle_reserved(self, message: dict[str, Any]) -> None:
        try:
            self._on_idle_function(message, on_free=self._free.release)
        except Exception:  # the emulator went away mid-way: the message comes back after its timeout
            log.exception("event source: handling message %s failed", message.get("MessageId"))
        finally:
            with self._lock:
                self._in_flight -= 1

    def run(self, wait_seconds: int = 1) -> None:
        """Poll until ``stop()``; errors reaching the emulator are logged, not fatal."""
        while not self.stopping.is_set():
            reserved = self._reserve()
            if not reserved:
                return
            self._deletes.flush(older_than=DELETE_WITHIN)
            try:
                messages = self._receive(reserved, wait_seconds)
            except Exception:
                self._release(reserved)
                if self.stopping.is_set():
                    return
                log.exception("event source: polling failed; retrying")
                self.stopping.wait(1.0)
                continue
            self._release(reserved - len(messages))
            with self._lock:
                self._in_flight += len(messages)
            for message in messages:
                try:
                    self._pool.submit(self._handle_reserved, message)
                except RuntimeError:  # stopping: the pool is shut down; the message stays queued
                    with self._lock:
                        self._in_flight -= 1
                    self._free.release()

    def stop(self) -> None:
        self.stopping.set()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._deletes.flush()
