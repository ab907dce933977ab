"""docker-compose.yml is valid against the Compose specification, checked without an engine."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
COMPOSE = REPO / "docker-compose.yml"


def test_compose_file_matches_the_compose_spec() -> None:
    checker = Path(sys.executable).with_name("check-jsonschema")
    result = subprocess.run(
        [str(checker), "--builtin-schema", "vendor.compose-spec", str(COMPOSE)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_localstack_is_pinned_and_bound_to_loopback() -> None:
    service = yaml.safe_load(COMPOSE.read_text())["services"]["localstack"]
    assert service["image"] == "localstack/localstack:4.14.0"
    assert service["ports"] == ["127.0.0.1:4566:4566"]
    assert "LOCALSTACK_AUTH_TOKEN" in service["environment"]
    assert service["healthcheck"]["test"][-1].endswith("/_localstack/health")
