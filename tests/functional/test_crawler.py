"""The crawler against the real Glue catalog API (a moto server): create, evolve with table
versions, incompatible changes under both policies, partitions from Hive folders, several files
as one table, dry runs, glue-compatible mode, and the crawl run record the stack writes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from emulators.glue_jobs import after_preprocess
from pipeline import runs
from pipeline.aws import Clients
from pipeline.catalog.crawler import count_rows, crawl, get_partitions, get_table, scan_file
from pipeline.catalog.exceptions import NoData
from pipeline.catalog.options import CrawlerOptions
from pipeline.catalog.plan import LAZY_SIMPLE_SERDE, OPEN_CSV_SERDE
from pipeline.settings import Settings, replace

# Every test here takes a second or more on a 2-core machine: left out of the quick tier.
pytestmark = pytest.mark.slow


def put(clients: Clients, key: str, text: str) -> None:
    clients.s3.put_object(Bucket=clients.settings.processed_bucket, Key=key, Body=text.encode())


def run(clients: Clients, dataset: str, work: Path, **kwargs: Any) -> dict[str, Any]:
    return crawl(dataset, clients.settings, clients.s3, clients.glue, work, **kwargs)[1]


def table(clients: Clients, name: str) -> dict[str, Any]:
    found = get_table(clients.glue, clients.settings.glue_database, name)
    assert found is not None
    return found


def versions(clients: Clients, name: str) -> list[dict[str, Any]]:
    found = clients.glue.get_table_versions(DatabaseName=clients.settings.glue_database, TableName=name)
    return sorted(found["TableVersions"], key=lambda v: int(v["VersionId"]))


def schema(glue_table: dict[str, Any]) -> list[tuple[str, str]]:
    return [(c["Name"], c["Type"]) for c in glue_table["StorageDescriptor"]["Columns"]]


def with_policy(clients: Clients, **changes: Any) -> Clients:
    return Clients(replace(clients.settings, **changes))


def test_create_then_a_new_column_is_a_new_table_version(clients: Clients, tmp_path: Path) -> None:
    put(clients, "sales/a.csv", "id,amount,day\n1,2.50,2024-01-01\n2,3.00,2024-01-02\n")
    first = run(clients, "sales", tmp_path)
    assert (first["action"], first["decision"], first["applied"]["table"]) == ("create", "create", "created")
    assert first["columns"] == [
        {"name": "id", "type": "bigint"},
        {"name": "amount", "type": "decimal(18,2)"},
        {"name": "day", "type": "date"},
    ]

    put(clients, "sales/b.csv", "id,amount,day,region\n3,4.25,2024-01-03,eu\n")
    second = run(clients, "sales", tmp_path)
    assert (second["action"], second["decision"]) == ("update", "evolve")
    assert second["changes"] == [
        {
            "kind": "add",
            "subject": "region",
            "old": None,
            "new": "string",
            "compatible": True,
            "applied": True,
            "detail": "new column, appended",
        }
    ]
    assert second["applied"] == {
        "table": "updated",
        "version": "2",
        "partitions_created": 0,
        "partitions_updated": 0,
    }
    assert second["nullable"] == ["region"]  # a.csv's rows have none

    history = versions(clients, "sales")
    assert [v["VersionId"] for v in history] == ["1", "2"]
    assert [name for name, _ in schema(history[0]["Table"])] == ["id", "amount", "day"]
    assert [name for name, _ in schema(history[1]["Table"])] == ["id", "amount", "day", "region"]
    current = table(clients, "sales")
    assert current["Parameters"]["recordCount"] == "3"
    assert current["Parameters"]["classification"] == "csv"
    assert current["Parameters"]["skip.header.line.count"] == "1"
    assert current["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == LAZY_SIMPLE_SERDE
    assert current["StorageDescriptor"]["Location"] == f"s3://{clients.settings.processed_bucket}/sales/"
    region = current["StorageDescriptor"]["Columns"][-1]
    assert region["Parameters"] == {"csvpipe.nullable": "true"}

    again = run(clients, "sales", tmp_path)
    assert (again["action"], again["decision"], again["applied"]["table"]) == (
        "unchanged",
        "unchanged",
        "unchanged",
    )
    assert len(versions(clients, "sales")) == 2


def test_widening_updates_the_type(clients: Clients, tmp_path: Path) -> None:
    put(clients, "scores/a.csv", "player,points\nann,10\nbob,12\n")
    assert run(clients, "scores", tmp_path)["columns"][1] == {"name": "points", "type": "bigint"}
    put(clients, "scores/b.csv", "player,points\ncid,9.5\n")
    record = run(clients, "scores", tmp_path)
    assert (record["action"], record["decision"]) == ("update", "evolve")
    assert [(c["kind"], c["old"], c["new"], c["applied"]) for c in record["changes"]] == [
        ("widen", "bigint", "double", True)
    ]
    assert schema(table(clients, "scores")) == [("player", "string"), ("points", "double")]
    assert len(versions(clients, "scores")) == 2


def test_incompatible_changes_are_kept_out_under_update(clients: Clients, tmp_path: Path) -> None:
    put(clients, "orders/a.csv", "id,price,qty\n1,2.5,3\n2,3.25,1\n")
    run(clients, "orders", tmp_path)
    registered = schema(table(clients, "orders"))
    assert registered == [("id", "bigint"), ("price", "double"), ("qty", "bigint")]
    # The file is replaced: price narrowed to whole numbers, qty gone, id no longer numeric.
    put(clients, "orders/a.csv", "id,price\nA-1,2\nA-2,3\n")
    record = run(clients, "orders", tmp_path)
    # The data wins where it no longer fits (id widens to string); the table keeps its wider
    # price and the column no file has any more.
    assert (record["action"], record["decision"]) == ("update", "evolve-partial")
    assert [(c["kind"], c["subject"], c["compatible"], c["applied"]) for c in record["changes"]] == [
        ("widen", "id", True, True),
        ("narrow", "price", False, False),
        ("drop", "qty", False, False),
    ]
    widened = [("id", "string"), ("price", "double"), ("qty", "bigint")]
    assert [schema(v["Table"]) for v in versions(clients, "orders")] == [registered, widened]
    assert schema(table(clients, "orders")) == widened


def test_log_policy_reports_and_leaves_the_table_as_it_is(clients: Clients, tmp_path: Path) -> None:
    put(clients, "orders/a.csv", "id,price\n1,2.5\n")
    run(clients, "orders", tmp_path)
    before = table(clients, "orders")
    put(clients, "orders/b.csv", "id,price,note\nX,3.5,late\n")  # a widening and a new column
    logged = with_policy(clients, crawler_schema_change="log")
    record = run(logged, "orders", tmp_path)
    assert (record["action"], record["decision"], record["policy"]) == ("unchanged", "log", "log")
    assert [(c["kind"], c["subject"], c["compatible"], c["applied"]) for c in record["changes"]] == [
        ("widen", "id", True, False),
        ("add", "note", True, False),
    ]
    assert record["applied"]["table"] == "unchanged"
    after = table(clients, "orders")
    assert (schema(after), after["Parameters"]) == (schema(before), before["Parameters"])
    assert len(versions(clients, "orders")) == 1
    # The same change under update applies both.
    record = run(clients, "orders", tmp_path)
    assert record["decision"] == "evolve"
    assert schema(table(clients, "orders")) == [
        ("id", "string"),
        ("price", "decimal(18,1)"),
        ("note", "string"),
    ]
    assert len(versions(clients, "orders")) == 2


def test_hive_folders_become_partitions(clients: Clients, tmp_path: Path) -> None:
    bucket = clients.settings.processed_bucket
    put(clients, "movies/year=2024/a.csv", "movie_id,title\n1,Heat\n2,Casino\n")
    put(clients, "movies/year=2025/b.csv", "movie_id,title\n3,Balto\n")
    record = run(clients, "movies", tmp_path)
    assert record["partition_keys"] == [{"name": "year", "type": "bigint"}]
    assert record["partitions"]["create"] == ["year=2024", "year=2025"]
    assert record["applied"]["partitions_created"] == 2
    current = table(clients, "movies")
    assert current["PartitionKeys"] == [{"Name": "year", "Type": "bigint"}]
    assert current["StorageDescriptor"]["Location"] == f"s3://{bucket}/movies/"
    assert current["Parameters"]["recordCount"] == "3"
    found = {
        tuple(p["Values"]): (p["StorageDescriptor"]["Location"], p["Parameters"]["recordCount"])
        for p in get_partitions(clients.glue, clients.settings.glue_database, "movies")
    }
    assert found == {
        ("2024",): (f"s3://{bucket}/movies/year=2024/", "2"),
        ("2025",): (f"s3://{bucket}/movies/year=2025/", "1"),
    }

    put(clients, "movies/year=2026/c.csv", "movie_id,title\n4,Nixon\n")
    record = run(clients, "movies", tmp_path)
    assert record["partitions"] == {
        "held": False,
        "create": ["year=2026"],
        "update": [],
        "stale": [],
        "unchanged": 2,
    }
    assert len(get_partitions(clients.glue, clients.settings.glue_database, "movies")) == 3


def test_a_folder_key_that_is_also_a_column_fails_clearly(clients: Clients, tmp_path: Path) -> None:
    put(clients, "films/year=2024/a.csv", "movie_id,year\n1,2024\n")
    try:
        run(clients, "films", tmp_path)
    except Exception as exc:
        assert "the folder key 'year' is also a column" in str(exc)
    else:
        raise AssertionError("a duplicate column was registered")
    assert get_table(clients.glue, clients.settings.glue_database, "films") is None


def test_several_files_are_one_table(clients: Clients, tmp_path: Path) -> None:
    put(clients, "events/2024-01.csv", "id,at\n1,2024-01-01 10:00:00\n2,2024-01-02 11:00:00\n")
    put(clients, "events/2024-02.csv", "id,at\n3,2024-02-01\n")
    put(clients, "events/archive/2023.csv", "id,at\n4,\n")
    record = run(clients, "events", tmp_path)
    assert (record["files"], record["record_count"]) == (3, 4)
    assert record["columns"] == [{"name": "id", "type": "bigint"}, {"name": "at", "type": "timestamp"}]
    assert record["partition_keys"] == []  # a plain folder is no partition in csvpipe mode
    names = [
        t["Name"] for t in clients.glue.get_tables(DatabaseName=clients.settings.glue_database)["TableList"]
    ]
    assert names == ["events"]


def test_dry_run_changes_nothing(clients: Clients, tmp_path: Path) -> None:
    database = clients.settings.glue_database
    put(clients, "sales/year=2024/a.csv", "id,amount\n1,2\n")
    planned = run(clients, "sales", tmp_path, dry_run=True)
    assert (planned["action"], planned["dry_run"], planned["applied"]) == ("create", True, None)
    assert planned["partitions"]["create"] == ["year=2024"]
    assert get_table(clients.glue, database, "sales") is None

    run(clients, "sales", tmp_path)
    put(clients, "sales/year=2025/b.csv", "id,amount,region\n2,2.5,eu\n")
    planned = run(clients, "sales", tmp_path, dry_run=True)
    assert (planned["action"], planned["decision"]) == ("update", "evolve")
    assert planned["partitions"]["create"] == ["year=2025"]
    assert len(versions(clients, "sales")) == 1
    assert schema(table(clients, "sales")) == [("id", "bigint"), ("amount", "bigint")]
    assert len(get_partitions(clients.glue, database, "sales")) == 1


def test_full_scan_sees_what_the_sample_misses(clients: Clients, tmp_path: Path) -> None:
    rows = "".join(f"{n},{n * 2}\n" for n in range(30)) + "30,thirty\n"
    put(clients, "late/a.csv", "id,value\n" + rows)
    # A small file is read whole with the settings' sample: the late text is seen.
    sampled = with_policy(clients, crawler_sample_rows=10)
    whole = run(sampled, "late", tmp_path, dry_run=True)
    assert whole["columns"][1] == {"name": "value", "type": "string"}
    assert (whole["rows_read"], whole["files_read_whole"], whole["full_scan"]) == (32, 1, False)
    # Past the whole-file size only the sample is profiled; every row is then checked against
    # the sampled types, and the late text widens the column all the same.
    big = CrawlerOptions("csvpipe", "update", 10, None, whole_file_bytes=0)
    record = run(clients, "late", tmp_path, dry_run=True, options=big)
    assert record["columns"][1] == {"name": "value", "type": "string"}
    assert (record["rows_read"], record["record_count"], record["files_read_whole"]) == (10, 31, 0)
    assert any("crawler_sample_rows" in note for note in record["notes"])
    assert "a.csv: rows past the sample do not fit value bigint: registered as string" in " ".join(
        record["notes"]
    )
    # glue-compatible mode predicts AWS, which checks nothing past its sample.
    aws = CrawlerOptions("glue-compatible", "update", 10, None)
    assert run(clients, "late", tmp_path, dry_run=True, options=aws)["columns"][1]["type"] == "bigint"
    full = run(sampled, "late", tmp_path, dry_run=True, full_scan=True)
    assert full["columns"][1] == {"name": "value", "type": "string"}
    assert (full["rows_read"], full["full_scan"]) == (32, True)


def glue_compatible(clients: Clients) -> Clients:
    return with_policy(clients, crawler_mode="glue-compatible")


def test_glue_compatible_mode_reproduces_aws_quirks(clients: Clients, tmp_path: Path) -> None:
    glue = glue_compatible(clients)
    # Every column text: AWS cannot tell the header from data.
    put(clients, "people/a.csv", "name,city\nalice,paris\nbob,rome\n")
    people = run(glue, "people", tmp_path)
    assert people["columns"] == [{"name": "col0", "type": "string"}, {"name": "col1", "type": "string"}]
    assert (people["header"], people["record_count"]) == (False, 3)
    assert "skip.header.line.count" not in table(clients, "people")["Parameters"]
    # csvpipe mode reads the same file with its header.
    assert run(clients, "people", tmp_path, dry_run=True)["changes"][0]["kind"] == "header"

    # Quoted fields: OpenCSVSerde, every column string; dates stay string anyway.
    put(clients, "films/2024/a.csv", 'id,title,seen\n1,"Heat, the film",2024-01-01\n')
    put(clients, "films/2025/b.csv", "id,title,seen\n2,Casino,2024-02-01\n")
    films = run(glue, "films", tmp_path)
    assert films["serde"] == "OpenCSVSerde"
    assert films["columns"] == [{"name": n, "type": "string"} for n in ("id", "title", "seen")]
    # A plain folder level is a partition_0 key for AWS.
    assert films["partition_keys"] == [{"name": "partition_0", "type": "string"}]
    assert films["partitions"]["create"] == ["partition_0=2024", "partition_0=2025"]
    registered = table(clients, "films")
    assert registered["StorageDescriptor"]["SerdeInfo"]["SerializationLibrary"] == OPEN_CSV_SERDE
    assert registered["Parameters"]["csvpipe.crawler_mode"] == "glue-compatible"

    csvpipe = run(clients, "films", tmp_path, dry_run=True)
    assert csvpipe["serde"] == "OpenCSVSerde"
    assert {c["kind"] for c in csvpipe["changes"]} >= {"narrow", "partition keys"}


def test_the_stack_writes_the_decision_in_the_crawl_run_record(clients: Clients, tmp_path: Path) -> None:
    settings: Settings = clients.settings
    put(clients, "sales/a.csv", "id,amount\n1,2\n")
    after_preprocess(clients, {"status": "ok", "run_id": "run-1", "dataset": "sales"}, tmp_path)
    first = runs.read_stage_record(clients.s3, settings.processed_bucket, "run-1", "crawl")
    assert first is not None
    assert (first["status"], first["action"], first["decision"], first["policy"]) == (
        "ok",
        "create",
        "create",
        "update",
    )
    put(clients, "sales/b.csv", "id,amount\nX,2\n")
    after_preprocess(clients, {"status": "ok", "run_id": "run-2", "dataset": "sales"}, tmp_path)
    second = runs.read_stage_record(clients.s3, settings.processed_bucket, "run-2", "crawl")
    assert second is not None
    assert (second["status"], second["action"], second["decision"]) == ("ok", "update", "evolve")
    assert second["changes"][0] == {
        "kind": "widen",
        "subject": "id",
        "old": "bigint",
        "new": "string",
        "compatible": True,
        "applied": True,
        "detail": "values no longer fit bigint (they need string): widened bigint -> string",
    }
    assert second["columns"] == [{"name": "id", "type": "string"}, {"name": "amount", "type": "bigint"}]
    assert second["applied"]["version"] == "2"


def test_scan_counts_rows_past_the_sample_and_finds_quotes(tmp_path: Path) -> None:
    """Reading real files: quoted newlines, blank lines, a byte-order mark, and where the quote
    character is looked for in each mode (the whole file, or only AWS's sample)."""
    plain = tmp_path / "plain.csv"
    plain.write_text("\ufeffid,x\n" + "".join(f"{n},a\n" for n in range(50)) + "\n")
    assert count_rows(plain) == (51, False)
    late_quote = tmp_path / "late.csv"
    late_quote.write_text("id,note\n" + "".join(f"{n},a\n" for n in range(50)) + '51,"two\nlines"\n')
    assert count_rows(late_quote) == (52, True)

    whole = scan_file(late_quote, "late.csv", CrawlerOptions("csvpipe", "update", 10, None))
    assert (whole.rows, whole.sampled) == (52, 52)  # a small file is read whole, whatever the sample
    sampled = scan_file(
        late_quote, "late.csv", CrawlerOptions("csvpipe", "update", 10, None, whole_file_bytes=0)
    )
    assert (sampled.first_row, sampled.rows, sampled.sampled, sampled.quoted) == (
        ("id", "note"),
        52,
        10,
        True,
    )
    glue = scan_file(late_quote, "late.csv", CrawlerOptions("glue-compatible", "update", None, 100))
    assert (glue.rows, glue.quoted) == (52, False)  # AWS decides from its sample
    full = scan_file(late_quote, "late.csv", CrawlerOptions("csvpipe", "update", None, None))
    assert (full.rows, full.sampled, full.quoted) == (52, 52, True)
    assert full.data[1].kinds == {"string"}
    bom = scan_file(plain, "plain.csv", CrawlerOptions())
    assert bom.first_row == ("id", "x")  # the byte-order mark is not part of the first name


def test_empty_objects_are_skipped_and_a_dataset_of_them_is_no_table(
    clients: Clients, tmp_path: Path
) -> None:
    put(clients, "blank/a.csv", "")
    with pytest.raises(NoData, match="dataset 'blank' has only empty files"):
        run(clients, "blank", tmp_path)
    put(clients, "blank/b.csv", "id\n1\n")
    put(clients, "blank/notes.txt", "not data")
    record = run(clients, "blank", tmp_path)
    assert (record["files"], record["record_count"], record["columns"]) == (
        1,
        1,
        [{"name": "id", "type": "bigint"}],
    )
    assert "skipped 2 object(s), empty or not .csv: notes.txt, a.csv (empty)" in record["notes"]


def test_an_unchanged_file_is_not_scanned_again(clients: Clients, tmp_path: Path) -> None:
    """Each crawl reads every file of its dataset: the scan of a file kept from the last crawl
    is used while the file is the same (shown here by editing the kept scan), and a changed
    object is scanned afresh."""
    put(clients, "kept/a.csv", "id,value\n1,2\n2,3\n")
    assert run(clients, "kept", tmp_path)["record_count"] == 2
    (cache,) = tmp_path.rglob("a.csv.scan.json")
    kept = json.loads(cache.read_text())
    kept["scan"]["rows"] = 100
    cache.write_text(json.dumps(kept))
    assert run(clients, "kept", tmp_path, dry_run=True)["record_count"] == 99

    put(clients, "kept/a.csv", "id,value\n1,2\n2,3\n3,x\n")
    changed = run(clients, "kept", tmp_path)
    assert changed["record_count"] == 3
    assert changed["columns"][1] == {"name": "value", "type": "string"}
