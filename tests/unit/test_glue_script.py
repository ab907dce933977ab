"""The generated Glue job, without Spark: the plan it carries, the script's text, the job
request against Glue's own API model, and the job program's pure helpers (type mapping, header
grouping, job arguments)."""

from __future__ import annotations

import ast
import json
from pathlib import Path

import botocore.session
import pytest
from botocore.validate import validate_parameters

from pipeline import layout
from pipeline.catalog.types import duckdb_type
from pipeline.publish.manifest import quicksight_manifest
from pipeline.settings import PACKAGED_TRANSFORMS, Settings, load_settings
from pipeline.spark import GlueJobPlan, NotPortable, check, glue_runtime, plan_glue_job, write_glue_job
from pipeline.spark.glue_script import RUNTIME, python_literal, render_script
from pipeline.transform.dag import plan
from pipeline.transform.sql import discover, reference_tables


@pytest.fixture
def settings() -> Settings:
    return load_settings(environ={}, config_path=None)


def packaged_plan(settings: Settings, **options: str) -> GlueJobPlan:
    references = reference_tables(PACKAGED_TRANSFORMS)
    return plan_glue_job(plan(discover(PACKAGED_TRANSFORMS), references), references, settings, **options)


def test_the_job_carries_the_plan_the_duckdb_job_follows(settings: Settings) -> None:
    references = reference_tables(PACKAGED_TRANSFORMS)
    steps = plan(discover(PACKAGED_TRANSFORMS), references)
    job = plan_glue_job(steps, references, settings).job

    assert [s["name"] for s in job["steps"]] == [step.name for step in steps]
    for carried, step in zip(job["steps"], steps, strict=True):
        assert carried["sql"] == check(step.transform).spark_sql
        assert carried["catalog"] == list(step.catalog) and carried["upstream"] == list(step.upstream)
        assert carried["references"] == {name: f"{name}.csv" for name in step.references}
        assert job["keys"][step.name] == {
            "data": layout.final_data_key(step.name),
            "parquet": layout.final_parquet_key(step.name),
            "manifest": layout.final_manifest_key(step.name),
            "run": layout.final_run_key(step.name),
        }
    assert job["database"] == settings.glue_database
    assert job["final_root"] == f"s3://{settings.final_bucket}/"
    assert job["reference_root"] == f"s3://{settings.final_bucket}/_glue/reference/"


def test_the_script_is_the_program_then_the_plan_as_a_literal(settings: Settings) -> None:
    planned = packaged_plan(settings)
    script = planned.script
    tree = ast.parse(script)
    (assignment,) = [n for n in tree.body if isinstance(n, ast.Assign) and ast.unparse(n.targets[0]) == "JOB"]
    assert ast.literal_eval(assignment.value) == planned.job
    assert RUNTIME.read_text(encoding="utf-8").rstrip("\n") in script
    assert script.rstrip().endswith("main(JOB, sys.argv[1:])")
    assert render_script(planned.job) == script, "the same plan gives the same script"
    compile(script, "csvpipe_transforms.py", "exec")


@pytest.mark.parametrize(
    "value",
    [{}, [], {"a": [1, None, True]}, {"sql": "SELECT 'it''s'\nFROM t -- \"x\" \\ '''\n"}, "one line"],
)
def test_python_literal_round_trips(value: object) -> None:
    assert ast.literal_eval(python_literal(value)) == value


def test_the_job_program_needs_nothing_but_the_standard_library_boto3_and_pyspark() -> None:
    tree = ast.parse(RUNTIME.read_text(encoding="utf-8"))
    modules = {alias.name for n in ast.walk(tree) if isinstance(n, ast.Import) for alias in n.names}
    modules |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    third_party = {m.split(".")[0] for m in modules} - {
        "__future__", "argparse", "collections", "csv", "dataclasses", "datetime", "functools", "json",
        "re", "time", "typing", "uuid",
    }  # fmt: skip
    assert third_party == {"boto3", "pyspark"}


def test_the_job_request_is_a_valid_glue_create_job_request(settings: Settings) -> None:
    shape = botocore.session.get_session().get_service_model("glue").operation_model("CreateJob").input_shape
    role = "arn:aws:iam::{account}:role/csvpipe-glue"
    request = packaged_plan(settings, role=role).request
    validate_parameters(request, shape)  # raises ParamValidationError when it is not
    assert request["GlueVersion"] == "5.0" and request["Command"]["Name"] == "glueetl"
    assert request["ExecutionProperty"] == {"MaxConcurrentRuns": 1}
    assert "Role" not in packaged_plan(settings).request


