"""A transform that cannot run against its input fails with one line naming the SQL file, the
table and the column: against the real Glue catalog API, the processed bucket and DuckDB."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.aws import Clients
from pipeline.catalog.crawler import crawl_dataset
from pipeline.settings import replace
from pipeline.transform.dag import plan
from pipeline.transform.job import run_steps
from pipeline.transform.sql import discover

# Every test here takes a second or more on a 2-core machine: left out of the quick tier.
pytestmark = pytest.mark.slow


def _transforms(tmp_path: Path, **sql: str) -> Path:
    folder = tmp_path / "transforms"
    folder.mkdir()
    for name, text in sql.items():
        (folder / f"{name}.sql").write_text(text)
    return folder


def test_a_file_that_does_not_fit_the_tables_type_fails_with_sql_table_and_column(
    clients: Clients, tmp_path: Path
) -> None:
    folder = _transforms(tmp_path, commune_count="SELECT count(*) AS n FROM communes")
    settings = replace(clients.settings, transforms_dir=folder)
    clients = Clients(settings)
    put = clients.s3.put_object
    put(Bucket=settings.processed_bucket, Key="communes/a.csv", Body=b"code,name\n1001,Ambronay\n")
    crawl_dataset("communes", settings, clients.s3, clients.glue, tmp_path / "work")  # code: bigint
    put(
        Bucket=settings.processed_bucket,
        Key="communes/b.csv",
        Body=b"code,name\n2A004,Ajaccio\n2B037,Bastia\n",
    )

    result = run_steps(plan(discover(folder)), settings, clients.s3, clients.glue, tmp_path / "work", {})

    assert result["status"] == "failed"
    (error,) = result["errors"]
    assert error["error"] == (
        f'commune_count.sql: table {settings.glue_database}.communes, column code: value "2A004" does not '
        "fit the catalog's type bigint (line 2 of b.csv); `csvpipe crawl communes` widens the column (with "
        "crawler_schema_change = update), or pin its type in the dataset's rules ([columns.code] type = ...)"
    )


def test_a_column_the_table_lacks_names_the_tables_columns(clients: Clients, tmp_path: Path) -> None:
    folder = _transforms(tmp_path, per_genre="SELECT genre, count(*) AS n\nFROM films\nGROUP BY genre")
    settings = replace(clients.settings, transforms_dir=folder)
    clients = Clients(settings)
    clients.s3.put_object(
        Bucket=settings.processed_bucket, Key="films/a.csv", Body=b"movie_id,title,genres\n1,Heat,crime\n"
    )
    crawl_dataset("films", settings, clients.s3, clients.glue, tmp_path / "work")

    result = run_steps(plan(discover(folder)), settings, clients.s3, clients.glue, tmp_path / "work", {})

    (error,) = result["errors"]
    assert error["error"].startswith(
        'per_genre.sql, line 3: Binder Error: Referenced column "genre" not found'
    )
    assert error["error"].endswith(
        f"(column genre: no such column; table {settings.glue_database}.films has movie_id, title, genres)"
    )
    assert "\n" not in error["error"]
