"""Helpers shared by functional and end-to-end tests: an S3 event as S3 sends it, a fixture
Lambda function on the local runtime, and a queue's depth."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from emulators.lambda_runtime import FunctionConfig, LocalLambda
from pipeline.aws import Clients
from tests.conftest import REPO


def s3_event(bucket: str, objects: list[tuple[str, str, int]]) -> dict[str, Any]:
    """An ObjectCreated:Put event as S3 sends it: keys URL-encoded by the caller."""
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": "us-east-1",
                "eventTime": "2026-11-25T12:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "csvpipe-csv",
                    "bucket": {"name": bucket, "arn": f"arn:aws:s3:::{bucket}"},
                    "object": {"key": encoded, "size": size, "eTag": etag},
                },
            }
            for encoded, etag, size in objects
        ]
    }


def fixture_function(tmp_path: Path, handler: str, timeout: int = 5, memory_mb: int = 256) -> LocalLambda:
    return LocalLambda(
        FunctionConfig(
            name="fixture-fn",
            handler=f"tests.functional.lambda_functions.{handler}",
            timeout=timeout,
            memory_mb=memory_mb,
            region="us-east-1",
            environment={"PYTHONPATH": str(REPO)},
            tmp_dir=tmp_path / "lambda-tmp",
            log_path=tmp_path / "lambda.log",
        )
    ).start()


def queue_depth(clients: Clients, url: str) -> int:
    attributes = clients.sqs.get_queue_attributes(
        QueueUrl=url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(
        attributes["ApproximateNumberOfMessagesNotVisible"]
    )


def as_unprivileged_user() -> list[str]:
    """A command prefix: root reads any file or folder whatever its mode, so as root the command
    runs as nobody instead; nothing otherwise."""
    return ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"] if os.geteuid() == 0 else []
