"""``csvpipe crawl`` as a user runs it: through the real CLI, against a real local stack started
with ``csvpipe up --detach`` that has already crawled the sample once, on its own."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pipeline import layout
from pipeline.aws import Clients
from tests.conftest import SAMPLE, cli, free_port, running_stack, wait_for_record

# Every test here takes a second or more on a 2-core machine: left out of the quick tier.
pytestmark = pytest.mark.slow

RAW = "csv-raw-data-bucket"
PROCESSED = "csv-processed-data-bucket"
DATABASE = "csvpipe"
WAIT_SECONDS = 60.0


@dataclass(frozen=True)
class Workspace:
    home: Path
    env: dict[str, str]
    clients: Clients


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workspace]:
    """A running stack that has preprocessed and crawled the sample (table csvpipe.movies)."""
    with running_stack(tmp_path_factory.mktemp("user")) as user:
        clients = Clients(user.settings)
        key = "movies/movies.csv"
        etag = clients.s3.put_object(Bucket=RAW, Key=key, Body=SAMPLE.read_bytes())["ETag"].strip('"')
        crawl = wait_for_record(
            clients.s3, PROCESSED, layout.run_id(RAW, key, etag), "crawl", seconds=WAIT_SECONDS
        )
        assert crawl["status"] == "ok" and crawl["decision"] == "create", crawl
        yield Workspace(user.home, user.env, clients)


def crawl(ws: Workspace, *args: str) -> subprocess.CompletedProcess[str]:
    return cli(*args, cwd=ws.home, env=ws.env)


def versions(ws: Workspace, table: str) -> int:
    return len(ws.clients.glue.get_table_versions(DatabaseName=DATABASE, TableName=table)["TableVersions"])


def test_crawl_plans_then_applies_a_new_dataset_and_a_new_column(workspace: Workspace) -> None:
    ws = workspace
    unchanged = crawl(ws, "crawl", "--dry-run")
    assert unchanged.returncode == 0, unchanged.stderr
    lines = unchanged.stdout.splitlines()
    assert lines[0] == (
        "csvpipe.movies: unchanged - schema and record count unchanged (policy update, mode csvpipe)"
    )
    assert "  columns: movie_id bigint, title string, genre string, year bigint" in lines
    assert "  rows: 30, header: yes, serde: OpenCSVSerde" in lines  # the sample quotes some titles
    assert lines[-1] == "dry run: nothing was changed"

    s3 = ws.clients.s3
    s3.put_object(Bucket=PROCESSED, Key="ratings/year=2024/a.csv", Body=b"movie_id,stars\n1,4.5\n2,3.5\n")
    s3.put_object(
        Bucket=PROCESSED, Key="movies/extra.csv", Body=b"movie_id,title,genre,year,rank\n31,X,drama,1996,1\n"
    )
    s3.put_object(Bucket=PROCESSED, Key="_scratch/ignored.csv", Body=b"a,b\n1,2\n")

    planned = crawl(ws, "crawl", "--dry-run")
    assert planned.returncode == 0, planned.stderr
    out = planned.stdout
    assert "csvpipe.movies: update [evolve] - 1 schema change(s) applied, 0 incompatible kept out" in out
    assert "  + add rank: new column, appended [applied]" in out
    assert "csvpipe.ratings: create - new table (policy update, mode csvpipe)" in out
    assert "  partitions by year bigint: 1 to create, 0 unchanged" in out
    assert "_scratch" not in out
    assert versions(ws, "movies") == 1
    assert not ws.clients.glue.get_tables(DatabaseName=DATABASE, Expression="ratings")["TableList"]

    applied = crawl(ws, "crawl")
    assert applied.returncode == 0, applied.stderr
    assert "  applied: table updated (version 2)" in applied.stdout
    assert "  applied: table created (version 1), 1 partition(s) created" in applied.stdout
    assert versions(ws, "movies") == 2
    movies = ws.clients.glue.get_table(DatabaseName=DATABASE, Name="movies")["Table"]
    assert [c["Name"] for c in movies["StorageDescriptor"]["Columns"]][-1] == "rank"

    logged = crawl(ws, "--set", "crawler_schema_change=log", "crawl", "movies")
    assert logged.returncode == 0, logged.stderr
    assert logged.stdout.splitlines()[0].startswith("csvpipe.movies: unchanged")
    assert "  applied: nothing to change" in logged.stdout


def test_crawl_of_a_dataset_without_data_fails_alone(workspace: Workspace) -> None:
    result = crawl(workspace, "crawl", "--dry-run", "nothing_here", "movies")
    assert result.returncode == 1
    assert result.stderr.startswith("error: nothing_here: no processed data for dataset 'nothing_here'")
    assert "csvpipe.movies:" in result.stdout


def test_crawl_without_a_stack_is_one_clear_line(tmp_path: Path) -> None:
    result = cli("crawl", cwd=tmp_path, env={"CSVPIPE_EMULATOR_PORT": str(free_port())})
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: cannot reach http://127.0.0.1:")
    assert result.stderr.strip().endswith("start the local stack with `csvpipe up --detach`")
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_bad_crawler_setting_is_one_clear_line(tmp_path: Path) -> None:
    result = cli(
        "--set", "crawler_mode=aws", "crawl", cwd=tmp_path, env={"CSVPIPE_EMULATOR_PORT": str(free_port())}
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: setting 'crawler_mode' (--set crawler_mode) is 'aws'; choose csvpipe or glue-compatible "
        "(e.g. CSVPIPE_CRAWLER_MODE=glue-compatible)"
    )
