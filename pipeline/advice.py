"""What to do when csvpipe cannot reach its endpoint, by profile: one place for that advice.

Why: the same error (no answer from the S3/Glue endpoint) has a different cause and fix per
profile. Telling an AWS user to `csvpipe up --detach` (the local stack's fix) sends them the
wrong way; every error about reaching the endpoint takes its advice from here.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from pipeline.settings import Settings


def endpoint_of(url: str | None) -> str:
    """``http://127.0.0.1:4577/bucket?list-type=2`` -> ``http://127.0.0.1:4577``: the endpoint,
    not the request that failed."""
    if not url:
        return "the AWS endpoint"
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else url


def unreachable_advice(settings: Settings) -> str:
    """The fix for an endpoint that does not answer, for the settings' profile."""
    if settings.profile == "local":
        return "is the stack running? Start it with `csvpipe up --detach`"
    if settings.profile == "localstack":
        return (
            f"is LocalStack running at {settings.endpoint_url}? Start it with "
            "`csvpipe --profile localstack up` (or `docker compose up`), or point endpoint_url at it"
        )
    custom = f"the endpoint_url you set ({settings.endpoint_url}), " if settings.endpoint_url else ""
    return (
        f"check {custom}your network connection, and that region {settings.region} and your AWS "
        "credentials (AWS_PROFILE or `aws configure`) are right"
    )


def missing_bucket_advice(settings: Settings) -> str:
    """The fix for a bucket that the endpoint does not have, for the settings' profile."""
    if settings.profile == "local":
        return "is the stack running? `csvpipe up --detach` creates it"
    if settings.profile == "localstack":
        return "is the compose stack up? `csvpipe --profile localstack up` creates it"
    return "deploy the pipeline with `csvpipe --profile aws deploy`, or check the bucket settings"
