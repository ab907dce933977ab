"""``csvpipe deploy`` and ``csvpipe destroy`` as a user runs them, on the aws profile pointed at
the real emulator (only the endpoint differs from AWS); ``--export cloudformation`` offline;
mistakes as one line. Nothing here reaches beyond 127.0.0.1."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import ClientError

from emulators.aws_emulator import AwsEmulator
from pipeline.package.build import build_lambda_zip, host_target
from tests.conftest import cli

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def built_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built offline from this environment, as `csvpipe package lambda --from-installed` does."""
    return build_lambda_zip(host_target(None, None), tmp_path_factory.mktemp("zip"), from_installed=True).path


@pytest.fixture
def env(emulator: AwsEmulator, unique: str) -> dict[str, str]:
    """The aws profile, with the emulator as its endpoint and names of this test's own."""
    return {
        "CSVPIPE_PROFILE": "aws",
        "CSVPIPE_ENDPOINT_URL": emulator.endpoint,
        "CSVPIPE_AWS_ACCESS_KEY_ID": "testing",
        "CSVPIPE_AWS_SECRET_ACCESS_KEY": "testing",
        "CSVPIPE_STACK_NAME": f"e{unique}",
        "CSVPIPE_RAW_BUCKET": f"raw-{unique}",
        "CSVPIPE_PROCESSED_BUCKET": f"processed-{unique}",
        "CSVPIPE_FINAL_BUCKET": f"final-{unique}",
        "CSVPIPE_ARTIFACTS_BUCKET": f"artifacts-{unique}",
        "CSVPIPE_GLUE_DATABASE": f"db_{unique}",
        "CSVPIPE_LAMBDA_FUNCTION_NAME": f"preprocess-{unique}",
    }


