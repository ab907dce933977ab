"""Every error's advice fits the profile in use: an endpoint that does not answer is the local
stack not running on the local profile, LocalStack not running on the localstack profile, and
the network, region or credentials on the aws profile (never `csvpipe up --detach` there).
The endpoint is a closed port on 127.0.0.1: no network is used."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import cli, free_port

# Every test here takes a second or more on a 2-core machine: left out of the quick tier.
pytestmark = pytest.mark.slow

# Credentials of no account: the aws profile then gets as far as the endpoint.
NO_ACCOUNT = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "example"}


@pytest.mark.parametrize(
    ("profile", "command", "advice"),
    [
        ("local", ["rejects"], "is the stack running? Start it with `csvpipe up --detach`"),
        (
            "localstack",
            ["rejects"],
            "is LocalStack running at {url}? Start it with `csvpipe --profile localstack up` "
            "(or `docker compose up`), or point endpoint_url at it",
        ),
        (
            "aws",
            ["deploy", "--dry-run"],
            "check the endpoint_url you set ({url}), your network connection, and that region "
            "us-east-1 and your AWS credentials (AWS_PROFILE or `aws configure`) are right",
        ),
        (
            "aws",
            ["rejects"],
            "check the endpoint_url you set ({url}), your network connection, and that region "
            "us-east-1 and your AWS credentials (AWS_PROFILE or `aws configure`) are right",
        ),
    ],
    ids=["local", "localstack", "aws-deploy-dry-run", "aws-rejects"],
)
def test_an_unreachable_endpoint_gets_the_profiles_advice(
    tmp_path: Path, profile: str, command: list[str], advice: str
) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    env = {**NO_ACCOUNT, "AWS_DEFAULT_REGION": "us-east-1"}
    result = cli("--profile", profile, "--set", f"endpoint_url={url}", *command, cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"error: cannot reach {url}: {advice.format(url=url)}"]
    assert "Traceback" not in result.stdout + result.stderr
    if profile != "local":
        assert "up --detach" not in result.stderr


def test_doctor_on_aws_gives_network_advice_when_nothing_answers(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    result = cli("--profile", "aws", "--set", f"endpoint_url={url}", "doctor", cwd=tmp_path, env=NO_ACCOUNT)
    assert result.returncode == 1
    (fix,) = [line for line in result.stdout.splitlines() if line.startswith("fix ")]
    assert fix.startswith(f"fix credentials: check the endpoint_url you set ({url}), your network connection")
    assert "up --detach" not in result.stdout
