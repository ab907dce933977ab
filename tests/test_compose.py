"""docker-compose.yml and the Dockerfile as files, read without a Docker engine (CI has none).

These tests check what the files declare: valid against the Compose specification, and holding
the services, commands, published ports, health checks, declared dependencies and volumes the
docs describe. No engine runs them here, so whether the services really start in that order or
pass those checks is not tested; tests/e2e/test_ministack.py runs the ``init`` and ``glue``
services' commands, read from this file, against an emulator."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"
DOCKERFILE = REPO / "Dockerfile"


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())["services"]


@pytest.mark.slow
def test_compose_file_matches_the_compose_spec() -> None:
    checker = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_file_declares_five_services_and_their_commands(services: dict[str, Any]) -> None:
    assert set(services) == {"localstack", "init", "glue", "dashboard", "watcher"}
    commands = {name: services[name]["command"] for name in ("init", "glue", "dashboard", "watcher")}
    assert commands == {
        "init": ["sh", "-c", "exec csvpipe deploy --zip /opt/csvpipe/build/csvpipe-preprocess-*.zip"],
        "glue": ["csvpipe", "glue-worker"],
        "dashboard": ["csvpipe", "dashboard", "--port", "8501"],
        "watcher": ["csvpipe", "watch", "/data/inbox"],
    }


def test_the_emulator_image_is_pinned_overridable_and_published_on_loopback_only(
    services: dict[str, Any],
) -> None:
    emulator = services["localstack"]
    assert emulator["image"] == "${AWS_EMULATOR_IMAGE:-${LOCALSTACK_IMAGE:-localstack/localstack:4.14.0}}"
    assert emulator["ports"] == ["127.0.0.1:4566:4566"]
    assert emulator["environment"]["LOCALSTACK_AUTH_TOKEN"] == "${LOCALSTACK_AUTH_TOKEN:-}"
    assert set(emulator["environment"]["SERVICES"].split(",")) >= {"s3", "sqs", "lambda", "iam"}
    assert "/var/run/docker.sock:/var/run/docker.sock" in emulator["volumes"]
    assert emulator["environment"]["LAMBDA_DOCKER_NETWORK"] == "csvpipe_default"
    assert yaml.safe_load(COMPOSE.read_text())["name"] == "csvpipe"  # so the network is csvpipe_default


def test_every_csvpipe_service_is_configured_for_the_emulator_on_the_localstack_profile(
    services: dict[str, Any],
) -> None:
    for name in ("init", "glue", "dashboard", "watcher"):
        environment = services[name]["environment"]
        assert environment["CSVPIPE_PROFILE"] == "localstack", name
        assert environment["CSVPIPE_ENDPOINT_URL"] == "http://localstack:4566", name
        assert services[name]["image"] == "csvpipe:local" and services[name]["build"] == ".", name


def test_declared_dependencies_put_init_after_a_healthy_emulator_and_the_rest_after_init(
    services: dict[str, Any],
) -> None:
    assert services["init"]["depends_on"] == {"localstack": {"condition": "service_healthy"}}
    for name in ("glue", "dashboard", "watcher"):
        assert services[name]["depends_on"] == {"init": {"condition": "service_completed_successfully"}}
    assert services["init"]["restart"] == "no"
    for name in ("glue", "dashboard", "watcher"):
        assert services[name]["restart"] == "unless-stopped"


def test_the_emulator_and_the_dashboard_declare_health_checks(services: dict[str, Any]) -> None:
    emulator_check = services["localstack"]["healthcheck"]["test"]
    assert emulator_check[:3] == ["CMD", "python3", "-c"]
    compile(emulator_check[3], "healthcheck", "exec")  # the inline script is valid Python
    assert "/_localstack/health" in emulator_check[3] and "/_ministack/ready" in emulator_check[3]
    dashboard_check = services["dashboard"]["healthcheck"]["test"]
    assert "http://localhost:8501/_stcore/health" in dashboard_check[-1]
    assert services["dashboard"]["ports"] == ["127.0.0.1:8501:8501"]


def test_data_folders_are_declared_as_named_volumes(services: dict[str, Any]) -> None:
    assert set(yaml.safe_load(COMPOSE.read_text())["volumes"]) == {"localstack-data", "csvpipe-data"}
    assert "localstack-data:/var/lib/localstack" in services["localstack"]["volumes"]
    for name in ("init", "glue", "dashboard", "watcher"):
        assert "csvpipe-data:/data" in services[name]["volumes"], name
    assert "./data/inbox:/data/inbox" in services["watcher"]["volumes"]


def test_one_dockerfile_on_a_pinned_base_whose_build_packages_the_lambda_zip() -> None:
    text = DOCKERFILE.read_text()
    (base,) = re.findall(r"^FROM (\S+)", text, flags=re.MULTILINE)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+", base), base
    assert "csvpipe --set data_dir=/opt/csvpipe package lambda --from-installed" in text
    assert "USER csvpipe" in text
