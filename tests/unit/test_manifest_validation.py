"""Unit tests of QuickSight manifest validation (pipeline.publish.manifest): the document's shape
and the failures QuickSight documents for the files a manifest imports, table-driven."""

from __future__ import annotations

import pytest

from pipeline.publish.manifest import (
    MAX_FILES,
    FileFacts,
    InvalidManifest,
    Manifest,
    check_files,
    parse_manifest,
    quicksight_manifest,
)

CSV = Manifest(uris=("s3://b/o/o.csv",), prefixes=())
HEADER = b"genre,movies\naction,6\n"


def test_the_built_manifest_parses_back() -> None:
    document = quicksight_manifest(["s3://b/o/o.csv"], ["s3://b/more/"], contains_header=False)
    assert document["fileLocations"] == [{"URIs": ["s3://b/o/o.csv"]}, {"URIPrefixes": ["s3://b/more/"]}]
    assert parse_manifest(document) == Manifest(
        ("s3://b/o/o.csv",), ("s3://b/more/",), "CSV", ",", '"', contains_header=False
    )
    assert quicksight_manifest([], ["s3://b/p/"])["fileLocations"] == [{"URIPrefixes": ["s3://b/p/"]}]


@pytest.mark.parametrize(
    ("document", "parsed"),
    [
        ({"fileLocations": [{"URIs": ["s3://b/k.csv"]}]}, Manifest(("s3://b/k.csv",), ())),
        (
            {"fileLocations": [{"URIPrefixes": ["s3://b/"]}], "globalUploadSettings": {"format": "tsv"}},
            Manifest((), ("s3://b/",), "TSV", "\t"),
        ),
        (
            {
                "fileLocations": [{"URIs": ["s3://b/k.csv"]}],
                "globalUploadSettings": {"delimiter": ";", "textqualifier": "'", "containsHeader": "FALSE"},
            },
            Manifest(("s3://b/k.csv",), (), "CSV", ";", "'", contains_header=False),
        ),
        (
            {"fileLocations": [{"URIs": ["s3://b/k.json"]}], "globalUploadSettings": {"format": "JSON"}},
            Manifest(("s3://b/k.json",), (), "JSON", "", "", contains_header=False),
        ),
    ],
    ids=["defaults", "tsv-prefix", "csv-settings", "json"],
)
def test_valid_documents(document: dict, parsed: Manifest) -> None:
    assert parse_manifest(document) == parsed


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "a manifest is a JSON object"),
        ({}, "fileLocations must be a non-empty list"),
        ({"fileLocations": []}, "fileLocations must be a non-empty list"),
        ({"fileLocations": [{"URIs": []}]}, "lists no file and no prefix"),
        ({"fileLocations": [{"Paths": ["s3://b/k"]}]}, "must hold URIs or URIPrefixes"),
        ({"fileLocations": [{"URIs": "s3://b/k.csv"}]}, "URIs must be a list of s3:// URIs"),
        ({"fileLocations": [{"URIs": ["https://b/k.csv"]}]}, "is not an s3://bucket/key URI"),
        ({"fileLocations": [{"URIs": ["s3://b/folder/"]}]}, "names a folder, not a file"),
        ({"fileLocations": [{"URIs": ["s3://b/k"]}], "entries": []}, "unknown field(s) entries"),
        (
            {
                "fileLocations": [{"URIs": ["s3://b/k.parquet"]}],
                "globalUploadSettings": {"format": "PARQUET"},
            },
            "format 'PARQUET' is not one QuickSight imports from S3",
        ),
        (
            {"fileLocations": [{"URIs": ["s3://b/k"]}], "globalUploadSettings": {"containsHeader": True}},
            'values are strings (write "true", not true)',
        ),
        (
            {"fileLocations": [{"URIs": ["s3://b/k"]}], "globalUploadSettings": {"containsHeader": "yes"}},
            'containsHeader must be "true" or "false"',
        ),
        (
            {"fileLocations": [{"URIs": ["s3://b/k"]}], "globalUploadSettings": {"textqualifier": "`"}},
            "textqualifier must be ' or \"",
        ),
        (
            {"fileLocations": [{"URIs": ["s3://b/k"]}], "globalUploadSettings": {"delimiter": "||"}},
            "delimiter must be one character",
        ),
        (
            {
                "fileLocations": [{"URIs": ["s3://b/k"]}],
                "globalUploadSettings": {"format": "JSON", "delimiter": ","},
            },
            "a JSON import takes only 'format', not delimiter",
        ),
    ],
)
def test_malformed_documents_name_the_field(document: object, message: str) -> None:
    with pytest.raises(InvalidManifest) as caught:
        parse_manifest(document)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def facts(name: str, head: bytes = HEADER, size: int | None = None) -> FileFacts:
    return FileFacts(f"s3://b/o/{name}", len(head) if size is None else size, head)


