"""Schemas that change under a dataset, through the stack's own stages (the Lambda's
``preprocess_object``, then the Glue stand-in's ``after_preprocess``: crawl and transforms)
against the real emulator and DuckDB: late values that do not fit the sampled type, types
pinned by the rules, columns dropped or renamed between uploads, and a rebuilt table.

Every expected count is computed here with Python's csv module from the raw files.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from emulators.glue_jobs import after_preprocess
from pipeline import layout, runs
from pipeline.aws import Clients
from pipeline.catalog.crawler import crawl, get_table
from pipeline.catalog.options import CrawlerOptions
from pipeline.events import ObjectCreated
from pipeline.preprocess.handler import preprocess_object
from pipeline.settings import Settings, replace
from pipeline.transform.job import load_plan, run_steps

# Every test here takes a second or more on a 2-core machine: left out of the quick tier.
pytestmark = pytest.mark.slow

REAL = Path(__file__).resolve().parents[1] / "corpus" / "real"
POSTAL = REAL / "laposte_hexasmal_30-54_corse.csv"
POSTAL_LATER = REAL / "laposte_hexasmal_corse_later_layout.csv"

DEPARTMENTS_SQL = """
SELECT left(CAST(code_commune_insee AS VARCHAR), 2) AS departement, count(*) AS lignes
FROM postal
GROUP BY 1
ORDER BY 1
"""
LAYOUTS_SQL = """
SELECT count(*) AS lignes,
       count(coordonnees_gps) AS avec_gps,
       count(nom_commune) AS ancien_nom,
       count(nom_de_la_commune) AS nouveau_nom,
       count(DISTINCT coalesce(nom_de_la_commune, nom_commune)) AS communes
FROM postal
"""


def raw_rows(path: Path, encoding: str = "utf-8") -> list[dict[str, str]]:
    """A raw file's rows by its own header (the `#` before a first name dropped), read
    independently of csvpipe."""
    text = path.read_bytes().decode(encoding)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";")
    header = [name.lstrip("#") for name in next(reader)]
    return [dict(zip(header, row, strict=True)) for row in reader if row]


def departments(rows: list[dict[str, str]]) -> dict[str, int]:
    return dict(sorted(Counter(row["Code_commune_INSEE"][:2] for row in rows).items()))


def with_transforms(clients: Clients, folder: Path, **sql: str) -> Clients:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in sql.items():
        (folder / f"{name}.sql").write_text(text)
    return Clients(replace(clients.settings, transforms_dir=folder))


def upload(clients: Clients, key: str, body: bytes, work: Path) -> dict[str, dict[str, Any]]:
    """One raw object through the stack's stages, in-process: preprocess, then crawl and
    transforms; the run's records by stage."""
    settings = clients.settings
    put = clients.s3.put_object(Bucket=settings.raw_bucket, Key=key, Body=body)
    event = ObjectCreated(
        settings.raw_bucket, key, put["ETag"].strip('"'), len(body), "ObjectCreated:Put", ""
    )
    result = preprocess_object(event, settings, clients.s3, None)
    assert result["status"] == "ok", result["error"]
    after_preprocess(clients, result, work)
    return {
        stage: runs.read_stage_record(clients.s3, settings.processed_bucket, result["run_id"], stage) or {}
        for stage in layout.STAGES
    }


def output_rows(clients: Clients, output: str) -> list[dict[str, str]]:
    body = clients.s3.get_object(Bucket=clients.settings.final_bucket, Key=layout.final_data_key(output))
    return list(csv.DictReader(io.StringIO(body["Body"].read().decode())))


def table_columns(clients: Clients, name: str) -> list[tuple[str, str]]:
    table = get_table(clients.glue, clients.settings.glue_database, name)
    assert table is not None
    return [(c["Name"], c["Type"]) for c in table["StorageDescriptor"]["Columns"]]


def versions(clients: Clients, name: str) -> int:
    found = clients.glue.get_table_versions(DatabaseName=clients.settings.glue_database, TableName=name)
    return len(found["TableVersions"])


def test_a_real_file_whose_codes_stop_looking_numeric_past_the_sample_is_read_whole(
    clients: Clients, tmp_path: Path
) -> None:
    """La Poste's file, sorted so that the first 10,251 commune codes look numeric and Corsica's
    2B366 comes after the default 10,000-row sample: the crawler reads the file whole (it is
    under 64 MiB), registers the codes as string, and the transform's counts are exact."""
    clients = with_transforms(clients, tmp_path / "sql", departements=DEPARTMENTS_SQL)
    records = upload(clients, "postal/laposte_hexasmal.csv", POSTAL.read_bytes(), tmp_path / "work")

    assert records["crawl"]["status"] == "ok"
    assert records["crawl"]["files_read_whole"] == 1
    assert ("code_commune_insee", "string") in table_columns(clients, "postal")
    assert records["transform"]["status"] == "ok", records["transform"]["errors"]
    expected = departments(raw_rows(POSTAL))
    assert expected["2B"] == 282 and len(expected) == 27  # 25 départements and Corsica's two
    got = {row["departement"]: int(row["lignes"]) for row in output_rows(clients, "departements")}
    assert got == expected


