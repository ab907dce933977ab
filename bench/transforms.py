"""The transform stage's workloads: the shipped movie transforms over one processed CSV, by csvpipe's
job and by plain DuckDB, pandas and polars doing the same work.

Why a module of its own: ``bench.workloads`` runs one of these in a fresh child process (its peak
RSS alone), and the runner (``python -m bench``) compares them. The same work for every contender:
the five transforms of ``pipeline/transforms/`` in plan order, each result written as CSV and as
Parquet into the work dir, ``movies_per_genre_class`` reading ``genre_classification``'s output and
the ``genre_classes`` reference table. Each returns the rows of every output, so the runner checks
that all contenders computed the same thing.

- **csvpipe**: the job's own ``run_local`` per step (what ``run_step`` runs once its inputs are on
  local disk: typed views by column name, the sandbox, one DuckDB connection per transform under
  ``job_memory_mb``, the formula guard on the CSV); the catalog types come from the crawler's
  inference on the same file, done before the timing (the crawl is a stage of its own).
- **duckdb**: one connection with the same memory limit and threads, ``read_csv`` with
  auto-detection, the same SQL text, each result stored once and copied to CSV and Parquet.
- **pandas** and **polars**: the same five queries written in each library's own API.
"""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

# Output name -> the rows it has; compared across contenders by the runner.
Rows = dict[str, int]
TRANSFORM_ORDER = (
    "genre_classification",
    "genres_by_decade",
    "movies_per_genre",
    "movies_per_year",
    "movies_per_genre_class",
)
# The aggregates, small: their CSVs must be byte for byte the same for every contender.
COMPARED = ("genres_by_decade", "movies_per_genre", "movies_per_year", "movies_per_genre_class")
CLASSES = (  # genre_classification.sql's CASE, in order: (class, substrings of lower(trim(genre)))
    ("action & adventure", ("action", "adventure")),
    ("horror & thriller", ("horror", "thriller")),
    ("crime", ("crime",)),
    ("comedy", ("comedy",)),
    ("drama & romance", ("drama", "romance")),
    ("family", ("children", "animation")),
)


def _digests(csv_of: dict[str, Path]) -> dict[str, str]:
    return {name: hashlib.sha256(csv_of[name].read_bytes()).hexdigest() for name in COMPARED}


def _settings(memory_mb: int) -> Any:
    from pipeline.settings import load_settings, replace

    return replace(load_settings(), job_memory_mb=memory_mb)


def run_csvpipe(file: Path, work_dir: Path, memory_mb: int, dataset: str) -> dict[str, Any]:
    from pipeline.catalog.crawler import scan_file
    from pipeline.catalog.infer import infer_table
    from pipeline.catalog.options import crawler_options
    from pipeline.transform.job import CatalogInput, LocalInputs, load_plan, run_local

    settings = _settings(memory_mb)
    crawl_started = time.perf_counter()
    schema = infer_table([scan_file(file, f"{dataset}/{file.name}", crawler_options(settings))], "csvpipe")
    catalog = {
        dataset: CatalogInput(f"s3://bench/{dataset}/", {c.name: c.type for c in schema.columns}, {}, [file])
    }
    started = time.perf_counter()
    phases = {"crawl (not timed)": started - crawl_started}
    steps, references = load_plan(settings)
    rows: Rows = {}
    outputs: dict[str, tuple[str, Path]] = {}
    csv_of: dict[str, Path] = {}
    for step in steps:
        inputs = LocalInputs(
            catalog={name: catalog[name] for name in step.catalog},
            references={name: references[name] for name in step.references},
            outputs={name: outputs[name] for name in step.upstream},
        )
        out_dir = work_dir / step.name
        out_dir.mkdir()
        step_started = time.perf_counter()
        result = run_local(step, inputs, settings, out_dir)
        phases[step.name] = time.perf_counter() - step_started
        rows[step.name] = result.rows
        outputs[step.name] = (f"s3://bench/{step.name}", result.parquet)
        csv_of[step.name] = result.csv
    seconds = time.perf_counter() - started
    return {
        "work_seconds": seconds,
        "digests": _digests(csv_of),
        "phases": phases,
        "outputs": rows,
    }


def run_duckdb(file: Path, work_dir: Path, memory_mb: int, dataset: str) -> dict[str, Any]:
    import duckdb

    from pipeline.settings import load_settings
    from pipeline.sqltext import literal
    from pipeline.transform.sql import discover, reference_tables

    settings = load_settings()
    transforms = {t.name: t for t in discover(settings.transforms_dir)}
    config: dict[str, Any] = {"memory_limit": f"{memory_mb}MB", "temp_directory": str(work_dir), "threads": 2}
    rows: Rows = {}
    with duckdb.connect(config=config) as con:
        con.execute(f"CREATE VIEW {dataset} AS SELECT * FROM read_csv({literal(str(file))})")
        for name, path in reference_tables(settings.transforms_dir).items():
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_csv({literal(str(path))})")
        phases = {}
        for name in TRANSFORM_ORDER:
            step_started = time.perf_counter()
            con.execute(f"CREATE TABLE result_{name} AS {transforms[name].sql}")
            parquet = work_dir / f"{name}.parquet"
            con.execute(f"COPY result_{name} TO {literal(str(parquet))} (FORMAT parquet)")
            con.execute(f"COPY result_{name} TO {literal(str(work_dir / f'{name}.csv'))} (FORMAT csv)")
            con.execute(f"DROP TABLE result_{name}")
            con.execute(f"CREATE VIEW {name} AS SELECT * FROM read_parquet({literal(str(parquet))})")
            (rows[name],) = con.execute(f"SELECT count(*) FROM {name}").fetchone() or (0,)
            phases[name] = time.perf_counter() - step_started
    digests = _digests({name: work_dir / f"{name}.csv" for name in COMPARED})
    return {"outputs": rows, "version": duckdb.__version__, "digests": digests, "phases": phases}