def test_the_assets_location_decides_the_script_and_reference_uris(settings: Settings) -> None:
    planned = packaged_plan(settings, assets_uri="s3://my-glue-assets/csvpipe")
    assert planned.uploads == (
        ("csvpipe_transforms.py", "s3://my-glue-assets/csvpipe/csvpipe_transforms.py"),
        ("reference/genre_classes.csv", "s3://my-glue-assets/csvpipe/reference/genre_classes.csv"),
    )
    assert planned.request["Command"]["ScriptLocation"] == "s3://my-glue-assets/csvpipe/csvpipe_transforms.py"
    assert (
        planned.request["DefaultArguments"]["--csvpipe_reference_root"]
        == "s3://my-glue-assets/csvpipe/reference/"
    )
    with pytest.raises(NotPortable, match="must be an s3:// URI"):
        packaged_plan(settings, assets_uri="/tmp/assets")


def test_a_transform_that_does_not_port_stops_the_packaging_with_one_line(
    settings: Settings, tmp_path: Path
) -> None:
    (tmp_path / "good.sql").write_text("SELECT genre, count(*) AS n FROM movies GROUP BY genre")
    (tmp_path / "bad.sql").write_text("SELECT * EXCLUDE (title) FROM movies")
    (tmp_path / "worse.sql").write_text("SELECT string_agg(title, ',') AS titles FROM movies")
    with pytest.raises(NotPortable) as raised:
        plan_glue_job(plan(discover(tmp_path)), {}, settings)
    message = str(raised.value)
    assert message == (
        "bad.sql does not port to Spark 3.5: line 1: SELECT * EXCLUDE (...): Spark 3.5 has no such clause; "
        "list the columns; 1 more transform(s) too (`csvpipe transform --check` lists every problem)"
    )


def test_writing_the_job_writes_the_script_the_request_and_the_references(
    settings: Settings, tmp_path: Path
) -> None:
    transforms = tmp_path / "transforms"
    (transforms / "reference").mkdir(parents=True)
    (transforms / "reference" / "regions.csv").write_bytes(b"\xef\xbb\xbfregion,continent\neu,Europe\n")
    (transforms / "reference" / "unused.csv").write_text("x\n1\n")
    (transforms / "by_continent.sql").write_text(
        "SELECT r.continent, count(*) AS n FROM sales AS s JOIN regions AS r ON r.region = s.region "
        "GROUP BY r.continent"
    )
    references = reference_tables(transforms)
    planned = plan_glue_job(plan(discover(transforms), references), references, settings)

    script = write_glue_job(planned, tmp_path / "out")

    assert script == tmp_path / "out" / "csvpipe_transforms.py"
    assert script.read_text(encoding="utf-8") == planned.script
    assert json.loads((tmp_path / "out" / "job.json").read_text()) == planned.request
    assert (tmp_path / "out" / "reference" / "regions.csv").read_bytes() == b"region,continent\neu,Europe\n"
    assert not (tmp_path / "out" / "reference" / "unused.csv").exists()


@pytest.mark.parametrize(
    ("glue", "spark"),
    [
        ("bigint", "bigint"),
        ("int", "int"),
        ("integer", "int"),
        ("double", "double"),
        ("float", "float"),
        ("boolean", "boolean"),
        ("date", "date"),
        ("timestamp", "timestamp"),
        ("string", "string"),
        ("decimal(10,2)", "decimal(10,2)"),
        ("DECIMAL(38, 0)", "decimal(38,0)"),
        ("array<string>", "string"),
        ("varchar(20)", "string"),
    ],
)
def test_catalog_types_read_the_same_in_spark_as_in_duckdb(glue: str, spark: str) -> None:
    assert glue_runtime.spark_type(glue) == spark
    duck = duckdb_type(glue).lower().replace("varchar", "string").replace("integer", "int")
    assert duck == spark


