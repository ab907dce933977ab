"""Idempotent creation of what the pipeline needs in the emulator (or an account): the three
buckets, the S3 -> SQS event path with its dead-letter queue, and the catalog database.

Run on every start: creating what exists already changes nothing.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from pipeline.aws import Clients
from pipeline.catalog.crawler import ensure_database
from pipeline.layout import CSV_SUFFIXES
from pipeline.settings import Settings

MAX_RECEIVES = 3  # one try and two retries, as Lambda's asynchronous invocation, then the DLQ


def dead_letter_queue_name(settings: Settings) -> str:
    """The event queue's dead-letter queue: where an event lands after MAX_RECEIVES failures."""
    return f"{settings.queue_name}-dlq"


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


def ensure_event_queue(clients: Clients) -> EventQueue:
    """The queue S3 sends raw-bucket events to, its DLQ, and the bucket notification."""
    settings, sqs = clients.settings, clients.sqs
    dlq_url = sqs.create_queue(QueueName=dead_letter_queue_name(settings))["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    url = sqs.create_queue(QueueName=settings.queue_name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": arn,
                "Condition": {"ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{settings.raw_bucket}"}},
            }
        ],
    }
    sqs.set_queue_attributes(
        QueueUrl=url,
        Attributes={
            "Policy": json.dumps(policy),
            # Longer than an invocation may take, so a message in work is not handed out twice.
            "VisibilityTimeout": str(settings.lambda_timeout + 30),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVES)}
            ),
        },
    )
    clients.s3.put_bucket_notification_configuration(
        Bucket=settings.raw_bucket,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "Id": f"csvpipe-{suffix.strip('.').replace('.', '-')}",
                    "QueueArn": arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "suffix", "Value": suffix}]}},
                }
                for suffix in CSV_SUFFIXES
            ]
        },
    )
    return EventQueue(url=url, arn=arn, dlq_url=dlq_url)


def provision(clients: Clients) -> EventQueue:
    settings = clients.settings
    for bucket in (settings.raw_bucket, settings.processed_bucket, settings.final_bucket):
        ensure_bucket(clients.s3, bucket, settings.region)
    ensure_database(clients.glue, settings.glue_database)
    return ensure_event_queue(clients)
