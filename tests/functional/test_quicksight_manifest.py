"""``csvpipe quicksight manifest`` against the real moto server, on final outputs made by the real
stages: it writes valid manifests, and refuses (exit 1, nothing written) what QuickSight refuses."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from emulators.aws_emulator import AwsEmulator
from pipeline import layout
from pipeline.aws import Clients
from pipeline.cli import app
from pipeline.publish.manifest import MAX_FILES, quicksight_manifest
from pipeline.settings import Settings
from tests.conftest import SAMPLE, cli, make_settings
from tests.functional.final_data import produce

# Every test here takes a second or more on a 2-core machine: left out of the quick tier.
pytestmark = pytest.mark.slow

OUTPUTS = [
    "genre_classification",
    "genres_by_decade",
    "movies_per_genre",
    "movies_per_genre_class",
    "movies_per_year",
]


@pytest.fixture(scope="module")
def produced(emulator: AwsEmulator, tmp_path_factory: pytest.TempPathFactory) -> Clients:
    """A final bucket with the sample's outputs, made once for the module."""
    settings = make_settings(
        tmp_path_factory.mktemp("quicksight") / "data",
        emulator.port,
        raw_bucket="raw-quicksight",
        processed_bucket="processed-quicksight",
        final_bucket="final-quicksight",
        queue_name="events-quicksight",
        glue_database="db_quicksight",
    )
    return produce(settings, [("movies/movies.csv", SAMPLE.read_bytes())])


@pytest.fixture
def final(produced: Clients) -> Iterator[Clients]:
    """The module's final bucket, put back as it was after each test."""
    s3, bucket = produced.s3, produced.settings.final_bucket
    kept = {o["Key"]: s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in _objects(produced)}
    yield produced
    for obj in _objects(produced):
        if obj["Key"] not in kept:
            s3.delete_object(Bucket=bucket, Key=obj["Key"])
    for key, body in kept.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)


def _objects(clients: Clients) -> list[dict]:
    pages = clients.s3.get_paginator("list_objects_v2").paginate(Bucket=clients.settings.final_bucket)
    return [obj for page in pages for obj in page.get("Contents", [])]


