"""The IAM policies deploy writes: clean for the policy linter (PyPI's parliament), and no action
or resource wider than the role needs. Each role's grants are listed here in full, so a policy
that grows fails until the test says why it must."""

from __future__ import annotations

import json
from typing import Any

import pytest
from parliament import analyze_policy_string

from pipeline.deploy.plan import Names, Target, names_of, roles, trust_policy
from pipeline.settings import load_settings

ACCOUNT, REGION = "123456789012", "eu-west-1"
TARGET = Target(account=ACCOUNT, region=REGION)
SETTINGS = load_settings(profile="aws", environ={}, config_path=None, overrides={"region": REGION})
NAMES = names_of(SETTINGS)
RAW, PROCESSED, FINAL, ARTIFACTS = NAMES.raw, NAMES.processed, NAMES.final, NAMES.artifacts
GLUE = f"arn:aws:glue:{REGION}:{ACCOUNT}"
LOGS = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group"

CATALOG = [f"{GLUE}:catalog", f"{GLUE}:database/csvpipe", f"{GLUE}:table/csvpipe/*"]
EXPECTED: dict[str, set[tuple[str, str]]] = {
    "lambda": {
        ("s3:GetObject", f"arn:aws:s3:::{RAW}/*"),
        ("s3:ListBucket", f"arn:aws:s3:::{RAW}"),
        ("s3:PutObject", f"arn:aws:s3:::{PROCESSED}/*"),
        ("s3:AbortMultipartUpload", f"arn:aws:s3:::{PROCESSED}/*"),
        ("s3:DeleteObject", f"arn:aws:s3:::{PROCESSED}/_rejects/*"),
        ("logs:CreateLogStream", f"{LOGS}:/aws/lambda/csvpipe-preprocess:*"),
        ("logs:PutLogEvents", f"{LOGS}:/aws/lambda/csvpipe-preprocess:*"),
        ("sqs:SendMessage", f"arn:aws:sqs:{REGION}:{ACCOUNT}:csvpipe-preprocess-dlq"),
    },
    "glue": {
        ("s3:GetObject", f"arn:aws:s3:::{PROCESSED}/*"),
        ("s3:ListBucket", f"arn:aws:s3:::{PROCESSED}"),
        ("s3:PutObject", f"arn:aws:s3:::{PROCESSED}/_runs/*"),
        ("s3:GetObject", f"arn:aws:s3:::{FINAL}/*"),
        ("s3:PutObject", f"arn:aws:s3:::{FINAL}/*"),
        ("s3:DeleteObject", f"arn:aws:s3:::{FINAL}/*"),
        ("s3:ListBucket", f"arn:aws:s3:::{FINAL}"),
        ("s3:GetObject", f"arn:aws:s3:::{ARTIFACTS}/glue/*"),
        ("s3:ListBucket", f"arn:aws:s3:::{ARTIFACTS}"),  # only under glue/ (a condition)
        *(
            (action, resource)
            for action in (
                "glue:GetDatabase",
                "glue:GetTable",
                "glue:GetTables",
                "glue:CreateTable",
                "glue:UpdateTable",
                "glue:GetPartition",
                "glue:GetPartitions",
                "glue:BatchGetPartition",
                "glue:CreatePartition",
                "glue:BatchCreatePartition",
                "glue:UpdatePartition",
                "glue:BatchUpdatePartition",
            )
            for resource in CATALOG
        ),
        ("glue:GetCrawler", f"{GLUE}:crawler/csvpipe-processed"),
        ("glue:ListCrawls", f"{GLUE}:crawler/csvpipe-processed"),
        ("glue:GetJobRuns", f"{GLUE}:job/csvpipe-transforms"),
        *(
            (action, resource)
            for action in ("logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents")
            for resource in (
                f"{LOGS}:/aws-glue/crawlers:*",
                f"{LOGS}:/aws-glue/jobs/*",
                f"{LOGS}:/aws-glue/python-jobs/*",
            )
        ),
    },
    "quicksight": {
        ("s3:GetObject", f"arn:aws:s3:::{FINAL}/*"),
        ("s3:ListBucket", f"arn:aws:s3:::{FINAL}"),
        ("s3:GetBucketLocation", f"arn:aws:s3:::{FINAL}"),
    },
    "events": {("glue:NotifyEvent", f"{GLUE}:workflow/csvpipe-glue")},
}


