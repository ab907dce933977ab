"""The generated Glue job beyond the shipped transforms: the reader that lines CSV files up by
header name, the script run as Glue runs it (a Python process with job arguments) against the
emulator's catalog, and the job request accepted by the Glue API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from pipeline import layout
from pipeline.aws import Clients, client
from pipeline.catalog.crawler import crawl_dataset
from pipeline.catalog.plan import Column, table_input
from pipeline.settings import replace
from pipeline.spark import glue_runtime, plan_glue_job, write_glue_job
from pipeline.transform.job import load_plan

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

SALES = "id,amount,region\n1,2.5,eu\n2,3,us\n3,1.5,eu\n"


def write(folder: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text(text, encoding="utf-8")
    return folder


@pytest.mark.slow
@pytest.mark.spark
def test_the_reader_lines_files_up_by_header_name_with_the_catalog_types(
    spark: SparkSession, tmp_path: Path
) -> None:
    folder = write(
        tmp_path / "sales",
        {
            "a.csv": 'id,amount,region\n1,2.5,eu\n2,3,"us, east"\n',
            "b.csv": "region,id\neu,3\n",  # other order, one column fewer
            "2024/c.csv": 'id,amount,region\n4,1.5,"two\nlines ""quoted"""\n',
            "_rejects/x.csv": "id\n99\n",
            ".hidden.csv": "id\n98\n",
            "a.csv.etag": "abc",
        },
    )
    columns = [Column("id", "bigint"), Column("amount", "double"), Column("region", "string")]
    table = table_input("sales", folder.as_uri() + "/", columns, 4)
    frame = glue_runtime.read_catalog_table(spark, glue_runtime.Files(spark), folder.as_uri(), table)

    assert [(f.name, f.dataType.simpleString()) for f in frame.schema.fields] == [
        ("id", "bigint"),
        ("amount", "double"),
        ("region", "string"),
    ]
    assert sorted(tuple(row) for row in frame.collect()) == [
        (1, 2.5, "eu"),
        (2, 3.0, "us, east"),
        (3, None, "eu"),
        (4, 1.5, 'two\nlines "quoted"'),
    ]


@pytest.mark.slow
@pytest.mark.spark
def test_a_table_column_that_no_file_has_reads_as_null(spark: SparkSession, tmp_path: Path) -> None:
    """The table keeps a column dropped from every current file (and a renamed one under both
    names): Spark reads it as NULL of its type, as the DuckDB job does."""
    folder = write(
        tmp_path / "postal",
        {"a.csv": "code,commune\n2B366,CHISA\n", "b.csv": "code,commune\n30001,AIGALIERS\n"},
    )
    columns = [Column("code", "string"), Column("nom", "string"), Column("gps", "double")]
    table = table_input(
        "postal", folder.as_uri() + "/", [*columns[:1], Column("commune", "string"), *columns[1:]], 2
    )
    frame = glue_runtime.read_catalog_table(spark, glue_runtime.Files(spark), folder.as_uri(), table)
    assert [(f.name, f.dataType.simpleString()) for f in frame.schema.fields] == [
        ("code", "string"),
        ("commune", "string"),
        ("nom", "string"),
        ("gps", "double"),
    ]
    assert sorted(tuple(row) for row in frame.collect()) == [
        ("2B366", "CHISA", None, None),
        ("30001", "AIGALIERS", None, None),
    ]


@pytest.mark.slow
@pytest.mark.spark
def test_a_value_not_of_its_catalog_type_fails_the_read(spark: SparkSession, tmp_path: Path) -> None:
    folder = write(tmp_path / "t", {"a.csv": "id\n1\nabc\n"})
    table = table_input("t", folder.as_uri(), [Column("id", "bigint")], 2)
    frame = glue_runtime.read_catalog_table(spark, glue_runtime.Files(spark), folder.as_uri(), table)
    with pytest.raises(Exception) as failure:  # py4j's error: a Spark task failed
        frame.collect()
    assert glue_runtime.error_text(failure.value) == (
        "[MALFORMED_RECORD_IN_PARSING.WITHOUT_SUGGESTION] Malformed records are detected in record "
        'parsing: [null]. (java.lang.NumberFormatException: For input string: "abc")'
    )