def s3_of(emulator: AwsEmulator) -> object:
    return boto3.client(
        "s3",
        endpoint_url=emulator.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def sqs_of(emulator: AwsEmulator) -> object:
    return boto3.client(
        "sqs",
        endpoint_url=emulator.endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def queue_exists(sqs: object, name: str) -> bool:
    try:
        sqs.get_queue_url(QueueName=name)  # type: ignore[attr-defined]
    except ClientError:
        return False
    return True


def bucket_exists(s3: object, bucket: str) -> bool:
    try:
        s3.head_bucket(Bucket=bucket)  # type: ignore[attr-defined]
    except ClientError:
        return False
    return True


def test_dry_run_prints_every_call_and_changes_nothing(
    tmp_path: Path, env: dict[str, str], emulator: AwsEmulator
) -> None:
    result = cli("deploy", "--dry-run", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith(f"deploy plan for stack {env['CSVPIPE_STACK_NAME']}, account 123456789012, ")
    assert "dry run: nothing was changed" in out
    assert out.splitlines()[1].startswith("estimated cost: $")  # before the plan's steps
    for call in (
        "s3.create_bucket",
        "s3.put_bucket_encryption",
        "s3.put_public_access_block",
        "iam.create_role",
        "iam.put_role_policy",
        "lambda.create_function",
        "sqs.create_queue",
        "lambda.put_function_event_invoke_config",
        "glue.create_crawler",
        "glue.create_job",
        "events.put_rule",
    ):
        assert f"     {call}\n" in out, call
    assert out.index("lambda.add_permission") < out.index("put_bucket_notification_configuration")
    assert "built when deploying>" in out  # a dry run builds no zip
    assert not list((tmp_path / "data" / "build").glob("*.zip"))
    assert not bucket_exists(s3_of(emulator), env["CSVPIPE_RAW_BUCKET"])


def test_deploy_and_destroy(
    tmp_path: Path, env: dict[str, str], emulator: AwsEmulator, built_zip: Path
) -> None:
    s3, sqs = s3_of(emulator), sqs_of(emulator)
    try:
        deployed = cli("deploy", "--zip", str(built_zip), cwd=tmp_path, env=env)
        assert deployed.returncode == 0, deployed.stderr
        lines = deployed.stdout.splitlines()
        assert lines[0].startswith(f"deploying stack {env['CSVPIPE_STACK_NAME']}, account 123456789012")
        assert f"  created   function {env['CSVPIPE_LAMBDA_FUNCTION_NAME']} (" in deployed.stdout
        assert f"  created   Glue crawler e{env['CSVPIPE_STACK_NAME'][1:]}-processed" in deployed.stdout
        assert lines[-3].startswith(f"deployed: files put in s3://{env['CSVPIPE_RAW_BUCKET']}/<dataset>/")

        again = cli("deploy", "--zip", str(built_zip), cwd=tmp_path, env=env)
        assert again.returncode == 0, again.stderr
        assert "  created " not in again.stdout

        s3.put_object(Bucket=env["CSVPIPE_RAW_BUCKET"], Key="movies/movies.csv", Body=b"a\n1\n")  # type: ignore[attr-defined]
        dead_letters = f"{env['CSVPIPE_STACK_NAME']}-preprocess-dlq"
        url = sqs.get_queue_url(QueueName=dead_letters)["QueueUrl"]  # type: ignore[attr-defined]
        sqs.send_message(QueueUrl=url, MessageBody="{}")  # type: ignore[attr-defined]
        kept = cli("destroy", cwd=tmp_path, env=env)
        assert kept.returncode == 0, kept.stderr
        assert f"  kept      raw bucket {env['CSVPIPE_RAW_BUCKET']}" in kept.stdout
        assert f"  kept      dead-letter queue {dead_letters} (1 message(s) in it: " in kept.stdout
        assert (
            f"kept 1 dead-letter queue(s) with failed events in them: {dead_letters}; "
            "`csvpipe destroy --force` deletes them and their messages"
        ) in kept.stdout
        assert queue_exists(sqs, dead_letters)
        assert kept.stdout.rstrip().endswith("`csvpipe destroy --force` deletes them and their objects")
        assert bucket_exists(s3, env["CSVPIPE_RAW_BUCKET"])
        assert not bucket_exists(s3, env["CSVPIPE_FINAL_BUCKET"])
    finally:
        forced = cli("destroy", "--force", cwd=tmp_path, env=env)
    assert forced.returncode == 0, forced.stderr
    assert forced.stdout.rstrip().endswith("destroyed")
    assert not bucket_exists(s3, env["CSVPIPE_RAW_BUCKET"])
    assert not queue_exists(sqs, f"{env['CSVPIPE_STACK_NAME']}-preprocess-dlq")


def test_destroy_dry_run_lists_the_deletes(tmp_path: Path, env: dict[str, str]) -> None:
    result = cli("destroy", "--dry-run", "--force", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    assert "     s3.delete_bucket\n" in result.stdout
    assert "not empty: every object (and version) is deleted first (--force)" in result.stdout


def test_export_cloudformation_needs_no_account(tmp_path: Path) -> None:
    env = {"CSVPIPE_PROFILE": "aws", "AWS_EC2_METADATA_DISABLED": "true"}
    result = cli("deploy", "--export", "cloudformation", "--out", "cfn", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    template = json.loads((tmp_path / "cfn" / "cloudformation.json").read_text())
    assert template["Resources"]["PreprocessFunction"]["Type"] == "AWS::Lambda::Function"
    assert (tmp_path / "cfn" / "glue" / "csvpipe_transforms.py").is_file()
    assert (tmp_path / "cfn" / "glue" / "csvpipe_records.py").is_file()
    assert "aws cloudformation deploy --stack-name csvpipe --template-file " in result.stdout
    assert "--capabilities CAPABILITY_NAMED_IAM" in result.stdout


@pytest.mark.parametrize(
    ("args", "extra", "message"),
    [
        (["deploy"], {"CSVPIPE_PROFILE": "local"}, "error: the local profile needs no deploy: `csvpipe up`"),
        (["destroy"], {"CSVPIPE_PROFILE": "local"}, "error: the local profile needs no deploy"),
        (
            ["deploy", "--export", "yaml"],
            {},
            "error: --export 'yaml': the format csvpipe exports is cloudformation",
        ),
        (["deploy", "--zip", "missing.zip"], {}, "error: missing.zip: no such file"),
        (
            ["deploy", "--zip", "z", "--from-installed"],
            {},
            "error: give at most one of --zip, --from-installed",
        ),
        (
            ["--set", "glue_backend=spark", "deploy", "--dry-run"],
            {},
            "error: setting 'glue_backend' (--set glue_backend) must be one of csvpipe, aws-glue",
        ),
    ],
)
def test_mistakes_are_one_line(
    tmp_path: Path, env: dict[str, str], args: list[str], extra: dict[str, str], message: str
) -> None:
    result = cli(*args, cwd=tmp_path, env={**env, **extra})
    assert result.returncode == 1, result.stdout
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(message)


def test_no_credentials_is_one_line(tmp_path: Path, emulator: AwsEmulator) -> None:
    """No credentials anywhere in the standard chain: csvpipe says how to sign in. (The endpoint is
    the emulator, so nothing could leave this machine even if some were found.)"""
    env = {
        "CSVPIPE_PROFILE": "aws",
        "CSVPIPE_ENDPOINT_URL": emulator.endpoint,
        "HOME": str(tmp_path),
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    result = cli("deploy", "--dry-run", cwd=tmp_path, env=env)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: no AWS credentials found: sign in with `aws sso login --profile NAME`")
