"""Prove that the raw bucket's trigger fires: upload a probe, wait for the function's run record.

Why: the most reported emulator bug (LocalStack, MiniStack, Floci and moto alike) is an S3
notification accepted and never fired; on AWS a permission or a filter does the same silently.
Reading the configuration cannot tell; only an upload can. The probe is an empty ``.csv`` under a
reserved prefix of the raw bucket: the function answers it with a failed run record ("the file is
empty"), so nothing reaches the catalog or the final bucket. When no record comes in time, each
link is tried on its own (the notification names a function, the function can be invoked, it
runs the probe when invoked directly) so the report names the link that is broken. The probe and
everything written for it are removed before returning.

The wait is bounded, and its clock and sleep are parameters, as chalice's deployer does.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from pipeline import layout, runs
from pipeline.sample_events import s3_put_event

PROBE_PREFIX = "_csvpipe-doctor/"
POLL_SECONDS = 0.5
PUT_EVENTS = {"s3:ObjectCreated:*", "s3:ObjectCreated:Put"}  # the events of the probe's upload


@dataclass(frozen=True)
class ProbeResult:
    fired: bool
    detail: str  # what was seen
    link: str = ""  # the broken link, when it did not fire
    fix: str = ""


def probe_key() -> str:
    return f"{PROBE_PREFIX}probe-{uuid.uuid4().hex[:12]}.csv"


def _matches(configuration: dict[str, Any], key: str) -> bool:
    rules = configuration.get("Filter", {}).get("Key", {}).get("FilterRules", [])
    for rule in rules:
        name, value = rule["Name"].lower(), rule["Value"]
        if (name == "prefix" and not key.startswith(value)) or (name == "suffix" and not key.endswith(value)):
            return False
    return True


def notified_functions(s3: Any, bucket: str, key: str) -> list[str]:
    """The functions (ARNs) the bucket's notification invokes for an object created at ``key``."""
    config = s3.get_bucket_notification_configuration(Bucket=bucket)
    return [
        c["LambdaFunctionArn"]
        for c in config.get("LambdaFunctionConfigurations", [])
        if set(c.get("Events", [])) & PUT_EVENTS and _matches(c, key)
    ]


def probe_trigger(
    s3: Any,
    functions: Any,
    raw_bucket: str,
    processed_bucket: str,
    *,
    wait_seconds: float,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ProbeResult:
    """Upload a probe to ``raw_bucket`` and wait up to ``wait_seconds`` for the function's run
    record in ``processed_bucket``; then remove the probe and what was written for it."""
    key = probe_key()
    where = f"s3://{raw_bucket}/{key}"
    targets = notified_functions(s3, raw_bucket, key)
    if not targets:
        return ProbeResult(
            False,
            f"no notification of s3://{raw_bucket} invokes a function for a .csv key like {key}",
            "raw bucket -> function (the bucket notification)",
            "deploy again to put the notification back: `csvpipe deploy`",
        )
    started = clock()
    etag = s3.put_object(Bucket=raw_bucket, Key=key, Body=b"")["ETag"]
    run = layout.run_id(raw_bucket, key, etag)
    try:
        record = _wait_for_record(s3, processed_bucket, run, started + wait_seconds, sleep, clock)
        if record is not None:
            return ProbeResult(
                True,
                f"a probe ({where}) was processed by {record.get('function') or 'the function'} "
                f"in {clock() - started:.1f} s",
            )
        return _diagnose(
            s3, functions, targets[0], raw_bucket, processed_bucket, key, etag, run, wait_seconds
        )
    finally:
        _remove(s3, raw_bucket, processed_bucket, key, run)


def _wait_for_record(
    s3: Any,
    bucket: str,
    run: str,
    deadline: float,
    sleep: Callable[[float], None],
    clock: Callable[[], float],
) -> dict[str, Any] | None:
    while True:
        record = runs.read_stage_record(s3, bucket, run, "preprocess")
        if record is not None or clock() >= deadline:
            return record
        sleep(POLL_SECONDS)  # the function runs elsewhere; bounded by the deadline


def _diagnose(
    s3: Any,
    functions: Any,
    function: str,
    raw_bucket: str,
    processed_bucket: str,
    key: str,
    etag: str,
    run: str,
    waited: float,
) -> ProbeResult:
    """Which link is broken, once no record came: invoke the function directly with the event
    S3 would have sent."""
    name = function.rsplit(":", 1)[-1]
    event = s3_put_event(raw_bucket, key, size=0, etag=etag)
    try:
        answer = functions.invoke(FunctionName=function, Payload=json.dumps(event).encode())
    except (BotoCoreError, ClientError) as exc:
        return ProbeResult(
            False,
            f"no run record within {waited:.0f} s, and {name} cannot be invoked ({exc})",
            "notification -> function (the function or its permission)",
            "deploy again: `csvpipe deploy`; check that the function exists and the notification names it",
        )
    if answer.get("FunctionError"):
        payload = answer["Payload"].read().decode(errors="replace")
        try:
            message = json.loads(payload).get("errorMessage", payload)
        except ValueError:
            message = payload
        return ProbeResult(
            False,
            f"no run record within {waited:.0f} s; invoked directly, {name} fails: {message}",
            "function (it runs, but fails)",
            f"see the function's log (/aws/lambda/{name}); `csvpipe invoke` runs it here with a test event",
        )
    if runs.read_stage_record(s3, processed_bucket, run, "preprocess") is not None:
        return ProbeResult(
            False,
            f"no run record within {waited:.0f} s, but {name} wrote one when invoked directly: "
            f"the notification of s3://{raw_bucket} is configured and did not fire",
            "S3 -> function (the notification did not fire)",
            "restart the emulator, or deploy again (`csvpipe deploy`); on AWS, check the function's "
            "resource policy allows s3.amazonaws.com",
        )
    return ProbeResult(
        False,
        f"no run record within {waited:.0f} s, and none when {name} was invoked directly either",
        "function -> processed bucket (the run record)",
        f"check that the function writes to s3://{processed_bucket} (its settings and role)",
    )


def _remove(s3: Any, raw_bucket: str, processed_bucket: str, key: str, run: str) -> None:
    """The probe and whatever the stages wrote for it; keys that are not there are no error."""
    s3.delete_object(Bucket=raw_bucket, Key=key)
    written = [
        layout.processed_key(key),
        layout.rejects_key(key),
        *(layout.run_record_key(run, stage) for stage in layout.STAGES),
    ]
    s3.delete_objects(
        Bucket=processed_bucket, Delete={"Objects": [{"Key": k} for k in written], "Quiet": True}
    )
