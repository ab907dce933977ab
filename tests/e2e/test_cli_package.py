"""``csvpipe package lambda`` and ``csvpipe invoke --zip`` as a user runs them: the zip built
offline from this environment (never from PyPI in tests), then run by the local Lambda against a
real local stack started with ``csvpipe up --detach``."""

from __future__ import annotations

import json
import platform
import re
import zipfile
from pathlib import Path

import pytest

from pipeline import layout
from pipeline.aws import Clients
from pipeline.package.lambda_zip import MANIFEST, UNZIPPED_LIMIT, host_arch
from tests.conftest import SAMPLE, cli, running_stack, wait_for_record

# Every test here takes a second or more on a 2-core machine: left out of the quick tier.
pytestmark = pytest.mark.slow

RAW = "csv-raw-data-bucket"
PROCESSED = "csv-processed-data-bucket"
HERE = host_arch(platform.machine())
OTHER_ARCH = "arm64" if HERE == "x86_64" else "x86_64"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--arch", "sparc"], "error: unknown architecture 'sparc': choose x86_64 or arm64"),
        (["--python-version", "3.10"], "error: unsupported Python version '3.10': csvpipe's handler runs on"),
        (
            ["--from-installed", "--wheelhouse", "."],
            "error: give at most one of --wheelhouse DIR and --from-installed",
        ),
        (["--wheelhouse", "no-such-dir"], "error: no-such-dir: no such folder"),
        (
            ["--from-installed", "--arch", OTHER_ARCH],
            f"error: --from-installed builds for this machine ({HERE})",
        ),
    ],
)
def test_package_mistakes_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = cli("package", "lambda", *args, cwd=tmp_path)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(message)
    assert not (tmp_path / "data" / "build").exists()


def test_invoke_zip_built_for_another_target_is_one_line(tmp_path: Path) -> None:
    package = tmp_path / "other.zip"
    with zipfile.ZipFile(package, "w") as archive:
        archive.writestr(MANIFEST, json.dumps({"runtime": "python3.12", "architecture": OTHER_ARCH}))
    result = cli("invoke", "--zip", str(package), "--key", "movies/movies.csv", cwd=tmp_path)
    assert result.returncode == 1
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {package}: ")
    assert f"python3.12 {OTHER_ARCH}" in line


def test_invoke_zip_that_is_not_a_zip_is_one_line(tmp_path: Path) -> None:
    package = tmp_path / "notes.zip"
    package.write_text("not a zip")
    result = cli("invoke", "--zip", str(package), "--key", "movies/movies.csv", cwd=tmp_path)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: {package}: not a zip file (expected a Lambda deployment zip)"
    ]


@pytest.mark.skipif(platform.system() != "Linux", reason="--from-installed needs Linux")
def test_package_from_installed_then_invoke_the_zip_on_a_real_put(tmp_path: Path) -> None:
    with running_stack(tmp_path) as user:
        built = cli("package", "lambda", "--from-installed", cwd=user.home, env=user.env)
        assert built.returncode == 0, built.stderr + built.stdout
        lines = built.stdout.splitlines()
        python = f"python{platform.python_version_tuple()[0]}.{platform.python_version_tuple()[1]}"
        relative = f"data/build/csvpipe-preprocess-0.1.0-{python}-{HERE}.zip"
        assert lines[0] == f"built {relative}"
        package = user.home / relative
        sizes = re.search(r"zipped ([\d.]+) MB, unzipped ([\d.]+) MB", built.stdout)
        assert sizes is not None
        assert float(sizes[1]) * 1024 * 1024 == pytest.approx(package.stat().st_size, rel=0.01)
        assert float(sizes[2]) * 1024 * 1024 < UNZIPPED_LIMIT
        assert "handler: pipeline.preprocess.handler.handler" in built.stdout

        key = "movies/zipped.csv"
        clients = Clients(user.settings)
        etag = clients.s3.put_object(Bucket=RAW, Key=key, Body=SAMPLE.read_bytes())["ETag"].strip('"')
        run = layout.run_id(RAW, key, etag)
        # The stack's own event source handles the put first; then nothing else writes the record.
        wait_for_record(clients.s3, PROCESSED, run, "preprocess")

        result = cli("invoke", "--zip", relative, "--key", key, cwd=user.home, env=user.env)
        assert result.returncode == 0, result.stderr + result.stdout
        out = result.stdout.splitlines()
        assert out[0].startswith("invocation ok (request ") and out[0].endswith(" ms, cold start)")
        memory = re.fullmatch(r"memory: (\d+) MB max used of 512 MB", out[1])
        assert memory is not None and 0 < int(memory[1]) < 512
        assert out[2] == f"code: {relative}"
        assert f"run {run} ({key}): ok, rows 30 in, 30 out, 0 rejected, 0 empty" in result.stdout
