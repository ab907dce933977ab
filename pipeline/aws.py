"""The one place boto3 clients are built.

Why: an emulator and AWS differ only by endpoint and credentials. Building every client here,
from the settings, means every client can be pointed at the emulator (``endpoint_url=None``
means real AWS and the standard credential chain).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError

from pipeline.settings import Settings


def client(settings: Settings, service: str) -> Any:
    """A boto3 client for ``service`` configured from ``settings``."""
    config = Config(
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
        s3={"addressing_style": "path"} if settings.emulated else None,
    )
    kwargs: dict[str, Any] = {"region_name": settings.region, "config": config}
    if settings.endpoint_url:
        kwargs["endpoint_url"] = settings.endpoint_url
    if settings.aws_access_key_id and settings.aws_secret_access_key:
        kwargs["aws_access_key_id"] = settings.aws_access_key_id
        kwargs["aws_secret_access_key"] = settings.aws_secret_access_key
    return boto3.session.Session().client(service, **kwargs)


@dataclass
class Clients:
    """The clients a piece of csvpipe needs, built lazily from one settings object."""

    settings: Settings

    @cached_property
    def s3(self) -> Any:
        return client(self.settings, "s3")

    @cached_property
    def sqs(self) -> Any:
        return client(self.settings, "sqs")

    @cached_property
    def glue(self) -> Any:
        return client(self.settings, "glue")

    @cached_property
    def functions(self) -> Any:
        """Lambda's client (``lambda`` is a keyword)."""
        return client(self.settings, "lambda")


def endpoint_fault(exc: BaseException) -> bool:
    """Whether ``exc`` (or what it was raised from) is the endpoint's fault, not the data's: no
    connection, a connection cut, a timeout, a 5xx answer. Such a failure says nothing about the
    run; the same work succeeds once the endpoint is back."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, BotoCoreError) and not isinstance(current, ParamValidationError):
            return True
        if isinstance(current, ClientError):
            status = int(current.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if status >= 500:
                return True
        current = current.__cause__ or current.__context__
    return False