def test_files_are_grouped_by_header_in_name_order() -> None:
    headers = {
        "s3://b/t/2.csv": ("id", "name"),
        "s3://b/t/1.csv": ("id", "name"),
        "s3://b/t/3.csv": ("name", "id"),
    }
    assert glue_runtime.group_by_header(headers) == [
        (("id", "name"), ["s3://b/t/1.csv", "s3://b/t/2.csv"]),
        (("name", "id"), ["s3://b/t/3.csv"]),
    ]
    assert glue_runtime.parse_header('\ufeffid,"a, b",c') == ("id", "a, b", "c")
    assert glue_runtime.schema_ddl(("id", "we`ird"), {"id": "bigint"}) == "`id` bigint, `we``ird` string"


@pytest.mark.parametrize(
    ("relative", "read"),
    [
        ("a.csv", True),
        ("2024/b.CSV", True),
        ("_rejects/a.csv", False),
        ("x/_tmp/a.csv", False),
        (".hidden.csv", False),
        ("a.csv.etag", False),
        ("notes.txt", False),
    ],
)
def test_which_files_of_a_location_are_data(relative: str, read: bool) -> None:
    assert glue_runtime.is_data_file(relative) is read


def test_job_arguments_override_the_plan_and_glues_own_are_left_alone() -> None:
    job = {
        "name": "j",
        "database": "db",
        "final_root": "s3://f/",
        "reference_root": "s3://a/ref/",
        "region": "eu-west-1",
    }
    defaults = glue_runtime.parse_options(
        job, ["--JOB_NAME", "j", "--TempDir", "s3://t/", "--job-bookmark-option", "x"]
    )
    assert defaults == glue_runtime.Options("db", "s3://f/", "s3://a/ref/", "eu-west-1", None, {})
    given = glue_runtime.parse_options(
        job,
        [
            "--csvpipe_database", "other", "--csvpipe_final_root", "file:///tmp/final/",
            "--csvpipe_locations", '{"movies": "file:///tmp/movies/"}',
            "--csvpipe_glue_endpoint", "http://127.0.0.1:4577",
        ],
    )  # fmt: skip
    assert given.database == "other" and given.final_root == "file:///tmp/final/"
    assert given.locations == {"movies": "file:///tmp/movies/"}
    assert given.glue_endpoint == "http://127.0.0.1:4577"
    with pytest.raises(glue_runtime.JobArgumentError, match="not JSON"):
        glue_runtime.parse_options(job, ["--csvpipe_locations", "{movies"])
    with pytest.raises(glue_runtime.JobArgumentError, match="must be a JSON object"):
        glue_runtime.parse_options(job, ["--csvpipe_locations", '["movies"]'])


def test_small_helpers() -> None:
    assert glue_runtime.join("s3://b/", "/a/b.csv") == "s3://b/a/b.csv"
    assert glue_runtime.join("file:///tmp/x", "a") == "file:///tmp/x/a"
    uri = "s3://b/o/o.csv"
    assert glue_runtime.manifest_for(
        quicksight_manifest([glue_runtime.DATA_URI]), uri
    ) == quicksight_manifest([uri])
    assert glue_runtime.error_text(ValueError("bad\nmore")) == "bad"
    assert glue_runtime.error_text(ValueError()) == "ValueError"


@pytest.mark.parametrize(
    ("parameters", "serde", "layout"),
    [
        ({"skip.header.line.count": "1", "delimiter": ","}, {}, (True, ",")),
        ({"delimiter": ";"}, {}, (False, ";")),
        ({"skip.header.line.count": "0"}, {"field.delim": "|"}, (False, "|")),
        ({}, {}, (False, ",")),
    ],
)
def test_header_and_delimiter_come_from_the_table_parameters(
    parameters: dict[str, str], serde: dict[str, str], layout: tuple[bool, str]
) -> None:
    table = {"Parameters": parameters, "StorageDescriptor": {"SerdeInfo": {"Parameters": serde}}}
    assert glue_runtime.csv_layout(table) == layout


@pytest.mark.parametrize(
    ("uri", "actual", "relocated"),
    [
        ("s3://p/sales/region=eu/", "file:///tmp/sales/", "file:///tmp/sales/region=eu/"),
        ("s3://p/sales/region=eu/", "s3://p/sales", "s3://p/sales/region=eu/"),
        ("s3://elsewhere/x/", "file:///tmp/sales/", "s3://elsewhere/x/"),
    ],
)
def test_partition_locations_follow_the_table_to_its_actual_location(
    uri: str, actual: str, relocated: str
) -> None:
    assert glue_runtime.relocated(uri, "s3://p/sales/", actual) == relocated