def run(monkeypatch: pytest.MonkeyPatch, settings: Settings, *args: str) -> tuple[int, str]:
    """The command in-process, with the settings as a user's environment."""
    for name, value in settings.as_env().items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["quicksight", "manifest", *args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def manifest_of(clients: Clients, output: str) -> dict:
    key = layout.final_manifest_key(output)
    return json.loads(clients.s3.get_object(Bucket=clients.settings.final_bucket, Key=key)["Body"].read())


def put(clients: Clients, key: str, body: bytes) -> None:
    clients.s3.put_object(Bucket=clients.settings.final_bucket, Key=key, Body=body)


def test_writes_a_valid_manifest_for_every_output(monkeypatch: pytest.MonkeyPatch, final: Clients) -> None:
    bucket = final.settings.final_bucket
    for output in OUTPUTS:  # start from no manifest at all
        final.s3.delete_object(Bucket=bucket, Key=layout.final_manifest_key(output))
    code, out = run(monkeypatch, final.settings)
    assert code == 0, out
    assert out.splitlines() == [
        f"ok      {output}: wrote s3://{bucket}/{output}/manifest.json (1 file(s))" for output in OUTPUTS
    ]
    for output in OUTPUTS:
        assert manifest_of(final, output) == quicksight_manifest([f"s3://{bucket}/{output}/{output}.csv"])
    code, out = run(monkeypatch, final.settings, "--check-only", "movies_per_genre")
    assert (code, out.strip()) == (
        0,
        f"ok      movies_per_genre: s3://{bucket}/movies_per_genre/manifest.json is valid (1 file(s))",
    )


@pytest.mark.parametrize(
    ("extra_key", "body", "problem"),
    [
        (
            "movies_per_genre/movies_per_genre.parquet",
            None,  # the output's real Parquet, copied into the CSV folder
            "movies_per_genre.parquet: Parquet, not a text format",
        ),
        (
            "movies_per_genre/excel.csv",
            b"\xef\xbb\xbfgenre,movies\nwestern,2\n",
            "excel.csv: starts with a UTF-8 byte-order mark",
        ),
        (
            "movies_per_genre/more.csv",
            b"genre,movies,share\nwestern,2,0.1\n",
            "has 3 column(s) (genre, movies, share); every file of a manifest must have the same columns",
        ),
    ],
    ids=["parquet", "bom", "other-columns"],
)
def test_refuses_files_quicksight_refuses(
    monkeypatch: pytest.MonkeyPatch, final: Clients, extra_key: str, body: bytes | None, problem: str
) -> None:
    bucket = final.settings.final_bucket
    if body is None:
        body = final.s3.get_object(Bucket=bucket, Key=layout.final_parquet_key("movies_per_genre"))[
            "Body"
        ].read()
    before = manifest_of(final, "movies_per_genre")
    put(final, extra_key, body)
    code, out = run(monkeypatch, final.settings, "movies_per_genre", "movies_per_year")
    assert code == 1
    (failed,) = [line for line in out.splitlines() if line.startswith("FAILED")]
    assert (
        failed.startswith(f"FAILED  movies_per_genre: s3://{bucket}/movies_per_genre/") and problem in failed
    )
    assert f"ok      movies_per_year: wrote s3://{bucket}/movies_per_year/manifest.json" in out
    assert manifest_of(final, "movies_per_genre") == before  # nothing written for the refused output


def test_check_only_reads_hand_written_manifests(monkeypatch: pytest.MonkeyPatch, final: Clients) -> None:
    bucket = final.settings.final_bucket
    key = layout.final_manifest_key("movies_per_year")
    cases = [
        # A prefix on the output's folder imports the manifest itself: not CSV.
        (
            {"fileLocations": [{"URIPrefixes": [f"s3://{bucket}/movies_per_year/"]}]},
            "manifest.json: a JSON file",
        ),
        # Parquet under a prefix.
        (
            {"fileLocations": [{"URIPrefixes": [f"s3://{bucket}/parquet/movies_per_year/"]}]},
            "Parquet, not a text",
        ),
        ({"fileLocations": [{"URIs": [f"s3://{bucket}/gone.csv"]}]}, "gone.csv: no such object"),
        (
            {
                "fileLocations": [{"URIs": [f"s3://{bucket}/x.csv"]}],
                "globalUploadSettings": {"format": "PARQUET"},
            },
            "format 'PARQUET'",
        ),
    ]
    for document, problem in cases:
        put(final, key, json.dumps(document).encode())
        code, out = run(monkeypatch, final.settings, "--check-only", "movies_per_year")
        assert code == 1, out
        assert out.startswith("FAILED  movies_per_year: ") and problem in out, out
    put(final, key, b"{not json")
    code, out = run(monkeypatch, final.settings, "--check-only", "movies_per_year")
    assert code == 1 and "not valid JSON" in out


def test_more_than_1000_files_is_refused(monkeypatch: pytest.MonkeyPatch, final: Clients) -> None:
    """Counted before any file is read: a hand-written manifest listing 1,001 files."""
    bucket = final.settings.final_bucket
    uris = [f"s3://{bucket}/movies_per_year/part-{i:04}.csv" for i in range(MAX_FILES + 1)]
    put(final, layout.final_manifest_key("movies_per_year"), json.dumps(quicksight_manifest(uris)).encode())
    code, out = run(monkeypatch, final.settings, "--check-only", "movies_per_year")
    assert (code, out.splitlines()) == (
        1,
        [
            "FAILED  movies_per_year: 1,001 files, over QuickSight's limit of 1,000 files per manifest: "
            "merge files or split the data over several manifests"
        ],
    )


def test_an_unknown_output_is_one_line(final: Clients, tmp_path: Path) -> None:
    env = {k: v for k, v in final.settings.as_env().items()}
    result = cli("quicksight", "manifest", "nope", cwd=tmp_path, env=env)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        f"error: no final output named nope in s3://{final.settings.final_bucket}; the outputs are: "
        + ", ".join(OUTPUTS)
    ]
