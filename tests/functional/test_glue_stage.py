"""The crawler and the SQL jobs against the real Glue catalog API and DuckDB."""

from __future__ import annotations

import json
from pathlib import Path

from emulators.glue_jobs import run_transforms
from pipeline import layout
from pipeline.aws import Clients
from pipeline.catalog.crawler import crawl_dataset, plan_dataset
from pipeline.settings import replace
from pipeline.transform.sql import discover


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
    (folder / "broken.sql").write_text("SELECT no_such_column FROM sales")
    (folder / "waiting.sql").write_text("SELECT * FROM customers")
    settings = replace(clients.settings, transforms_dir=folder)
    clients = Clients(settings)
    put_processed(clients, "sales/a.csv", "id,amount,region\n1,2.5,eu\n2,3,us\n3,1.5,eu\n")
    crawl_dataset("sales", settings, clients.s3, clients.glue, tmp_path / "work")

    result = run_transforms(clients, discover(folder), tmp_path / "work")

    assert result["status"] == "failed"
    assert [o["output"] for o in result["outputs"]] == ["totals"]
    assert result["skipped"] == [{"transform": "waiting", "reason": "waiting for table(s) customers"}]
    (error,) = result["errors"]
    assert error["transform"] == "broken" and "broken.sql" in error["error"]
    assert "no_such_column" in error["error"]

    final = settings.final_bucket
    data = clients.s3.get_object(Bucket=final, Key=layout.final_data_key("totals"))["Body"].read()
    assert data.decode() == "region,total\neu,4.0\nus,3.0\n"
    manifest = json.loads(
        clients.s3.get_object(Bucket=final, Key=layout.final_manifest_key("totals"))["Body"].read()
    )
    assert manifest["fileLocations"] == [{"URIs": [f"s3://{final}/totals/totals.csv"]}]
    assert manifest["globalUploadSettings"]["containsHeader"] == "true"