def _reference_classes() -> Path:
    from pipeline.settings import load_settings
    from pipeline.transform.sql import reference_tables

    return reference_tables(load_settings().transforms_dir)["genre_classes"]


def run_pandas(file: Path, work_dir: Path, memory_mb: int, dataset: str) -> dict[str, Any]:
    import numpy as np
    import pandas as pd

    types = {"movie_id": "Int64", "year": "Int64", "title": "string", "genre": "string"}
    movies = pd.read_csv(file, dtype=types)
    outputs: dict[str, pd.DataFrame] = {}
    genre = movies["genre"].str.strip().str.lower()
    conditions = [
        genre.str.contains("|".join(words), regex=True).fillna(False).to_numpy(dtype=bool)
        for _, words in CLASSES
    ]
    conditions.append(movies["genre"].isna().to_numpy(dtype=bool))
    classes = np.select(conditions, [name for name, _ in CLASSES] + ["unknown"], default="other")
    classified = movies[["movie_id", "title", "year", "genre"]].assign(genre_class=classes)
    outputs["genre_classification"] = classified.sort_values("movie_id", kind="stable")

    with_genre = movies.dropna(subset=["genre"])
    per_movie = with_genre.assign(genre=with_genre["genre"].str.split("|")).explode("genre")
    dated = per_movie.dropna(subset=["year"])
    decades = dated.assign(decade=(dated["year"] // 10) * 10).groupby(["decade", "genre"]).size()
    decades = decades.rename("movies").reset_index()
    outputs["genres_by_decade"] = decades.sort_values(
        ["decade", "movies", "genre"], ascending=[True, False, True]
    )
    per_genre = per_movie.groupby("genre").size().rename("movies").reset_index()
    outputs["movies_per_genre"] = per_genre.sort_values(["movies", "genre"], ascending=[False, True])
    per_year = movies.dropna(subset=["year"]).groupby("year").size().rename("movies").reset_index()
    outputs["movies_per_year"] = per_year.sort_values("year")
    reference = pd.read_csv(_reference_classes(), dtype="string")
    joined = classified.merge(reference, on="genre_class", how="left")
    joined["audience"] = joined["audience"].fillna("unrated")
    per_class = joined.groupby(["genre_class", "audience"]).size().rename("movies").reset_index()
    outputs["movies_per_genre_class"] = per_class.sort_values(
        ["movies", "genre_class"], ascending=[False, True]
    )
    for name, frame in outputs.items():
        frame.to_parquet(work_dir / f"{name}.parquet", index=False)
        frame.to_csv(work_dir / f"{name}.csv", index=False)
    rows = {name: len(frame) for name, frame in outputs.items()}
    digests = _digests({name: work_dir / f"{name}.csv" for name in COMPARED})
    return {"outputs": rows, "version": pd.__version__, "digests": digests}


def run_polars(file: Path, work_dir: Path, memory_mb: int, dataset: str) -> dict[str, Any]:
    import polars as pl

    movies = pl.scan_csv(
        file, schema={"movie_id": pl.Int64, "title": pl.String, "genre": pl.String, "year": pl.Int64}
    )
    genre = pl.col("genre").str.strip_chars().str.to_lowercase()
    (first, first_words), *others = CLASSES
    classes = pl.when(genre.str.contains("|".join(first_words))).then(pl.lit(first))
    for name, words in others:  # the first matching class wins, as in the SQL's CASE
        classes = classes.when(genre.str.contains("|".join(words))).then(pl.lit(name))
    classes = classes.when(pl.col("genre").is_null()).then(pl.lit("unknown")).otherwise(pl.lit("other"))
    classified = (
        movies.select("movie_id", "title", "year", "genre", classes.alias("genre_class"))
        .sort("movie_id", maintain_order=True)
        .collect()
    )
    per_movie = (
        movies.filter(pl.col("genre").is_not_null())
        .with_columns(pl.col("genre").str.split("|"))
        .explode("genre")
    )
    reference = pl.read_csv(_reference_classes(), infer_schema=False)
    outputs = {
        "genre_classification": classified,
        "genres_by_decade": per_movie.filter(pl.col("year").is_not_null())
        .group_by((pl.col("year") // 10 * 10).alias("decade"), "genre")
        .agg(pl.len().alias("movies"))
        .sort(["decade", "movies", "genre"], descending=[False, True, False])
        .collect(),
        "movies_per_genre": per_movie.group_by("genre")
        .agg(pl.len().alias("movies"))
        .sort(["movies", "genre"], descending=[True, False])
        .collect(),
        "movies_per_year": movies.filter(pl.col("year").is_not_null())
        .group_by("year")
        .agg(pl.len().alias("movies"))
        .sort("year")
        .collect(),
        "movies_per_genre_class": classified.join(reference, on="genre_class", how="left")
        .with_columns(pl.col("audience").fill_null("unrated"))
        .group_by("genre_class", "audience")
        .agg(pl.len().alias("movies"))
        .sort(["movies", "genre_class"], descending=[True, False]),
    }
    for name, frame in outputs.items():
        frame.write_parquet(work_dir / f"{name}.parquet")
        frame.write_csv(work_dir / f"{name}.csv")
    rows = {name: frame.height for name, frame in outputs.items()}
    digests = _digests({name: work_dir / f"{name}.csv" for name in COMPARED})
    return {"outputs": rows, "version": pl.__version__, "digests": digests}
