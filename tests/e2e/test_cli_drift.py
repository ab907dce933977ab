"""Drift as a user lives it, through the real CLI and a stack started with ``csvpipe up
--detach``: La Poste's export, then the same export in its later layout; the old file deleted;
``csvpipe crawl`` and ``csvpipe transform`` still fine; ``crawl --rebuild`` then a transform
still reading a removed column failing in one line; ``crawl --forget`` removing one dataset
and leaving the other."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from pipeline import layout
from pipeline.aws import Clients
from pipeline.catalog.crawler import get_table
from tests.conftest import SAMPLE, UserStack, cli, free_port, running_stack, wait_for_record

# Every test here takes a second or more on a 2-core machine: left out of the quick tier.
pytestmark = pytest.mark.slow

REAL = Path(__file__).resolve().parents[1] / "corpus" / "real"
RAW, PROCESSED, FINAL = "csv-raw-data-bucket", "csv-processed-data-bucket", "csv-final-data-bucket"
DATABASE = "csvpipe"
SQL = {
    "departements": "SELECT left(code_commune_insee, 2) AS departement, count(*) AS lignes\n"
    "FROM postal GROUP BY 1 ORDER BY 1\n",
    "layouts": "SELECT count(*) AS lignes,\n       count(coordonnees_gps) AS avec_gps\nFROM postal\n",
}


def keys(clients: Clients, bucket: str, prefix: str) -> list[str]:
    found = clients.s3.list_objects_v2(Bucket=bucket, Prefix=prefix).get("Contents", [])
    return [obj["Key"] for obj in found]


def upload(clients: Clients, key: str, body: bytes) -> dict:
    etag = clients.s3.put_object(Bucket=RAW, Key=key, Body=body)["ETag"].strip('"')
    return wait_for_record(clients.s3, PROCESSED, layout.run_id(RAW, key, etag), "transform", seconds=180)


def run(user: UserStack, *args: str) -> subprocess.CompletedProcess[str]:
    result = cli(*args, cwd=user.home, env=user.env)
    assert "Traceback" not in result.stdout + result.stderr
    return result


def test_drift_rebuild_and_forget_through_the_cli(tmp_path: Path) -> None:
    home = tmp_path / "user"
    transforms = home / "transforms"
    transforms.mkdir(parents=True)
    for name, text in SQL.items():
        (transforms / f"{name}.sql").write_text(text)
    with running_stack(home, {"CSVPIPE_TRANSFORMS_DIR": str(transforms)}) as user:
        clients = Clients(user.settings)
        assert (
            upload(clients, "postal/2020.csv", (REAL / "laposte_hexasmal_30-54_corse.csv").read_bytes())[
                "status"
            ]
            == "ok"
        )
        later = upload(
            clients, "postal/2024.csv", (REAL / "laposte_hexasmal_corse_later_layout.csv").read_bytes()
        )
        assert later["status"] == "ok", later
        movies = upload(clients, "movies/movies.csv", SAMPLE.read_bytes())
        assert movies["status"] == "ok", movies

        # The old export is deleted, as a user would with the AWS CLI.
        for bucket in (RAW, PROCESSED):
            clients.s3.delete_object(Bucket=bucket, Key="postal/2020.csv")
        crawled = run(user, "crawl", "postal")
        assert crawled.returncode == 0, crawled.stderr
        assert "  ! drop coordonnees_gps: no longer in the data; the table keeps it" in crawled.stdout
        assert (
            "  hint: nom_commune, coordonnees_gps read as NULL where no file has them; "
            "`csvpipe crawl postal --rebuild` re-derives the table from its current files"
        ) in crawled.stdout
        transformed = run(user, "transform")
        assert transformed.returncode == 0, transformed.stdout + transformed.stderr
        assert "ok      layouts: 1 rows" in transformed.stdout

        versions_before = len(
            clients.glue.get_table_versions(DatabaseName=DATABASE, TableName="postal")["TableVersions"]
        )
        rebuilt = run(user, "crawl", "postal", "--rebuild")
        assert rebuilt.returncode == 0, rebuilt.stderr
        assert rebuilt.stdout.startswith("csvpipe.postal: update [rebuild] - rebuilt from the current files")
        assert "  - drop coordonnees_gps: no current file has it: removed [applied]" in rebuilt.stdout
        assert f"  applied: table updated (version {versions_before + 1})" in rebuilt.stdout

        failed = run(user, "transform")
        assert failed.returncode == 1
        (line,) = [line for line in failed.stdout.splitlines() if line.startswith("FAILED")]
        assert line.startswith("FAILED  layouts: layouts.sql, line 2: Binder Error: Referenced column")
        assert "column coordonnees_gps: no such column; table csvpipe.postal has code_commune_insee" in line
        assert "ok      departements:" in failed.stdout

        unnamed = run(user, "crawl", "--forget")
        assert unnamed.returncode == 1
        assert (
            unnamed.stderr.strip()
            == "error: name the dataset(s) to forget, e.g. `csvpipe crawl movies --forget`"
        )

        planned = run(user, "crawl", "postal", "--forget", "--dry-run")
        assert planned.returncode == 0, planned.stderr
        assert "  table csvpipe.postal (" in planned.stdout
        assert planned.stdout.strip().endswith("dry run: nothing was removed")
        assert get_table(clients.glue, DATABASE, "postal") is not None

        forgot = run(user, "crawl", "postal", "--forget")
        assert forgot.returncode == 0, forgot.stderr
        assert "  outputs of the transforms reading it: departements, layouts" in forgot.stdout
        assert "  forgot: table csvpipe.postal, " in forgot.stdout
        assert get_table(clients.glue, DATABASE, "postal") is None
        assert keys(clients, RAW, "postal/") == []
        assert keys(clients, PROCESSED, "postal/") == []
        assert keys(clients, FINAL, "layouts/") == keys(clients, FINAL, "departements/") == []
        # The other dataset is untouched.
        assert get_table(clients.glue, DATABASE, "movies") is not None
        assert keys(clients, PROCESSED, "movies/") == ["movies/movies.csv"]
        assert keys(clients, RAW, "movies/") == ["movies/movies.csv"]

        again = run(user, "crawl", "postal", "--forget")
        assert again.returncode == 0
        assert "postal: nothing to forget" in again.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--profile", "aws", "crawl", "movies", "--forget"),
            "error: --forget deletes the datasets' objects in the aws profile's buckets: run it with "
            "--dry-run to see what would go, then with --yes",
        ),
        (
            ("crawl", "movies", "--rebuild", "--forget"),
            "error: choose --rebuild (re-derive the table) or --forget (remove the dataset), not both",
        ),
        (
            ("crawl", "--rebuild"),
            "error: name the dataset(s) to rebuild, e.g. `csvpipe crawl movies --rebuild`",
        ),
    ],
)
def test_rebuild_and_forget_mistakes_are_one_line_before_any_call(
    tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    """No stack runs here and the aws profile has no network: each mistake is caught first."""
    result = cli(*args, cwd=tmp_path, env={"CSVPIPE_EMULATOR_PORT": str(free_port())})
    assert (result.returncode, result.stdout, result.stderr.strip()) == (1, "", message)
