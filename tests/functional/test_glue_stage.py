"""The crawler and the SQL jobs against the real Glue catalog API and DuckDB."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest

from pipeline import layout
from pipeline.aws import Clients
from pipeline.catalog.crawler import crawl_dataset, plan_dataset
from pipeline.errors import UserInputError
from pipeline.settings import replace
from pipeline.transform.dag import plan
from pipeline.transform.job import run_steps
from pipeline.transform.sql import Transform, discover, parse_transform

# Every test here takes a second or more on a 2-core machine: left out of the quick tier.
pytestmark = pytest.mark.slow


def put_processed(clients: Clients, key: str, text: str) -> None:
    clients.s3.put_object(Bucket=clients.settings.processed_bucket, Key=key, Body=text.encode())


def test_crawler_creates_then_updates_with_a_new_version(clients: Clients, tmp_path: Path) -> None:
    settings = clients.settings
    put_processed(clients, "sales/a.csv", "id,amount\n1,2.5\n2,3\n")
    first = crawl_dataset("sales", settings, clients.s3, clients.glue, tmp_path)
    assert first["action"] == "create"
    assert first["columns"] == [{"name": "id", "type": "bigint"}, {"name": "amount", "type": "double"}]
    assert first["record_count"] == 2

    again = plan_dataset("sales", settings, clients.s3, clients.glue, tmp_path)
    assert again.action == "unchanged"

    put_processed(clients, "sales/b.csv", "id,amount,region\n3,1.0,eu\n")
    second = crawl_dataset("sales", settings, clients.s3, clients.glue, tmp_path)
    assert second["action"] == "update"
    assert [c["name"] for c in second["columns"]] == ["id", "amount", "region"]
    assert second["record_count"] == 3

    table = clients.glue.get_table(DatabaseName=settings.glue_database, Name="sales")["Table"]
    assert table["StorageDescriptor"]["Location"] == f"s3://{settings.processed_bucket}/sales/"
    assert table["Parameters"]["classification"] == "csv"
    versions = clients.glue.get_table_versions(DatabaseName=settings.glue_database, TableName="sales")
    assert len(versions["TableVersions"]) == 2


def test_transforms_publish_csv_and_manifest_and_a_bad_one_fails_alone(
    clients: Clients, tmp_path: Path
) -> None:
    folder = tmp_path / "transforms"
    folder.mkdir()
    (folder / "totals.sql").write_text(
        "SELECT region, sum(amount) AS total FROM sales GROUP BY region ORDER BY region"
    )
    (folder / "broken.sql").write_text(
        "\n-- a comment line\nSELECT region,\n    no_such_column\nFROM sales\n"
    )
    (folder / "waiting.sql").write_text("SELECT * FROM customers")
    settings = replace(clients.settings, transforms_dir=folder)
    clients = Clients(settings)
    put_processed(clients, "sales/a.csv", "id,amount,region\n1,2.5,eu\n2,3,us\n3,1.5,eu\n")
    crawl_dataset("sales", settings, clients.s3, clients.glue, tmp_path / "work")

    result = run_steps(plan(discover(folder)), settings, clients.s3, clients.glue, tmp_path / "work", {})

    assert result["status"] == "failed"
    assert [o["output"] for o in result["outputs"]] == ["totals"]
    (totals,) = result["outputs"]
    assert set(totals["timings"]) == {"fetch", "run", "publish"}
    assert all(seconds >= 0 for seconds in totals["timings"].values())
    assert result["skipped"] == [{"transform": "waiting", "reason": "waiting for table(s) customers"}]
    (error,) = result["errors"]
    assert error["transform"] == "broken" and "broken.sql" in error["error"]
    assert error["error"].startswith('broken.sql, line 4: Binder Error: Referenced column "no_such_column"')

    final = settings.final_bucket
    data = clients.s3.get_object(Bucket=final, Key=layout.final_data_key("totals"))["Body"].read()
    assert data.decode() == "region,total\neu,4.0\nus,3.0\n"
    manifest = json.loads(
        clients.s3.get_object(Bucket=final, Key=layout.final_manifest_key("totals"))["Body"].read()
    )
    assert manifest["fileLocations"] == [{"URIs": [f"s3://{final}/totals/totals.csv"]}]
    assert manifest["globalUploadSettings"]["containsHeader"] == "true"


def test_transforms_run_in_dependency_order_with_reference_tables_and_parquet(
    clients: Clients, tmp_path: Path
) -> None:
    folder = tmp_path / "transforms"
    (folder / "reference").mkdir(parents=True)
    (folder / "reference" / "regions.csv").write_text("region,continent\neu,Europe\nus,America\n")
    # Named so that name order would run the dependant first: the plan must not.
    (folder / "a_by_continent.sql").write_text(
        "SELECT r.continent, sum(t.total) AS total FROM z_totals AS t "
        "JOIN regions AS r ON r.region = t.region GROUP BY r.continent ORDER BY r.continent"
    )
    (folder / "z_totals.sql").write_text(
        "SELECT region, sum(amount) AS total, count(*) AS sales FROM sales GROUP BY region ORDER BY region"
    )
    settings = replace(clients.settings, transforms_dir=folder)
    put_processed(clients, "sales/a.csv", "id,amount,region\n1,2.5,eu\n2,3,us\n3,1.5,eu\n")
    crawl_dataset("sales", settings, clients.s3, clients.glue, tmp_path / "work")
    references = {"regions": folder / "reference" / "regions.csv"}
    steps = plan(discover(folder), references)

    result = run_steps(steps, settings, clients.s3, clients.glue, tmp_path / "work", references)

    assert result["status"] == "ok", result
    assert result["order"] == ["z_totals", "a_by_continent"]
    by_continent, totals = result["outputs"][1], result["outputs"][0]
    assert by_continent["inputs"]["z_totals"]["kind"] == "output"
    assert by_continent["inputs"]["regions"]["kind"] == "reference"
    assert totals["columns"] == [
        {"name": "region", "type": "VARCHAR"},
        {"name": "total", "type": "DOUBLE"},
        {"name": "sales", "type": "BIGINT"},
    ]
    final = settings.final_bucket
    body = clients.s3.get_object(Bucket=final, Key=layout.final_data_key("a_by_continent"))["Body"].read()
    assert body.decode() == "continent,total\nAmerica,3.0\nEurope,4.0\n"
    parquet = tmp_path / "totals.parquet"
    clients.s3.download_file(final, layout.final_parquet_key("z_totals"), str(parquet))
    assert duckdb.sql(f"SELECT * FROM read_parquet('{parquet}') ORDER BY region").fetchall() == [
        ("eu", 4.0, 2),
        ("us", 3.0, 1),
    ]


def test_a_failing_transform_stops_its_dependants_and_keeps_the_old_output(
    clients: Clients, tmp_path: Path
) -> None:
    folder = tmp_path / "transforms"
    folder.mkdir()
    (folder / "base.sql").write_text("SELECT region, count(*) AS n FROM sales GROUP BY region")
    (folder / "derived.sql").write_text("SELECT sum(n) AS n FROM base")
    (folder / "other.sql").write_text("SELECT count(*) AS n FROM sales")
    settings = replace(clients.settings, transforms_dir=folder)
    put_processed(clients, "sales/a.csv", "id,region\n1,eu\n2,us\n")
    crawl_dataset("sales", settings, clients.s3, clients.glue, tmp_path / "work")
    first = run_steps(plan(discover(folder)), settings, clients.s3, clients.glue, tmp_path / "work", {})
    assert first["status"] == "ok" and len(first["outputs"]) == 3
    final, base_key = settings.final_bucket, layout.final_data_key("base")
    before = clients.s3.get_object(Bucket=final, Key=base_key)["Body"].read()

    (folder / "base.sql").write_text("SELECT region, count(*) AS n FROM sales GROUP BY no_such_column")
    second = run_steps(plan(discover(folder)), settings, clients.s3, clients.glue, tmp_path / "work", {})

    assert second["status"] == "failed"
    assert [e["transform"] for e in second["errors"]] == ["base"]
    assert second["skipped"] == [{"transform": "derived", "reason": "upstream transform base failed"}]
    assert [o["output"] for o in second["outputs"]] == ["other"]
    assert clients.s3.get_object(Bucket=final, Key=base_key)["Body"].read() == before


def test_reprocessing_gives_the_same_outputs_and_new_files_add_without_duplicates(
    clients: Clients, tmp_path: Path
) -> None:
    folder = tmp_path / "transforms"
    folder.mkdir()
    (folder / "per_region.sql").write_text(
        "SELECT region, count(*) AS n FROM sales GROUP BY region ORDER BY region"
    )
    settings = replace(clients.settings, transforms_dir=folder)

    def publish() -> str:
        crawl_dataset("sales", settings, clients.s3, clients.glue, tmp_path / "work")
        result = run_steps(plan(discover(folder)), settings, clients.s3, clients.glue, tmp_path / "work", {})
        assert result["status"] == "ok", result
        key = layout.final_data_key("per_region")
        return clients.s3.get_object(Bucket=settings.final_bucket, Key=key)["Body"].read().decode()

    put_processed(clients, "sales/a.csv", "id,region\n1,eu\n2,us\n")
    first = publish()
    put_processed(clients, "sales/a.csv", "id,region\n1,eu\n2,us\n")  # the same file processed again
    assert publish() == first == "region,n\neu,1\nus,1\n"
    put_processed(clients, "sales/b.csv", "id,region\n3,eu\n")
    assert publish() == "region,n\neu,2\nus,1\n"
    # A file changed in place, even to the same size, is read anew: its Parquet copy is replaced.
    put_processed(clients, "sales/a.csv", "id,region\n1,us\n2,us\n")
    assert publish() == "region,n\neu,1\nus,2\n"
    mirrored = tmp_path / "work" / settings.processed_bucket / "sales"
    assert sorted(p.name.split(".")[:2] for p in mirrored.glob("*.parquet")) == [["a", "csv"], ["b", "csv"]]


def test_formula_like_cells_are_neutralised_in_csv_not_in_parquet(clients: Clients, tmp_path: Path) -> None:
    folder = tmp_path / "transforms"
    folder.mkdir()
    (folder / "cells.sql").write_text("SELECT id, note FROM notes ORDER BY id")
    notes = 'id,note\n1,"=HYPERLINK(""http://x.test"")"\n2,+SUM(A1)\n3,-5\n4,@cmd\n5,-2+3\n6,plain\n7,a=b\n'
    put_processed(clients, "notes/a.csv", notes)
    work = tmp_path / "work"

    def publish(**overrides: str) -> tuple[list[str], list[tuple]]:
        settings = replace(clients.settings, transforms_dir=folder, **overrides)
        crawl_dataset("notes", settings, clients.s3, clients.glue, work)
        result = run_steps(plan(discover(folder)), settings, clients.s3, clients.glue, work, {})
        assert result["status"] == "ok", result
        final = settings.final_bucket
        csv_text = clients.s3.get_object(Bucket=final, Key=layout.final_data_key("cells"))["Body"].read()
        parquet = tmp_path / "cells.parquet"
        clients.s3.download_file(final, layout.final_parquet_key("cells"), str(parquet))
        rows = duckdb.sql(f"SELECT note FROM read_parquet('{parquet}') ORDER BY id").fetchall()
        return [line.split(",", 1)[1] for line in csv_text.decode().splitlines()[1:]], rows

    guarded, parquet_rows = publish()
    assert guarded == [
        '"\'=HYPERLINK(""http://x.test"")"',
        "'+SUM(A1)",
        "-5",
        "'@cmd",
        "'-2+3",
        "plain",
        "a=b",
    ]
    assert [r[0] for r in parquet_rows] == [
        '=HYPERLINK("http://x.test")',
        "+SUM(A1)",
        "-5",
        "@cmd",
        "-2+3",
        "plain",
        "a=b",
    ]
    raw, _ = publish(csv_formula_guard=False)
    assert raw[1] == "+SUM(A1)"


def test_files_with_other_column_orders_missing_columns_and_partitions(
    clients: Clients, tmp_path: Path
) -> None:
    folder = tmp_path / "transforms"
    folder.mkdir()
    (folder / "per_year.sql").write_text(
        "SELECT year, count(*) AS n, sum(amount) AS total, count(region) AS with_region "
        "FROM sales GROUP BY year ORDER BY year"
    )
    settings = replace(clients.settings, transforms_dir=folder)
    put_processed(clients, "sales/year=2023/a.csv", "id,amount\n1,2.5\n2,3.0\n")
    put_processed(clients, "sales/year=2024/b.csv", "amount,region,id\n1.5,eu,3\n")
    crawl = crawl_dataset("sales", settings, clients.s3, clients.glue, tmp_path / "work")
    assert [c["name"] for c in crawl["columns"]] == ["id", "amount", "region"]

    result = run_steps(plan(discover(folder)), settings, clients.s3, clients.glue, tmp_path / "work", {})

    assert result["status"] == "ok", result
    body = clients.s3.get_object(Bucket=settings.final_bucket, Key=layout.final_data_key("per_year"))["Body"]
    assert body.read().decode() == "year,n,total,with_region\n2023,2,5.5,0\n2024,1,1.5,1\n"


def test_a_transform_joins_two_catalog_tables(clients: Clients, tmp_path: Path) -> None:
    folder = tmp_path / "transforms"
    folder.mkdir()
    (folder / "sales_by_country.sql").write_text(
        "SELECT c.country, sum(s.amount) AS total FROM sales AS s "
        "JOIN shops AS c ON c.shop_id = s.shop_id GROUP BY c.country ORDER BY c.country"
    )
    settings = replace(clients.settings, transforms_dir=folder)
    put_processed(clients, "sales/a.csv", "shop_id,amount\n1,2.5\n2,3.0\n1,1.0\n")
    put_processed(clients, "shops/a.csv", "shop_id,country\n1,fr\n2,de\n")
    for dataset in ("sales", "shops"):
        crawl_dataset(dataset, settings, clients.s3, clients.glue, tmp_path / "work")

    result = run_steps(plan(discover(folder)), settings, clients.s3, clients.glue, tmp_path / "work", {})

    assert result["status"] == "ok", result
    assert set(result["outputs"][0]["inputs"]) == {"sales", "shops"}
    key = layout.final_data_key("sales_by_country")
    body = clients.s3.get_object(Bucket=settings.final_bucket, Key=key)["Body"].read().decode()
    assert body == "country,total\nde,3.0\nfr,3.5\n"


def test_the_shipped_genre_classification_is_right_whatever_the_casing(
    clients: Clients, tmp_path: Path
) -> None:
    """The tutorial's classification compared capitalised genres; processed data written by
    another tool may keep any casing, so the SQL must not depend on it."""
    from pipeline.settings import PACKAGED_TRANSFORMS
    from pipeline.transform.sql import reference_tables

    settings = clients.settings
    put_processed(
        clients,
        "movies/a.csv",
        "movie_id,title,genre,year\n1,A,ACTION,1995\n2,B, Comedy ,1996\n3,C,drama|Romance,1997\n"
        "4,D,HORROR,1998\n5,E,,1999\n6,F,Western,2000\n",
    )
    crawl_dataset("movies", settings, clients.s3, clients.glue, tmp_path / "work")
    references = reference_tables(PACKAGED_TRANSFORMS)
    steps = [s for s in plan(discover(PACKAGED_TRANSFORMS), references) if s.name == "genre_classification"]

    result = run_steps(steps, settings, clients.s3, clients.glue, tmp_path / "work", references)

    assert result["status"] == "ok", result
    key = layout.final_data_key("genre_classification")
    rows = clients.s3.get_object(Bucket=settings.final_bucket, Key=key)["Body"].read().decode().splitlines()
    assert [row.rsplit(",", 1)[1] for row in rows[1:]] == [
        "action & adventure",
        "comedy",
        "drama & romance",
        "horror & thriller",
        "unknown",
        "other",
    ]


def test_a_batch_of_files_is_crawled_and_transformed_once(clients: Clients, tmp_path: Path) -> None:
    from emulators.glue_jobs import after_preprocess_batch
    from pipeline import runs

    folder = tmp_path / "transforms"
    folder.mkdir()
    (folder / "per_region.sql").write_text(
        "SELECT region, count(*) AS n FROM sales GROUP BY region ORDER BY region"
    )
    (folder / "total.sql").write_text("SELECT count(*) AS n FROM sales")
    settings = replace(clients.settings, transforms_dir=folder)
    for i in range(3):
        put_processed(clients, f"sales/{i}.csv", f"id,region\n{i},eu\n")
    batch = [{"status": "ok", "run_id": f"run-{i}", "dataset": "sales"} for i in range(3)]
    batch.append({"status": "failed", "run_id": "run-bad", "dataset": "sales"})
    glue_clients = Clients(settings)
    listed: list[str] = []  # the prefixes the pass lists (boto3's own event hooks)
    glue_clients.s3.meta.events.register(
        "before-parameter-build.s3.ListObjectsV2", lambda params, **_: listed.append(params["Prefix"])
    )

    after_preprocess_batch(glue_clients, batch, tmp_path / "work")

    # The crawl and both transforms read the dataset from one listing.
    assert listed == ["sales/"]

    bucket = settings.processed_bucket
    crawls = [runs.read_stage_record(clients.s3, bucket, f"run-{i}", "crawl") for i in range(3)]
    assert {c["started_at"] for c in crawls} == {crawls[0]["started_at"]} and crawls[0]["batch"] == 3
    transforms = [runs.read_stage_record(clients.s3, bucket, f"run-{i}", "transform") for i in range(3)]
    assert {t["started_at"] for t in transforms} == {transforms[0]["started_at"]}
    assert transforms[0]["errors"] == []
    assert {o["output"]: o["rows"] for o in transforms[0]["outputs"]} == {"per_region": 1, "total": 1}
    assert runs.read_stage_record(clients.s3, bucket, "run-bad", "crawl") is None
    body = clients.s3.get_object(Bucket=settings.final_bucket, Key=layout.final_data_key("per_region"))[
        "Body"
    ]
    assert body.read().decode() == "region,n\neu,3\n"


def test_a_transform_reads_only_its_inputs(clients: Clients, tmp_path: Path) -> None:
    secret = tmp_path / "outside" / "secret.csv"
    secret.parent.mkdir()
    secret.write_text("token\nsecret-value\n")
    folder = tmp_path / "transforms"
    folder.mkdir()
    (folder / "fine.sql").write_text("SELECT count(*) AS n FROM sales")
    # Each also reads its catalog table: a query that reads no table is refused before it runs.
    (folder / "reads_a_file.sql").write_text(f"SELECT * FROM sales, read_csv('{secret}')")
    (folder / "reads_text.sql").write_text("SELECT content FROM sales, read_text('/etc/hostname')")
    sibling = f"{tmp_path / 'work'}/../outside/secret.csv"
    (folder / "reads_a_sibling.sql").write_text(f"SELECT * FROM sales, read_csv('{sibling}')")
    settings = replace(clients.settings, transforms_dir=folder)
    put_processed(clients, "sales/a.csv", "id,amount\n1,2.5\n")
    crawl_dataset("sales", settings, clients.s3, clients.glue, tmp_path / "work")

    # Validating refuses each file outright: its SQL is parsed in the same sandbox...
    for name in ("reads_a_file", "reads_text", "reads_a_sibling"):
        with pytest.raises(UserInputError, match="never files or URLs"):
            parse_transform(folder / f"{name}.sql")
    # ...and were a transform to get past validation, the run's own lock-down refuses it too.
    unchecked = [
        Transform(path.stem, path, path.read_text(), frozenset({"sales"}))
        for path in sorted(folder.glob("*.sql"))
    ]
    result = run_steps(plan(unchecked), settings, clients.s3, clients.glue, tmp_path / "work", {})

    assert [o["output"] for o in result["outputs"]] == ["fine"]
    errors = {e["transform"]: e["error"] for e in result["errors"]}
    assert sorted(errors) == ["reads_a_file", "reads_a_sibling", "reads_text"]
    for name, error in errors.items():
        assert error.startswith(f"{name}.sql") and "Permission Error" in error, error
    assert "secret-value" not in json.dumps(result)
