"""`csvpipe transform --check` and `csvpipe package glue` as a user runs them: no stack needed."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from tests.conftest import cli

# Every test here takes a second or more on a 2-core machine: left out of the quick tier.
pytestmark = pytest.mark.slow


def test_the_shipped_transforms_port_to_spark(tmp_path: Path) -> None:
    result = cli("transform", "--check", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "movies_per_genre.sql: ports to Spark 3.5" in result.stdout
    assert result.stdout.rstrip().endswith("5 transform(s): 5 port to Spark 3.5, 0 do not")


def test_a_transform_that_does_not_port_is_named_and_fails_the_check(tmp_path: Path) -> None:
    folder = tmp_path / "sql"
    folder.mkdir()
    (folder / "fine.sql").write_text("SELECT genre, count(*) AS n FROM movies GROUP BY genre")
    (folder / "duck_only.sql").write_text("SELECT * EXCLUDE (title) FROM movies")
    env = {"CSVPIPE_TRANSFORMS_DIR": str(folder)}
    result = cli("transform", "--check", "--spark-sql", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert "duck_only.sql: does not port to Spark 3.5 (1 problem)" in result.stdout
    assert "fine.sql: ports to Spark 3.5" in result.stdout
    assert "spark sql:" in result.stdout and "GROUP BY" in result.stdout
    assert result.stdout.rstrip().endswith("2 transform(s): 1 port to Spark 3.5, 1 do not")

    refused = cli("package", "glue", "--out", str(tmp_path / "glue"), cwd=tmp_path, env=env)
    assert refused.returncode == 1
    assert refused.stderr.startswith("error: ") and "duck_only.sql" in refused.stderr


def test_package_glue_writes_the_script_references_and_job_request(tmp_path: Path) -> None:
    out = tmp_path / "glue"
    role = "arn:aws:iam::123456789012:role/csvpipe-glue"
    result = cli("package", "glue", "--out", str(out), "--role", role, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    script = out / "csvpipe_transforms.py"
    ast.parse(script.read_text())  # valid Python
    assert (out / "reference" / "genre_classes.csv").read_text().startswith("genre_class,audience")
    request = json.loads((out / "job.json").read_text())
    assert (request["Name"], request["Role"], request["GlueVersion"]) == ("csvpipe-transforms", role, "5.0")
    assert (
        f"wrote {script}: AWS Glue 5.0 job csvpipe-transforms, 5 transforms: genre_classification"
        in result.stdout
    )