def test_later_values_that_do_not_fit_widen_the_column_as_a_new_version(
    clients: Clients, tmp_path: Path
) -> None:
    """The same real rows in two uploads: the numeric-looking codes first (bigint), then
    Corsica's: the column is widened to string as table version 2, the crawl record says so,
    and the transform reads every row."""
    clients = with_transforms(clients, tmp_path / "sql", departements=DEPARTMENTS_SQL)
    header, *lines = POSTAL.read_text(encoding="utf-8").splitlines(keepends=True)
    numeric = [line for line in lines if line[:2].isdigit()]
    corsica = [line for line in lines if not line[:2].isdigit()]
    assert (len(numeric), len(corsica)) == (10251, 418)

    first = upload(clients, "postal/numeric.csv", (header + "".join(numeric)).encode(), tmp_path / "w")
    assert first["crawl"]["columns"][0] == {"name": "code_commune_insee", "type": "bigint"}
    assert first["transform"]["status"] == "ok"

    second = upload(clients, "postal/corse.csv", (header + "".join(corsica)).encode(), tmp_path / "w")
    crawled = second["crawl"]
    assert (crawled["status"], crawled["decision"], crawled["applied"]["version"]) == ("ok", "evolve", "2")
    assert {
        "kind": "widen",
        "subject": "code_commune_insee",
        "old": "bigint",
        "new": "string",
        "compatible": True,
        "applied": True,
        "detail": "values no longer fit bigint (they need string): widened bigint -> string",
    } in crawled["changes"]
    assert table_columns(clients, "postal")[0] == ("code_commune_insee", "string")
    assert versions(clients, "postal") == 2
    assert second["transform"]["status"] == "ok", second["transform"]["errors"]
    got = {row["departement"]: int(row["lignes"]) for row in output_rows(clients, "departements")}
    assert got == departments(raw_rows(POSTAL))


def test_a_type_the_rules_pin_is_the_tables_type_from_the_first_file(
    clients: Clients, tmp_path: Path
) -> None:
    """Pinned to string, the numeric-looking codes are never registered as bigint."""
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "postal.toml").write_text('[columns.code_commune_insee]\ntype = "string"\n')
    clients = Clients(replace(clients.settings, rules_dir=rules))
    header, *lines = POSTAL.read_text(encoding="utf-8").splitlines(keepends=True)
    body = (header + "".join(lines[:200])).encode()
    records = upload(clients, "postal/numeric.csv", body, tmp_path / "work")
    assert records["crawl"]["pinned"] == {"code_commune_insee": "string"}
    columns = dict(table_columns(clients, "postal"))
    assert (columns["code_commune_insee"], columns["code_postal"]) == ("string", "bigint")


MOVIES_WITHOUT_YEARS = (
    b"movieId,title,genre\n1,Nosferatu,Horror\n2,Metropolis,Drama|Sci-Fi\n3,Sunrise,Drama\n"
)
MOVIES_WITH_YEARS = (
    b"movieId,title,genre\n"
    b"4,Heat (1995),Action|Crime\n"
    b"5,Casino (1995),Crime|Drama\n"
    b"6,Ronin (1998),Action\n"
    b"7,Memento (2000),Mystery|Thriller\n"
)