def grants(policy: dict[str, Any]) -> set[tuple[str, str]]:
    found = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement and "NotResource" not in statement
        for action in statement["Action"]:
            for resource in statement["Resource"]:
                found.add((action, resource))
    return found


def by_service(names: Names = NAMES, target: Target = TARGET) -> dict[str, dict[str, Any]]:
    return {role.service: role.policy for role in roles(names, target)}


def test_each_role_has_exactly_the_grants_it_needs() -> None:
    assert {service: grants(policy) for service, policy in by_service().items()} == EXPECTED


@pytest.mark.parametrize("service", sorted(EXPECTED))
def test_the_policy_linter_finds_nothing(service: str) -> None:
    analysed = analyze_policy_string(json.dumps(by_service()[service]), include_community_auditors=True)
    assert [(f.issue, f.detail) for f in analysed.findings] == []


def test_the_linter_would_catch_a_mistake() -> None:
    """The linter is not silent by default: a bucket action on an object ARN is a finding."""
    wrong = {
        "Version": "2012-10-17",
        "Statement": [
            {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": [f"arn:aws:s3:::{RAW}/*"]}
        ],
    }
    assert [f.issue for f in analyze_policy_string(json.dumps(wrong)).findings] == ["RESOURCE_MISMATCH"]


@pytest.mark.parametrize("service", sorted(EXPECTED))
def test_no_wildcard_action_and_no_resource_outside_csvpipe(service: str) -> None:
    own = (RAW, PROCESSED, FINAL, ARTIFACTS, "csvpipe")
    # Beyond csvpipe's names: the account's catalog (Glue checks it for every catalog action)
    # and the log groups Glue writes to, whose names Glue fixes.
    services = (f"{GLUE}:catalog", f"{LOGS}:/aws-glue/")
    for action, resource in grants(by_service()[service]):
        assert "*" not in action, action
        assert resource != "*" and resource.count("*") <= 1, resource
        assert any(name in resource for name in own) or resource.startswith(services), resource
        assert not resource.startswith("arn:aws:s3:::*")


def test_who_may_write_where() -> None:
    policies = by_service()
    writes = {"s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"}

    def written(service: str) -> set[str]:
        return {r for a, r in grants(policies[service]) if a in writes}

    # Nobody but S3 uploads writes raw; the Lambda never touches final; QuickSight only reads.
    assert not any(RAW in r for service in policies for r in written(service))
    assert not any(FINAL in r for _, r in grants(policies["lambda"]))
    assert written("quicksight") == set()
    assert all(a.split(":")[1].startswith(("Get", "List")) for a, _ in grants(policies["quicksight"]))
    # The Glue role writes processed only for run records, and changes only its own database.
    assert {r for r in written("glue") if PROCESSED in r} == {f"arn:aws:s3:::{PROCESSED}/_runs/*"}
    catalog_writes = {
        r
        for a, r in grants(policies["glue"])
        if a.startswith("glue:") and not a.startswith(("glue:Get", "glue:List"))
    }
    assert catalog_writes - set(CATALOG) == set()
    assert not any("Delete" in a for a, _ in grants(policies["glue"]) if a.startswith("glue:"))


def test_artifacts_listing_is_limited_to_the_glue_folder() -> None:
    (statement,) = [s for s in by_service()["glue"]["Statement"] if s["Sid"] == "ListJobFiles"]
    assert statement["Condition"] == {"StringLike": {"s3:prefix": ["glue/*"]}}


def test_the_csvpipe_backend_creates_no_glue_or_events_role() -> None:
    names = names_of(load_settings(profile="localstack", environ={}, config_path=None))
    assert sorted(by_service(names)) == ["lambda", "quicksight"]


@pytest.mark.parametrize("service", sorted(EXPECTED))
def test_trust_policies_name_one_service_and_nothing_else(service: str) -> None:
    (statement,) = trust_policy(service)["Statement"]
    assert statement == {
        "Effect": "Allow",
        "Principal": {"Service": f"{service}.amazonaws.com"},
        "Action": "sts:AssumeRole",
    }
