"""Parity: every shipped transform gives the same output on Spark, through the generated AWS
Glue job script, as in the local DuckDB job, over the same processed files.

Inputs: the sample ``data/samples/movies.csv`` and a generated messier movies file (several
genres per movie in mixed case, mixed decades, NULL years and genres, quoted commas, quotes and
a newline inside titles, duplicates, a rejected row), both through the real preprocessing and
the real crawler into the emulator's Glue catalog. The DuckDB job runs against the emulator.
The Glue job script runs on local PySpark with the emulator's Glue client (so the schemas come
from the catalog, as on AWS) and the processed objects mirrored to local disk (its
``--csvpipe_locations`` argument). The outputs must match: column names and types, rows (in
order where the SQL orders them), and the CSV text byte for byte unless a column is floating
point (then numerically, to 12 significant digits).

Transforms are discovered from the packaged folder, so a new one is checked too; one that reads
a table these inputs lack fails here until data for it is added to ``INPUTS``.
"""

from __future__ import annotations

import csv
import io
import json
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import pytest
import sqlglot
from sqlglot import exp

from emulators.aws_emulator import AwsEmulator
from pipeline import layout
from pipeline.aws import Clients
from pipeline.catalog.crawler import crawl_dataset
from pipeline.preprocess.handler import preprocess_file
from pipeline.preprocess.rules import load_rules
from pipeline.provision import provision
from pipeline.publish.manifest import quicksight_manifest
from pipeline.settings import PACKAGED_RULES, PACKAGED_TRANSFORMS
from pipeline.spark import plan_glue_job, write_glue_job
from pipeline.storage import mirror_prefix
from pipeline.transform.job import load_plan, run_steps
from pipeline.transform.sql import discover
from tests.conftest import SAMPLE, make_settings
from tests.spark.scripts import load_script

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

pytestmark = [pytest.mark.slow, pytest.mark.spark]

TRANSFORMS = {t.name: t for t in discover(PACKAGED_TRANSFORMS)}
FLOATING = {"DOUBLE", "FLOAT", "REAL"}

GENRES = [
    "Action", "Adventure", "Comedy", "Drama", "Romance", "Horror", "Thriller", "Crime", "Children",
    "Animation", "Sci-Fi", "Documentary", "Film-Noir", "IMAX", "(no genres listed)", "Western",
]  # fmt: skip
WORDS = [
    "Night", "River", "Ghost", "Summer", "City", "Lost", "Iron", "Blue", "Last", "Secret", "Dream",
    "King", "Storm", "Silent", "Golden", "Road", "Star", "Wild", "Little", "House",
]  # fmt: skip
NA_TOKENS = ["", "NA", "null", "-", "N/A"]


def write_messy_movies(path: Path, rows: int = 300, seed: int = 20240531) -> Path:
    """A raw movies file as people export them: several genres per movie in any case with
    stray spaces and repeats, titles from the 1920s to the 2020s or without a year, "NA"-like
    genres, quoted commas, quotes and a newline in titles, duplicates and a bad id."""
    rnd = random.Random(seed)
    records = []
    for i in range(rows):
        title = " ".join(rnd.sample(WORDS, rnd.randint(1, 3)))
        if rnd.random() < 0.25:
            title += ", The"
        if rnd.random() < 0.8:
            title += f" ({rnd.randint(1921, 2023)})"
        if rnd.random() < 0.12:
            genre = rnd.choice(NA_TOKENS)
        else:
            picked = rnd.sample(GENRES, rnd.randint(1, 4))
            if rnd.random() < 0.2:
                picked.append(picked[0].upper())
            genre = "|".join(rnd.choice([g, g.lower(), g.upper(), f" {g} "]) for g in picked)
        records.append([str(1001 + i), title, genre])
    records += [
        [
            "2001",
            'Dr. Strangelove or: How I Learned to Stop Worrying and Love the "Bomb" (1964)',
            "Comedy|War",
        ],
        ["2002", "Two\nLines (1999)", "Drama"],
        ["2003", "Amélie (2001)", "Comedy|Romance"],
        ["2004", "Good, the Bad and the Ugly, The (1966)", "Action|Adventure|Western"],
        ["abc", "Rejected For Its Id (2000)", "Drama"],
        # Formula-like cells: both jobs neutralise them in the CSV, not in the Parquet.
        ["2005", '=HYPERLINK("http://x.test") (2001)', "Drama"],
        ["2006", "-5", "Comedy"],
        ["2007", "@cmd (1999)", "Horror"],
        ["2008", "+SUM(A1)", "Crime"],
        records[3],
        records[10],
    ]
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["movieId", "title", "genre"])
        writer.writerows(records)
    return path