@pytest.mark.parametrize(
    ("manifest", "files", "problems"),
    [
        (CSV, [facts("o.csv")], []),
        (CSV, [facts("a.csv"), facts("b.csv", b"genre,movies\r\ncomedy,7\r\n")], []),
        (CSV, [facts("empty.csv", b"")], []),
        (
            CSV,
            [facts("o.csv"), facts("o.parquet", b"PAR1\x15\x04\x15")],
            ["s3://b/o/o.parquet: Parquet, not a text format; QuickSight imports only delimited text"],
        ),
        (CSV, [facts("renamed.csv", b"PAR1\x00\x00")], ["s3://b/o/renamed.csv: Parquet, not a text format"]),
        (
            CSV,
            [facts("book.xlsx", b"PK\x03\x04")],
            ["s3://b/o/book.xlsx: a zip archive (an Excel workbook?)"],
        ),
        (CSV, [facts("blob.csv", b"abc\x00def")], ["s3://b/o/blob.csv: binary content (NUL bytes)"]),
        (
            CSV,
            [facts("o.csv"), facts("bom.csv", b"\xef\xbb\xbfgenre,movies\n")],
            ["s3://b/o/bom.csv: starts with a UTF-8 byte-order mark; QuickSight reads UTF-8 without"],
        ),
        (
            CSV,
            [facts("u16.csv", "genre,movies\n".encode("utf-16"))],
            ["s3://b/o/u16.csv: starts with a UTF-16 byte-order mark (UTF-16 text, not UTF-8)"],
        ),
        (
            CSV,
            [facts("a.csv"), facts("b.csv", b"genre,movies,share\naction,6,0.2\n")],
            [
                "s3://b/o/b.csv: 3 column(s) (genre, movies, share), but s3://b/o/a.csv has 2 column(s) "
                "(genre, movies); every file of a manifest must have the same columns"
            ],
        ),
        (
            CSV,
            [facts("a.csv"), facts("b.csv", b"kind,count\nx,1\n")],
            ["s3://b/o/b.csv: 2 column(s) (kind, count), but s3://b/o/a.csv has 2 column(s) (genre, movies)"],
        ),
        (
            Manifest(("s3://b/o/a.csv",), (), contains_header=False),
            [facts("a.csv", b"action,6\n"), facts("b.csv", b"comedy,7\n")],
            [],
        ),
        (
            Manifest(("s3://b/o/a.csv",), (), contains_header=False),
            [facts("a.csv", b"action,6\n"), facts("b.csv", b"comedy,7,x\n")],
            ["s3://b/o/b.csv: 3 column(s)"],
        ),
        (
            CSV,
            [facts("o.csv"), facts("manifest.json", b'{"fileLocations": []}')],
            ["s3://b/o/manifest.json: a JSON file, but the manifest's format is CSV; every file"],
        ),
        (
            CSV,
            [facts("quoted.csv", b'"genre, main",movies\n'), facts("b.csv", b'"genre, main",movies\n')],
            [],
        ),
        (CSV, [], ["the manifest points at no file: nothing to import"]),
        (
            CSV,
            [facts("big.csv", size=2 * 1024**3)],
            ["s3://b/o/big.csv: 2.0 GB, over QuickSight's limit of 1 GB"],
        ),
    ],
    ids=[
        "one-csv",
        "same-columns-crlf",
        "empty-file",
        "parquet-by-name",
        "parquet-by-content",
        "workbook",
        "nul-bytes",
        "utf8-bom",
        "utf16",
        "more-columns",
        "other-names",
        "no-header-same-count",
        "no-header-other-count",
        "json-under-prefix",
        "quoted-header",
        "no-files",
        "file-over-1-gb",
    ],
)
def test_check_files(manifest: Manifest, files: list[FileFacts], problems: list[str]) -> None:
    found = check_files(manifest, files)
    assert len(found) == len(problems), found
    for line, expected in zip(found, problems, strict=True):
        assert line.startswith(expected), line
        assert "\n" not in line


@pytest.mark.parametrize(("count", "too_many"), [(MAX_FILES, False), (MAX_FILES + 1, True)])
def test_more_than_1000_files_is_refused(count: int, too_many: bool) -> None:
    files = [facts(f"part-{i:04}.csv") for i in range(count)]
    problems = check_files(CSV, files)
    assert problems == (
        [
            "1,001 files, over QuickSight's limit of 1,000 files per manifest: merge files or split the data "
            "over several manifests"
        ]
        if too_many
        else []
    )


def test_total_over_10_gb_is_refused() -> None:
    files = [facts(f"part-{i}.csv", size=1024**3) for i in range(11)]
    assert check_files(CSV, files) == [
        "11.0 GB in all, over QuickSight's limit of 10 GB per manifest: split the data over several manifests"
    ]