def spark_process_env(tmp_path: Path) -> dict[str, str]:
    """A clean environment for a PySpark process: local mode on 127.0.0.1 without the web UI
    (PySpark reads spark-submit's arguments from PYSPARK_SUBMIT_ARGS), emulator credentials."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("CSVPIPE_", "AWS_", "PYSPARK_", "SPARK_"))
    }
    settings = " ".join(
        f"--conf {key}={value}"
        for key, value in {
            "spark.driver.host": "127.0.0.1",
            "spark.driver.bindAddress": "127.0.0.1",
            "spark.ui.enabled": "false",
            "spark.ui.showConsoleProgress": "false",
            "spark.sql.shuffle.partitions": "2",
            "spark.local.dir": str(tmp_path / "spark-local"),
            "spark.sql.warehouse.dir": str(tmp_path / "spark-warehouse"),
        }.items()
    )
    return {
        **env,
        "PYSPARK_SUBMIT_ARGS": f"--master local[2] --driver-memory 1g {settings} pyspark-shell",
        "SPARK_LOCAL_IP": "127.0.0.1",
        "SPARK_LOCAL_HOSTNAME": "localhost",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }


@pytest.mark.slow
@pytest.mark.spark
def test_the_script_runs_as_glue_runs_it_and_a_failing_transform_fails_the_run(
    clients: Clients, tmp_path: Path
) -> None:
    transforms = write(
        tmp_path / "transforms",
        {
            "totals.sql": "SELECT region, sum(amount) AS total FROM sales GROUP BY region ORDER BY region",
            "by_continent.sql": "SELECT r.continent, sum(t.total) AS total FROM totals AS t "
            "JOIN regions AS r ON r.region = t.region GROUP BY r.continent ORDER BY r.continent",
            "broken.sql": "SELECT no_such_column FROM sales",
            "after_broken.sql": "SELECT count(*) AS n FROM broken",
            "waiting.sql": "SELECT * FROM customers",
            "reference/regions.csv": "region,continent\neu,Europe\nus,America\n",
        },
    )
    settings = replace(clients.settings, transforms_dir=transforms)
    clients.s3.put_object(Bucket=settings.processed_bucket, Key="sales/a.csv", Body=SALES.encode())
    crawl_dataset("sales", settings, clients.s3, clients.glue, tmp_path / "work")
    steps, references = load_plan(settings)
    script = write_glue_job(plan_glue_job(steps, references, settings), tmp_path / "glue")
    local_data = write(tmp_path / "processed" / "sales", {"a.csv": SALES})
    final = tmp_path / "final"

    run = subprocess.run(
        [
            sys.executable,
            str(script),
            "--JOB_NAME",
            "csvpipe-transforms",
            "--TempDir",
            "s3://somewhere/temporary/",
            "--csvpipe_glue_endpoint",
            settings.endpoint_url or "",
            "--csvpipe_final_root",
            final.as_uri(),
            "--csvpipe_reference_root",
            (tmp_path / "glue" / "reference").as_uri(),
            "--csvpipe_locations",
            json.dumps({"sales": local_data.as_uri()}),
        ],
        env=spark_process_env(tmp_path),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    assert run.returncode == 1, run.stderr[-3000:]
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("csvpipe: 1 transform(s) failed: broken: broken.sql: "), last
    assert "no_such_column" in last
    summary = json.loads(run.stdout[run.stdout.index("{") :])
    assert summary["order"] == ["broken", "totals", "waiting", "after_broken", "by_continent"]
    assert [o["output"] for o in summary["outputs"]] == ["totals", "by_continent"]
    assert summary["skipped"] == [
        {"transform": "waiting", "reason": "waiting for table(s) customers"},
        {"transform": "after_broken", "reason": "upstream transform broken failed"},
    ]
    # The same bytes the DuckDB job publishes (tests/functional/test_glue_stage.py).
    assert (final / layout.final_data_key("totals")).read_text() == "region,total\neu,4.0\nus,3.0\n"
    assert (
        final / layout.final_data_key("by_continent")
    ).read_text() == "continent,total\nAmerica,3.0\nEurope,4.0\n"
    record = json.loads((final / layout.final_run_key("by_continent")).read_text())
    assert (
        record["inputs"]["regions"]["kind"] == "reference" and record["inputs"]["totals"]["kind"] == "output"
    )
    assert record["columns"] == [{"name": "continent", "type": "string"}, {"name": "total", "type": "double"}]
    left = sorted(str(p.relative_to(final)) for p in final.rglob("*") if p.is_file())
    assert left == sorted(
        layout.final_data_key(name) if kind == "data" else getattr(layout, f"final_{kind}_key")(name)
        for name in ("totals", "by_continent")
        for kind in ("data", "parquet", "manifest", "run")
    ), "no scratch folders, checksum files or part files are left behind"


@pytest.mark.slow
def test_the_job_request_creates_a_glue_5_job(clients: Clients) -> None:
    settings = clients.settings
    steps, references = load_plan(settings)
    account = client(settings, "sts").get_caller_identity()["Account"]
    role = f"arn:aws:iam::{account}:role/csvpipe-glue"
    plan = plan_glue_job(steps, references, settings, role=role, name=f"csvpipe-{settings.glue_database}")

    clients.glue.create_job(**plan.request)

    job = clients.glue.get_job(JobName=plan.name)["Job"]
    assert job["Role"] == role and job["GlueVersion"] == "5.0"
    assert job["Command"]["ScriptLocation"] == f"s3://{settings.final_bucket}/_glue/csvpipe_transforms.py"
    assert job["DefaultArguments"]["--csvpipe_database"] == settings.glue_database


@pytest.mark.slow
@pytest.mark.spark
def test_a_partitioned_table_gets_its_partition_columns_from_the_catalog(
    spark: SparkSession, clients: Clients, tmp_path: Path
) -> None:
    settings = clients.settings
    objects = {
        "sales/region=eu/a.csv": "id,amount\n1,2.5\n3,1.5\n",
        "sales/region=us/b.csv": "id,amount\n2,3\n",
    }
    for key, text in objects.items():
        clients.s3.put_object(Bucket=settings.processed_bucket, Key=key, Body=text.encode())
    crawl_dataset("sales", settings, clients.s3, clients.glue, tmp_path / "work")
    table = glue_runtime.get_table(clients.glue, settings.glue_database, "sales")
    assert table is not None and [k["Name"] for k in table["PartitionKeys"]] == ["region"]
    partitions = glue_runtime.get_partitions(clients.glue, settings.glue_database, table)
    local = write(
        tmp_path / "processed" / "sales", {key.removeprefix("sales/"): text for key, text in objects.items()}
    )

    frame = glue_runtime.read_catalog_table(
        spark, glue_runtime.Files(spark), local.as_uri(), table, partitions
    )

    assert frame.columns == ["id", "amount", "region"]
    assert sorted(tuple(row) for row in frame.collect()) == [(1, 2.5, "eu"), (2, 3.0, "us"), (3, 1.5, "eu")]


@pytest.mark.slow
@pytest.mark.spark
def test_the_spark_job_guards_the_same_formula_cells_as_the_duckdb_job(spark: SparkSession) -> None:
    from tests.unit.sql_cases import FORMULA_CELLS

    frame = spark.createDataFrame([(cell,) for cell in FORMULA_CELLS], "name string")
    guarded = [row["name"] for row in glue_runtime._csv_ready(frame, formula_guard=True).collect()]
    assert guarded == list(FORMULA_CELLS.values())