# Raw files per dataset (catalog table), each written by a function given the folder.
INPUTS: dict[str, list[Callable[[Path], Path]]] = {
    "movies": [lambda folder: SAMPLE, lambda folder: write_messy_movies(folder / "messy_movies.csv")],
}


@dataclass(frozen=True)
class Parity:
    duckdb: dict[str, Any]  # the DuckDB job's run record
    spark: dict[str, Any]  # the Glue job's summary
    duckdb_root: Path  # the final bucket's objects, downloaded
    spark_root: Path  # the Glue job's final root
    processed: dict[str, Path]  # dataset -> local copy of its processed objects
    seconds: dict[str, float]


@pytest.fixture(scope="module")
def parity(emulator: AwsEmulator, spark: SparkSession, tmp_path_factory: pytest.TempPathFactory) -> Parity:
    root = tmp_path_factory.mktemp("parity")
    unique = uuid.uuid4().hex[:8]
    settings = make_settings(
        root / "data",
        emulator.port,
        raw_bucket=f"raw-{unique}",
        processed_bucket=f"processed-{unique}",
        final_bucket=f"final-{unique}",
        queue_name=f"events-{unique}",
        glue_database=f"db_{unique}",
    )
    clients = Clients(settings)
    provision(clients)
    s3, glue, work = clients.s3, clients.glue, root / "work"

    processed: dict[str, Path] = {}
    for dataset, makers in INPUTS.items():
        rules = load_rules(PACKAGED_RULES, dataset)
        for maker in makers:
            raw = maker(root)
            key = f"{dataset}/{raw.name}"
            scratch = root / "preprocess" / dataset / raw.stem
            scratch.mkdir(parents=True)
            output = preprocess_file(raw, key, rules, scratch, settings.lambda_memory_mb).output
            s3.upload_file(str(output), settings.processed_bucket, layout.processed_key(key))
        crawl_dataset(dataset, settings, s3, glue, work)
        mirror_prefix(s3, settings.processed_bucket, layout.dataset_prefix(dataset), root / "mirror")
        processed[dataset] = root / "mirror" / settings.processed_bucket / dataset
    steps, references = load_plan(settings)

    started = time.perf_counter()
    duck = run_steps(steps, settings, s3, glue, work, references)
    seconds = {"duckdb": time.perf_counter() - started}
    duckdb_root = root / "duckdb"
    for output in duck["outputs"]:
        for key in (layout.final_data_key(output["output"]), layout.final_parquet_key(output["output"])):
            (duckdb_root / key).parent.mkdir(parents=True, exist_ok=True)
            s3.download_file(settings.final_bucket, key, str(duckdb_root / key))

    script = write_glue_job(plan_glue_job(steps, references, settings), root / "glue")
    job = load_script(script)
    spark_root = root / "spark"
    argv = [
        "--JOB_NAME",
        "csvpipe-transforms",
        "--csvpipe_final_root",
        spark_root.as_uri() + "/",
        "--csvpipe_reference_root",
        (root / "glue" / "reference").as_uri() + "/",
        "--csvpipe_locations",
        json.dumps({dataset: folder.as_uri() + "/" for dataset, folder in processed.items()}),
    ]
    started = time.perf_counter()
    summary = job.run_job(spark, glue, job.JOB, job.parse_options(job.JOB, argv))
    seconds["spark"] = time.perf_counter() - started
    print(f"\nparity: DuckDB job {seconds['duckdb']:.1f} s, Glue job on local Spark {seconds['spark']:.1f} s")
    return Parity(duck, summary, duckdb_root, spark_root, processed, seconds)


def test_both_jobs_run_every_shipped_transform(parity: Parity) -> None:
    for engine, record in (("DuckDB", parity.duckdb), ("Spark", parity.spark)):
        assert record["errors"] == [], f"{engine}: {record['errors']}"
        assert record["skipped"] == [], (
            f"{engine} skipped transforms (add input data for their tables to INPUTS): {record['skipped']}"
        )
        assert sorted(o["output"] for o in record["outputs"]) == sorted(TRANSFORMS), engine
    assert parity.spark["order"] == parity.duckdb["order"]


