"""The deployment zip, built offline from this environment's installed distributions, then run
by the local Lambda from the zip alone: the handler, DuckDB and boto3 imported from its task
root, on a real S3 put in the real emulator."""

from __future__ import annotations

import json
import os
import platform
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

import pytest

from emulators import memory
from emulators.lambda_runtime import FunctionConfig, LocalLambda
from emulators.stack import function_config
from pipeline import layout, runs
from pipeline.aws import Clients
from pipeline.package import lambda_zip
from pipeline.package.build import Built, build_lambda_zip, host_target, write_zip
from tests.conftest import SAMPLE
from tests.functional.helpers import s3_event

FUNCTIONS = Path(__file__).with_name("lambda_functions.py")
NOT_IN_ZIP = ("typer", "rich", "click", "streamlit", "altair", "moto", "emulators", "dashboards", "tests")

linux_only = pytest.mark.skipif(
    platform.system() != "Linux", reason="a zip built from the installed distributions needs Linux"
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """One zip for the module, built offline (no pip, no network) for this machine."""
    return build_lambda_zip(host_target(None, None), tmp_path_factory.mktemp("build"), from_installed=True)


@pytest.fixture
def packaged_function(built: Built, clients: Clients) -> Iterator[LocalLambda]:
    function = LocalLambda(function_config(clients.settings, code=built.path)).start()
    yield function
    function.stop()


@pytest.mark.slow
@linux_only
def test_zip_holds_the_handler_and_its_dependencies_and_nothing_else(built: Built) -> None:
    with zipfile.ZipFile(built.path) as archive:
        infos = archive.infolist()
        document = json.loads(archive.read(lambda_zip.MANIFEST))
    names = [info.filename for info in infos]
    tops = {PurePosixPath(name).parts[0] for name in names}
    assert {"pipeline", "duckdb", "boto3", "botocore", "s3transfer"} <= tops
    assert not tops & set(NOT_IN_ZIP)
    assert not any(top.split("-")[0].lower() in NOT_IN_ZIP for top in tops if top.endswith(".dist-info"))
    assert "pipeline/preprocess/handler.py" in names and "pipeline/rules/movies.toml" in names
    assert not any(name.startswith(("pipeline/cli", "pipeline/package/")) for name in names)
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)
    # Lambda's limit, and the size the command reports is the size Lambda unpacks.
    unzipped = sum(info.file_size for info in infos)
    assert unzipped == built.unzipped_bytes < lambda_zip.UNZIPPED_LIMIT
    assert built.path.stat().st_size == built.zipped_bytes
    # Deterministic entries: sorted, one fixed date.
    assert names == sorted(names)
    assert {info.date_time for info in infos} == {lambda_zip.ZIP_DATE}
    assert document["handler"] == "pipeline.preprocess.handler.handler"
    assert document["dependencies_from"] == "installed"
    assert document["distributions"]["duckdb"] == built.distributions["duckdb"]


@pytest.mark.slow
@linux_only
def test_code_in_the_zip_imports_only_from_the_zip(built: Built, tmp_path: Path) -> None:
    """The zip unpacked to a folder, plus a probe handler: where does each import come from?"""
    task = tmp_path / "task"
    with zipfile.ZipFile(built.path) as archive:
        archive.extractall(task)
    shutil.copy(FUNCTIONS, task / "lambda_functions.py")
    function = LocalLambda(
        FunctionConfig(
            name="probe",
            handler="lambda_functions.where_from",
            timeout=20,
            memory_mb=512,
            region="us-east-1",
            environment={},
            tmp_dir=tmp_path / "lambda-tmp",
            log_path=tmp_path / "lambda.log",
            code=task,
        )
    ).start()
    try:
        result = function.invoke(
            {
                "import": lambda_zip.HANDLER_MODULE,
                "modules": ["pipeline", "duckdb", "boto3", "botocore", "awslambdaric", *NOT_IN_ZIP],
            }
        )
    finally:
        function.stop()
    assert result.ok, result.error
    found = result.payload["modules"]
    root = str(task.resolve())
    for name in ("pipeline", "duckdb", "boto3", "botocore"):
        assert found[name].startswith(root + os.sep), (name, found[name])
    assert not found["awslambdaric"].startswith(root)  # the runtime's, not the package's
    assert {name: found[name] for name in NOT_IN_ZIP} == dict.fromkeys(NOT_IN_ZIP)
    assert not set(result.payload["loaded"]) & {"typer", "rich", "click", "streamlit", "moto"}
    assert {"duckdb", "boto3", "pipeline"} <= set(result.payload["loaded"])
    assert result.payload["task_root"] == result.payload["cwd"] == root
    assert not any("site-packages" in entry for entry in result.payload["sys_path"])


@pytest.mark.slow
@linux_only
def test_real_handler_from_the_zip_processes_an_s3_put(
    packaged_function: LocalLambda, clients: Clients, built: Built
) -> None:
    settings = clients.settings
    key = "movies/from zip.csv"
    etag = clients.s3.put_object(Bucket=settings.raw_bucket, Key=key, Body=SAMPLE.read_bytes())["ETag"].strip(
        '"'
    )
    result = packaged_function.invoke(
        s3_event(settings.raw_bucket, [("movies/from+zip.csv", etag, SAMPLE.stat().st_size)])
    )
    assert result.ok, result.error
    assert packaged_function.task_root is not None
    (record,) = result.payload["records"]
    assert record["status"] == "ok"
    assert record["rows"] == {"in": 30, "out": 30, "rejected": 0, "empty": 0, "duplicate": 0}
    assert record["request_id"] == result.request_id
    body = clients.s3.get_object(Bucket=settings.processed_bucket, Key=layout.processed_key(key))[
        "Body"
    ].read()
    lines = body.decode().splitlines()
    assert lines[0] == "movie_id,title,genre,year" and len(lines) == 31
    stored = runs.read_stage_record(clients.s3, settings.processed_bucket, record["run_id"], "preprocess")
    assert stored is not None and stored["status"] == "ok" and stored["rows"] == record["rows"]
    assert stored["source"] == {
        "bucket": settings.raw_bucket,
        "key": key,
        "etag": etag,
        "size": SAMPLE.stat().st_size,
    }
    if memory.available():
        assert result.max_memory_mb is not None and 0 < result.max_memory_mb < settings.lambda_memory_mb


def test_same_files_give_the_same_zip_bytes(tmp_path: Path) -> None:
    source = tmp_path / "src"
    (source / "pkg").mkdir(parents=True)
    (source / "pkg" / "b.py").write_text("B = 2\n")
    (source / "pkg" / "a.py").write_text("A = 1\n")
    files = {
        PurePosixPath("pkg/b.py"): source / "pkg" / "b.py",
        PurePosixPath("pkg/a.py"): source / "pkg" / "a.py",
    }
    first, second = tmp_path / "first.zip", tmp_path / "second.zip"
    write_zip(first, files, b"{}\n")
    os.utime(source / "pkg" / "a.py", (0, 0))  # a newer checkout: other times, same content
    write_zip(second, dict(reversed(files.items())), b"{}\n")
    assert first.read_bytes() == second.read_bytes()
    with zipfile.ZipFile(first) as archive:
        assert archive.namelist() == [lambda_zip.MANIFEST, "pkg/a.py", "pkg/b.py"]
        assert archive.read("pkg/a.py") == b"A = 1\n"
    assert not list(tmp_path.glob("*.part"))
