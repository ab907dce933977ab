"""Idempotent creation of what the pipeline needs in the emulator (or an account): the three
buckets, the S3 -> SQS event path with its dead-letter queue, and the catalog database.

Run on every start: creating what exists already changes nothing.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from pipeline import layout
from pipeline.aws import Clients
from pipeline.catalog.crawler import ensure_database
from pipeline.layout import CSV_SUFFIXES
from pipeline.settings import Settings

MAX_RECEIVES = 3  # one try and two retries, as Lambda's asynchronous invocation, then the DLQ


def dead_letter_queue_of(queue_name: str) -> str:
    """The name of a queue's dead-letter queue, as ensure_notified_queue makes it."""
    return f"{queue_name}-dlq"


def dead_letter_queue_name(settings: Settings) -> str:
    """The event queue's dead-letter queue: where an event lands after MAX_RECEIVES failures."""
    return dead_letter_queue_of(settings.queue_name)


@dataclass(frozen=True)
class EventQueue:
    url: str
    arn: str
    dlq_url: str


def ensure_bucket(s3: Any, bucket: str, region: str) -> None:
    try:
        s3.head_bucket(Bucket=bucket)
        return
    except s3.exceptions.ClientError:
        pass
    kwargs: dict[str, Any] = {"Bucket": bucket}
    if region != "us-east-1":
        kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
    with contextlib.suppress(s3.exceptions.BucketAlreadyOwnedByYou, s3.exceptions.BucketAlreadyExists):
        s3.create_bucket(**kwargs)


def ensure_notified_queue(
    clients: Clients,
    queue_name: str,
    bucket: str,
    rules: dict[str, list[dict[str, str]]],
    visibility_seconds: int,
) -> EventQueue:
    """A queue that ``bucket`` notifies of created objects, with its dead-letter queue. ``rules``
    maps a notification id to its key filter rules (S3 allows one prefix and one suffix each).
    Replaces the bucket's notification configuration: csvpipe owns its buckets."""
    sqs = clients.sqs
    dlq_url = sqs.create_queue(QueueName=dead_letter_queue_of(queue_name))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(QueueName=queue_name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": arn,
                "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"}},
            }
        ],
    }
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={
            "Policy": json.dumps(policy),
            # Longer than the work on one message may take, so it is not handed out twice.
            "VisibilityTimeout": str(visibility_seconds),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)}
            ),
        },
    )
    clients.s3.put_bucket_notification_configuration(
        Bucket=bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": notification_id,
                    "QueueArn": arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": filter_rules}},
                }
                for notification_id, filter_rules in rules.items()
            ]
        },
    )
    return EventQueue(url=url, arn=arn, dlq_url=dlq_url)


def ensure_event_queue(clients: Clients) -> EventQueue:
    """The queue S3 sends raw-bucket events to (``.csv`` and ``.csv.gz``), and its DLQ."""
    settings = clients.settings
    rules = {
        f"csvpipe-{suffix.strip('.').replace('.', '-')}": [{"Name": "suffix", "Value": suffix}]
        for suffix in CSV_SUFFIXES
    }
    return ensure_notified_queue(
        clients, settings.queue_name, settings.raw_bucket, rules, settings.lambda_timeout + 30
    )


def processed_queue_name(settings: Settings) -> str:
    return f"{settings.queue_name}-processed"


def ensure_processed_queue(clients: Clients) -> EventQueue:
    """The queue the processed bucket notifies when a preprocess run record is written: how a
    Glue stand-in running apart from the Lambda (docker compose) learns that a file is ready."""
    settings = clients.settings
    rules = {
        "csvpipe-preprocessed": [
            {"Name": "prefix", "Value": layout.RUNS_PREFIX},
            {"Name": "suffix", "Value": "/preprocess.json"},
        ]
    }
    return ensure_notified_queue(
        clients, processed_queue_name(settings), settings.processed_bucket, rules, 900
    )


def provision(clients: Clients) -> EventQueue:
    settings = clients.settings
    for bucket in (settings.raw_bucket, settings.processed_bucket, settings.final_bucket):
        ensure_bucket(clients.s3, bucket, settings.region)
    ensure_database(clients.glue, settings.glue_database)
    return ensure_event_queue(clients)
