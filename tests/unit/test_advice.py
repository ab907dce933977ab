"""The advice for an endpoint that does not answer, or a bucket it does not have, fits the
profile: the dashboard's messages included (the CLI's are tested end to end in
tests/e2e/test_cli_advice.py)."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from dashboards.source import unavailable
from pipeline.advice import endpoint_of
from pipeline.settings import load_settings

NO_BUCKET = ClientError({"Error": {"Code": "NoSuchBucket", "Message": "gone"}}, "ListObjectsV2")


@pytest.mark.parametrize(
    ("profile", "unreachable", "no_bucket"),
    [
        (
            "local",
            "Is the stack running? Start it with `csvpipe up --detach`.",
            "`csvpipe up --detach` creates it",
        ),
        (
            "localstack",
            "Is LocalStack running at http://127.0.0.1:9? Start it with `csvpipe --profile localstack up`",
            "`csvpipe --profile localstack up` creates it",
        ),
        (
            "aws",
            "Check the endpoint_url you set (http://127.0.0.1:9), your network connection",
            "Deploy the pipeline with `csvpipe --profile aws deploy`",
        ),
    ],
)
def test_the_dashboards_advice_fits_the_profile(profile: str, unreachable: str, no_bucket: str) -> None:
    settings = load_settings(
        profile=profile, overrides={"endpoint_url": "http://127.0.0.1:9"}, environ={}, config_path=None
    )
    down = unavailable(settings, EndpointConnectionError(endpoint_url="http://127.0.0.1:9/b"), "b")
    assert unreachable in str(down)
    missing = unavailable(settings, NO_BUCKET, "b")
    assert no_bucket in str(missing)
    if profile != "local":
        assert "up --detach" not in str(down) + str(missing)


def test_the_endpoint_not_the_request_is_named() -> None:
    assert endpoint_of("http://127.0.0.1:4577/bucket?list-type=2&prefix=_runs%2F") == "http://127.0.0.1:4577"
    assert endpoint_of("https://s3.eu-west-1.amazonaws.com/x") == "https://s3.eu-west-1.amazonaws.com"
    assert endpoint_of(None) == "the AWS endpoint"