def decades(*bodies: bytes) -> dict[tuple[str, str], int]:
    """Movies per (decade, genre) from raw movies files, as genres_by_decade counts them."""
    counts: Counter[tuple[str, str]] = Counter()
    for body in bodies:
        for row in csv.DictReader(io.StringIO(body.decode())):
            title = row["title"]
            if title.endswith(")") and title[-6:-5] == "(":
                decade = str(int(title[-5:-1]) // 10 * 10)
                for genre in row["genre"].split("|"):
                    counts[decade, genre.lower()] += 1
    return dict(counts)


def test_a_first_movies_file_without_years_keeps_year_an_integer(clients: Clients, tmp_path: Path) -> None:
    """The packaged movies rules pin year to int: a first file with no year values registers
    year bigint, not string, and genres_by_decade (year / 10) works from then on."""
    first = upload(clients, "movies/silent.csv", MOVIES_WITHOUT_YEARS, tmp_path / "work")
    assert dict(table_columns(clients, "movies"))["year"] == "bigint"
    assert first["crawl"]["pinned"]["year"] == "bigint"
    assert first["transform"]["status"] == "ok", first["transform"]["errors"]
    assert output_rows(clients, "genres_by_decade") == []

    second = upload(clients, "movies/nineties.csv", MOVIES_WITH_YEARS, tmp_path / "work")
    assert second["transform"]["status"] == "ok", second["transform"]["errors"]
    got = {
        (row["decade"], row["genre"]): int(row["movies"]) for row in output_rows(clients, "genres_by_decade")
    }
    assert got == decades(MOVIES_WITHOUT_YEARS, MOVIES_WITH_YEARS)
    assert got[("1990", "action")] == 2


def test_a_column_dropped_or_renamed_between_uploads_never_breaks_a_transform(
    clients: Clients, tmp_path: Path
) -> None:
    """The real export, then the same rows in La Poste's later layout (GPS column gone,
    Nom_commune renamed): both names stay in the table and each file fills its own; once the
    first file is deleted its columns read as NULL and every transform still runs."""
    clients = with_transforms(clients, tmp_path / "sql", departements=DEPARTMENTS_SQL, layouts=LAYOUTS_SQL)
    work = tmp_path / "work"
    old, later = raw_rows(POSTAL), raw_rows(POSTAL_LATER, "cp1252")
    upload(clients, "postal/2020.csv", POSTAL.read_bytes(), work)
    records = upload(clients, "postal/2024.csv", POSTAL_LATER.read_bytes(), work)

    names = [name for name, _ in table_columns(clients, "postal")]
    assert {"nom_commune", "coordonnees_gps", "nom_de_la_commune"} <= set(names)
    assert records["transform"]["status"] == "ok", records["transform"]["errors"]
    assert output_rows(clients, "departements") == [
        {"departement": d, "lignes": str(n)} for d, n in departments(old + later).items()
    ]
    communes = {row["Nom_commune"] for row in old} | {row["Nom_de_la_commune"] for row in later}
    assert output_rows(clients, "layouts") == [
        {
            "lignes": str(len(old) + len(later)),
            "avec_gps": str(sum(bool(row["coordonnees_gps"]) for row in old)),
            "ancien_nom": str(len(old)),
            "nouveau_nom": str(len(later)),
            "communes": str(len(communes)),
        }
    ]

    # The old export goes: no file has nom_commune or coordonnees_gps any more.
    settings: Settings = clients.settings
    clients.s3.delete_object(Bucket=settings.processed_bucket, Key="postal/2020.csv")
    record = crawl("postal", settings, clients.s3, clients.glue, work)[1]
    assert ("drop", "coordonnees_gps", False) in [
        (c["kind"], c["subject"], c["applied"]) for c in record["changes"]
    ]
    steps, references = load_plan(settings)
    result = run_steps(steps, settings, clients.s3, clients.glue, work, references)
    assert result["errors"] == []
    assert output_rows(clients, "layouts") == [
        {
            "lignes": str(len(later)),
            "avec_gps": "0",
            "ancien_nom": "0",
            "nouveau_nom": str(len(later)),
            "communes": str(len({row["Nom_de_la_commune"] for row in later})),
        }
    ]
    assert output_rows(clients, "departements") == [
        {"departement": d, "lignes": str(n)} for d, n in departments(later).items()
    ]
    # Each output's record says which table columns no file had.
    (layouts,) = [o for o in result["outputs"] if o["output"] == "layouts"]
    assert layouts["inputs"]["postal"]["columns_in_no_file"] == ["nom_commune", "coordonnees_gps"]


def test_a_rebuilt_table_loses_the_gone_columns_and_a_transform_reading_one_fails_in_one_line(
    clients: Clients, tmp_path: Path
) -> None:
    """``crawl --rebuild`` after the old export went: the table is re-derived from the current
    files as a new version (the old definition kept in its versions); a transform still reading
    a removed column then fails with one line naming its SQL file, the table and the column."""
    clients = with_transforms(clients, tmp_path / "sql", layouts=LAYOUTS_SQL)
    work = tmp_path / "work"
    upload(clients, "postal/2020.csv", POSTAL.read_bytes(), work)
    upload(clients, "postal/2024.csv", POSTAL_LATER.read_bytes(), work)
    settings: Settings = clients.settings
    clients.s3.delete_object(Bucket=settings.processed_bucket, Key="postal/2020.csv")
    before = versions(clients, "postal")
    record = crawl("postal", settings, clients.s3, clients.glue, work, rebuild=True)[1]
    assert (record["decision"], record["action"]) == ("rebuild", "update")
    removed = {c["subject"] for c in record["changes"] if c["kind"] == "drop"}
    assert removed == {"nom_commune", "coordonnees_gps"}
    assert "coordonnees_gps" not in dict(table_columns(clients, "postal"))
    assert versions(clients, "postal") == before + 1

    steps, references = load_plan(settings)
    result = run_steps(steps, settings, clients.s3, clients.glue, work, references)
    (error,) = result["errors"]
    message = error["error"]
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith("layouts.sql, line ")
    assert f"table {settings.glue_database}.postal has " in message
    assert "column coordonnees_gps: no such column" in message


def test_a_sampled_file_is_checked_against_every_row_and_widened(clients: Clients, tmp_path: Path) -> None:
    """A file past the whole-file size is profiled from its first 10,000 rows only; its later
    rows are then read as the job reads them, and Corsica's codes widen the column to string
    before any transform sees bigint."""
    clients = with_transforms(clients, tmp_path / "sql", departements=DEPARTMENTS_SQL)
    settings: Settings = clients.settings
    clients.s3.put_object(Bucket=settings.processed_bucket, Key="postal/big.csv", Body=processed_codes())
    work = tmp_path / "work"
    sampled = CrawlerOptions("csvpipe", "update", 10000, None, whole_file_bytes=0)
    record = crawl("postal", settings, clients.s3, clients.glue, work, options=sampled)[1]
    assert (record["rows_read"], record["files_read_whole"]) == (10000, 0)
    assert record["columns"][0] == {"name": "code_commune_insee", "type": "string"}
    assert (
        "big.csv: rows past the sample do not fit code_commune_insee bigint: registered as string "
        "(every row was read to check)"
    ) in record["notes"]
    steps, references = load_plan(settings)
    result = run_steps(steps, settings, clients.s3, clients.glue, work, references)
    assert result["errors"] == []
    got = {row["departement"]: int(row["lignes"]) for row in output_rows(clients, "departements")}
    assert got == departments(raw_rows(POSTAL))


def processed_codes(rows: slice = slice(None)) -> bytes:
    """The postal file's codes and names as preprocessing writes them (comma-separated)."""
    lines = POSTAL.read_text(encoding="utf-8").splitlines()[1:][rows]
    return (
        "code_commune_insee,nom_commune\n"
        + "".join(f"{line.split(';')[0]},{line.split(';')[1]}\n" for line in lines)
    ).encode()


def test_a_type_the_catalog_keeps_but_the_data_breaks_is_one_clear_line(
    clients: Clients, tmp_path: Path
) -> None:
    """Under crawler_schema_change = log the table keeps bigint after Corsica's codes arrive:
    the transform fails in one line naming its SQL file, the table, the column and the value,
    with the fix; crawling under update then widens the column and the transform runs."""
    clients = with_transforms(clients, tmp_path / "sql", departements=DEPARTMENTS_SQL)
    settings: Settings = clients.settings
    work = tmp_path / "work"
    clients.s3.put_object(
        Bucket=settings.processed_bucket, Key="postal/a.csv", Body=processed_codes(slice(0, 10251))
    )
    assert crawl("postal", settings, clients.s3, clients.glue, work)[1]["columns"][0]["type"] == "bigint"
    clients.s3.put_object(Bucket=settings.processed_bucket, Key="postal/a.csv", Body=processed_codes())
    logged = replace(settings, crawler_schema_change="log")
    held = crawl("postal", logged, clients.s3, clients.glue, work)[1]
    assert [(c["kind"], c["applied"]) for c in held["changes"]] == [("widen", False)]
    steps, references = load_plan(settings)

    failed = run_steps(steps, settings, clients.s3, clients.glue, work, references)
    (error,) = failed["errors"]
    assert error["error"] == (
        f'departements.sql: table {settings.glue_database}.postal, column code_commune_insee: value "2B366" '
        "does not fit the catalog's type bigint (line 10253 of a.csv); `csvpipe crawl postal` widens "
        "the column (with crawler_schema_change = update), or pin its type in the dataset's rules "
        "([columns.code_commune_insee] type = ...)"
    )

    crawl("postal", settings, clients.s3, clients.glue, work)
    result = run_steps(steps, settings, clients.s3, clients.glue, work, references)
    assert result["errors"] == []
    got = {row["departement"]: int(row["lignes"]) for row in output_rows(clients, "departements")}
    assert got == departments(raw_rows(POSTAL))