def test_the_inputs_reach_the_messy_cases(parity: Parity) -> None:
    """Parity is only as good as its inputs: these must hold for the comparison to mean much."""
    files = [str(p) for p in sorted(parity.processed["movies"].glob("*.csv"))]
    with duckdb.connect() as con:
        facts = con.execute(
            """SELECT count(*) FILTER (WHERE year IS NULL), count(*) FILTER (WHERE genre IS NULL),
                      count(*) FILTER (WHERE genre LIKE '%|%'), count(DISTINCT year // 10),
                      count(*) FILTER (WHERE title LIKE '%,%'), count(*) FILTER (WHERE title LIKE '%"%'),
                      count(*) FILTER (WHERE title LIKE '%' || chr(10) || '%'),
                      count(*) FILTER (WHERE left(title, 1) IN ('=', '@', '+')), count(*)
               FROM read_csv(?, header = true, union_by_name = true)""",
            [files],
        ).fetchone()
    null_years, null_genres, multi_genre, decades, commas, quotes, newlines, formulas, rows = facts
    assert null_years >= 20 and null_genres >= 20 and multi_genre >= 100 and decades >= 8, facts
    assert commas >= 20 and quotes >= 1 and newlines >= 1 and formulas == 3 and rows >= 330, facts


def read_parquet(path: Path) -> tuple[list[tuple[str, str]], list[tuple[Any, ...]]]:
    """Column names and DuckDB types of a Parquet file, and its rows in file order."""
    with duckdb.connect() as con:
        described = con.execute("DESCRIBE SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
        rows = con.execute("SELECT * FROM read_parquet(?)", [str(path)]).fetchall()
    return [(name, kind) for name, kind, *_ in described], rows


def normalised(row: tuple[Any, ...] | list[Any]) -> tuple[Any, ...]:
    """Floats to 12 significant digits: the tolerance for doubles."""
    return tuple(float(f"{v:.12g}") if isinstance(v, float) else v for v in row)


def order_keys(sql: str, columns: list[str]) -> list[int] | None:
    """Positions of the output columns the query orders by; None when it does not order. When
    it orders by something that is not an output column, every column counts."""
    order = sqlglot.parse_one(sql, read="duckdb").args.get("order")
    if order is None:
        return None
    keys = []
    for ordered in order.expressions:
        name = ordered.this.alias_or_name if isinstance(ordered.this, exp.Column) else None
        if name not in columns:
            return list(range(len(columns)))
        keys.append(columns.index(name))
    return keys


def differences(expected: list[tuple[Any, ...]], actual: list[tuple[Any, ...]]) -> str:
    missing, extra = Counter(expected) - Counter(actual), Counter(actual) - Counter(expected)
    return f"only in DuckDB: {list(missing.elements())[:10]}; only in Spark: {list(extra.elements())[:10]}"


def assert_same_rows(sql: str, columns: list[str], duck: list[Any], spark: list[Any]) -> None:
    duck_rows, spark_rows = [normalised(r) for r in duck], [normalised(r) for r in spark]
    assert duck_rows, "the transform gave no rows: parity would mean nothing"
    assert Counter(duck_rows) == Counter(spark_rows), differences(duck_rows, spark_rows)
    keys = order_keys(sql, columns)
    if keys is not None:  # ties may come in any order: compare the order of the sort keys only
        assert [[r[k] for k in keys] for r in duck_rows] == [[r[k] for k in keys] for r in spark_rows]


@pytest.mark.parametrize("name", sorted(TRANSFORMS))
def test_spark_output_matches_duckdb(parity: Parity, name: str) -> None:
    sql = TRANSFORMS[name].sql
    duck_columns, duck_rows = read_parquet(parity.duckdb_root / layout.final_parquet_key(name))
    spark_columns, spark_rows = read_parquet(parity.spark_root / layout.final_parquet_key(name))
    assert spark_columns == duck_columns
    names = [column for column, _ in duck_columns]
    assert_same_rows(sql, names, duck_rows, spark_rows)

    duck_csv = (parity.duckdb_root / layout.final_data_key(name)).read_bytes()
    spark_csv = (parity.spark_root / layout.final_data_key(name)).read_bytes()
    floating = [i for i, (_, kind) in enumerate(duck_columns) if kind in FLOATING]
    if not floating:
        assert spark_csv.decode("utf-8") == duck_csv.decode("utf-8")
    else:

        def parsed(data: bytes) -> list[list[Any]]:
            rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
            return [[float(v) if i in floating and v else v for i, v in enumerate(r)] for r in rows[1:]]

        assert spark_csv.splitlines()[0] == duck_csv.splitlines()[0]
        assert_same_rows(sql, names, parsed(duck_csv), parsed(spark_csv))

    record = next(o for o in parity.spark["outputs"] if o["output"] == name)
    assert record["rows"] == len(duck_rows)
    manifest = json.loads((parity.spark_root / layout.final_manifest_key(name)).read_text())
    assert manifest == quicksight_manifest([record["data"]])
