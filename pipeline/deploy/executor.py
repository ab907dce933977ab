"""Runs a plan (``pipeline.deploy.plan``) against AWS, or anything that answers its API: the one
module of deploy that calls boto3.

Why apart from the plan: the plan is data a dry run prints and tests read; this module only
makes the calls and interprets AWS's answers (already there, already gone, not yet), so the
decisions stay in the records. Clients are injected (built by ``pipeline.aws`` from the
settings, so the endpoint can be moto, LocalStack or AWS), and so are ``sleep`` and ``clock``:
tests never wait for a retry or a state change.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from pipeline.aws import client as build_client
from pipeline.deploy.exceptions import CredentialsError, StepFailed, WaitTimedOut
from pipeline.deploy.plan import Call, Check, FileBody, QueueUrlOf, Step, Target, Wait
from pipeline.settings import Settings

POLL_SECONDS = 2.0
FIRST_BACKOFF = 1.0
MAX_BACKOFF = 10.0
TRANSIENT_CODES = frozenset(
    {"Throttling", "ThrottlingException", "TooManyRequestsException", "ServiceUnavailable", "InternalError"}
)
DELETE_BATCH = 1000  # S3 DeleteObjects takes at most 1,000 keys
DONE = {"create": "created", "put": "applied", "upload": "uploaded", "delete": "deleted"}
QUEUE_COUNTS = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
)


@dataclass(frozen=True)
class Outcome:
    """What one step did: created, updated, unchanged, applied, uploaded, deleted, gone or kept."""

    step: Step
    result: str
    detail: str = ""


class AwsClients:
    """boto3 clients by service name, built on first use from the settings (or given)."""

    def __init__(self, settings: Settings, given: Mapping[str, Any] | None = None) -> None:
        self.settings = settings
        self._clients: dict[str, Any] = dict(given or {})

    def __getitem__(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = build_client(self.settings, service)
        return self._clients[service]


def error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def error_message(exc: ClientError) -> str:
    """AWS's message on one line (an endpoint's HTML error page cut down to its title)."""
    message = " ".join(str(exc.response.get("Error", {}).get("Message", "")).split())
    return message if len(message) <= 300 else message[:300] + "..."


def resolve_target(sts: Any, region: str) -> Target:
    """The account and partition of the credentials (``sts:GetCallerIdentity``, which needs no
    permission): the first call, so missing or refused credentials are one clear line."""
    try:
        identity = sts.get_caller_identity()
    except NoCredentialsError:
        raise CredentialsError(
            "no AWS credentials found: sign in with `aws sso login --profile NAME` and set "
            "AWS_PROFILE=NAME, or set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (csvpipe reads "
            "the standard AWS chain and never stores credentials)"
        ) from None
    except ClientError as exc:
        raise CredentialsError(
            f"AWS refused the credentials ({error_code(exc)}: {error_message(exc)}); sign in again "
            "(e.g. `aws sso login`) or check AWS_PROFILE"
        ) from None
    partition = str(identity["Arn"]).split(":")[1]
    return Target(account=str(identity["Account"]), region=region, partition=partition)


def _subset(wanted: Any, found: Any) -> bool:
    """True when ``found`` holds everything ``wanted`` says (AWS adds defaults and empty lists
    of its own to what it returns); JSON text compared as documents."""
    if isinstance(wanted, str) and wanted[:1] in "{[" and not (isinstance(found, str) and found == wanted):
        try:
            return _subset(json.loads(wanted), json.loads(found) if isinstance(found, str) else found)
        except ValueError:
            return False
    if isinstance(wanted, Mapping):
        return isinstance(found, Mapping) and all(
            k in found and _subset(v, found[k]) for k, v in wanted.items()
        )
    if isinstance(wanted, list | tuple):
        return (
            isinstance(found, list | tuple)
            and len(wanted) == len(found)
            and all(_subset(w, f) for w, f in zip(wanted, found, strict=True))
        )
    return bool(wanted == found)


class Executor:
    """Makes the calls of a plan in order and reports each step's outcome through ``echo``."""

    def __init__(
        self,
        clients: AwsClients,
        *,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        echo: Callable[[Outcome], None] = lambda outcome: None,
    ) -> None:
        self.clients, self.sleep, self.clock, self.echo = clients, sleep, clock, echo

    def run(self, steps: Sequence[Step]) -> list[Outcome]:
        outcomes = []
        for step in steps:
            try:
                outcome = self._step(step)
            except BotoCoreError as exc:  # outside the API: an unreachable endpoint, a timeout
                raise StepFailed(f"{step.what}: {exc}", retryable=True) from None
            self.echo(outcome)
            outcomes.append(outcome)
        return outcomes

    # -- one step ------------------------------------------------------------------------------

    def _step(self, step: Step) -> Outcome:
        if step.check is not None:
            found = self._probe(step, step.check)
            if found is not None:
                return self._exists(step, found)
        try:
            if step.not_empty == "keep" and step.call.operation == "delete_queue":
                held = self._messages(step.call)
                if held:
                    detail = f"{held} message(s) in it: `csvpipe destroy --force` deletes it with them"
                    return Outcome(step, "kept", detail)
            self._call(step, step.call)
        except ClientError as exc:
            code = error_code(exc)
            if code in step.gone:
                return Outcome(step, "gone")
            if code in step.exists:
                return self._exists(step, None)
            if code == "BucketNotEmpty" and step.not_empty == "keep":
                return Outcome(step, "kept", "not empty: `csvpipe destroy --force` deletes its objects")
            if code == "BucketNotEmpty" and step.not_empty == "empty":
                deleted = self._empty_bucket(step, step.call.params["Bucket"])
                self._call(step, step.call)
                return Outcome(step, "deleted", f"after deleting {deleted} object(s)")
            raise self._failed(step, step.call, exc) from None
        return Outcome(step, DONE[step.kind])

    def _probe(self, step: Step, check: Check) -> Any | None:
        """The resource as AWS has it, or None when it is not there."""
        try:
            answer = self._send(check.call)
        except ClientError as exc:
            if error_code(exc) in check.missing:
                return None
            raise self._failed(step, check.call, exc) from None
        found = answer.get(check.result) if check.result else answer
        if check.statement is None:
            return found
        try:
            statements = json.loads(found or "{}").get("Statement", [])
        except (TypeError, ValueError):
            return None
        return next((s for s in statements if s.get("Sid") == check.statement), None)

    def _exists(self, step: Step, found: Any | None) -> Outcome:
        """The resource is there: update it (``instead``) unless it is as planned."""
        check = step.check
        if not step.instead:
            return Outcome(step, "unchanged", "already there")
        if check is not None and found is not None:
            if check.statement is not None and _subset(check.expected, found):
                return Outcome(step, "unchanged", "already there, as planned")
            if check.keys and all(
                _subset(step.call.params[k], found.get(k)) for k in check.keys if k in step.call.params
            ):
                return Outcome(step, "unchanged", "already there, as planned")
        for call in step.instead:
            try:
                self._call(step, call)
            except ClientError as exc:
                raise self._failed(step, call, exc) from None
        return Outcome(step, "updated")

    # -- one call ------------------------------------------------------------------------------

    def _call(self, step: Step, call: Call) -> Any:
        """The call, repeated while AWS answers "not yet" (a retry of the call) or a transient
        error, then its wait, if any."""
        started = self.clock()
        delay = FIRST_BACKOFF
        while True:
            try:
                response = self._send(call)
                break
            except ClientError as exc:
                code, message = error_code(exc), error_message(exc)
                retry = next(
                    (r for r in call.retry if r.code == code and r.message.lower() in message.lower()), None
                )
                limit = retry.seconds if retry else (60.0 if code in TRANSIENT_CODES else None)
                if limit is None or self.clock() - started >= limit:
                    raise
                self.sleep(delay)  # AWS said "not yet"; bounded by the retry's deadline
                delay = min(delay * 2, MAX_BACKOFF)
        if call.wait is not None:
            self._wait(step, call.wait)
        return response

    def _messages(self, call: Call) -> int:
        """How many messages the queue of a delete_queue call holds (SQS's approximate counts)."""
        url = self._resolved(call.params)["QueueUrl"]
        answer = self.clients["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=list(QUEUE_COUNTS))
        return sum(int(answer.get("Attributes", {}).get(name, 0)) for name in QUEUE_COUNTS)

    def _resolved(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The parameters with each queue named by QueueUrlOf replaced by its URL (a missing
        queue raises SQS's ClientError, as the call itself would)."""
        return {
            key: self.clients["sqs"].get_queue_url(QueueName=value.name)["QueueUrl"]
            if isinstance(value, QueueUrlOf)
            else value
            for key, value in params.items()
        }

    def _send(self, call: Call) -> Any:
        try:
            params = self._resolved(call.params)
            body = params.get("Body")
            if isinstance(body, FileBody):
                with body.path.open("rb") as reader:
                    return getattr(self.clients[call.service], call.operation)(**{**params, "Body": reader})
            return getattr(self.clients[call.service], call.operation)(**params)
        except NoCredentialsError:
            raise CredentialsError(
                "no AWS credentials found: sign in (e.g. `aws sso login`) and set AWS_PROFILE"
            ) from None

    def _wait(self, step: Step, wait: Wait) -> None:
        deadline = self.clock() + wait.seconds
        while True:
            try:
                found = self._send(wait.call)
            except ClientError as exc:
                raise self._failed(step, wait.call, exc) from None
            state = found.get(wait.result, {}) if wait.result else found
            for key, values in wait.failed:
                if state.get(key) in values:
                    reasons = "; ".join(str(state[r]) for r in wait.reasons if state.get(r))
                    raise StepFailed(
                        f"{step.what}: {key} is {state.get(key)}" + (f" ({reasons})" if reasons else "")
                    )
            if all(state.get(key) in values for key, values in wait.ready):
                return
            if self.clock() >= deadline:
                shown = ", ".join(f"{key} {state.get(key)}" for key, _ in wait.ready)
                raise WaitTimedOut(
                    f"{step.what}: not ready after {wait.seconds:.0f} s ({shown}); run the command again"
                )
            self.sleep(POLL_SECONDS)  # polling AWS for a state change; bounded by the deadline

    def _empty_bucket(self, step: Step, bucket: str) -> int:
        """Delete every object, version and delete marker of ``bucket`` (destroy --force)."""
        s3 = self.clients["s3"]
        deleted = 0
        try:
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
                keys = [
                    {"Key": item["Key"], "VersionId": item["VersionId"]}
                    for item in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
                ]
                for start in range(0, len(keys), DELETE_BATCH):
                    batch = keys[start : start + DELETE_BATCH]
                    answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
                    if answer.get("Errors"):
                        first = answer["Errors"][0]
                        raise StepFailed(
                            f"{step.what}: cannot delete s3://{bucket}/{first.get('Key')} "
                            f"({first.get('Code')}: {first.get('Message')})"
                        )
                    deleted += len(batch)
        except ClientError as exc:
            raise StepFailed(
                f"{step.what}: cannot empty it ({error_code(exc)}: {error_message(exc)})"
            ) from None
        return deleted

    def _failed(self, step: Step, call: Call, exc: ClientError) -> StepFailed:
        code = error_code(exc)
        advice = dict(step.explain).get(code)
        if advice:
            return StepFailed(f"{step.what}: {advice}")
        if code in {"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"}:
            return StepFailed(
                f"{step.what}: {call.name} was refused ({code}: {error_message(exc)}); the credentials "
                "need permission for it (see `csvpipe deploy --dry-run` for every call deploy makes)"
            )
        return StepFailed(
            f"{step.what}: {call.name} failed ({code}: {error_message(exc)})",
            retryable=code in TRANSIENT_CODES,
        )
