"""``csvpipe quicksight``: QuickSight's side of the final bucket (the manifests it imports).

Why a command: QuickSight refuses an S3 import for reasons found only when a dataset is created
in its console (a Parquet file under a prefix, a file with other columns, a byte-order mark, more
than 1,000 files). This command checks each output's files as QuickSight would, before anyone
points QuickSight at them. The rules live in :mod:`pipeline.publish.manifest`; this module only
reads the bucket (listings, each file's size and first bytes) and writes the manifests.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from botocore.exceptions import ClientError

from pipeline import layout, runs
from pipeline.aws import Clients
from pipeline.cli_common import console, settings_of
from pipeline.errors import UserInputError
from pipeline.publish.manifest import (
    HEAD_BYTES,
    FileFacts,
    InvalidManifest,
    Manifest,
    check_files,
    parse_manifest,
    quicksight_manifest,
    too_many_files,
)
from pipeline.storage import MISSING_OBJECT_CODES, error_code, split_s3_uri

quicksight_app = typer.Typer(help="QuickSight manifests for the final outputs.", no_args_is_help=True)

MANIFEST_NAME = "manifest.json"


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    """Every object key under ``prefix``, as QuickSight lists a URIPrefix (recursively)."""
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [obj["Key"] for obj in page.get("Contents", []) if not obj["Key"].endswith("/")]
    return sorted(keys)


def final_outputs(s3: Any, bucket: str) -> list[str]:
    """The outputs in the final bucket: top folders that hold ``<output>/<output>.csv``."""
    keys = set(_keys(s3, bucket, ""))
    folders = {key.split("/", 1)[0] for key in keys if "/" in key}
    return sorted(name for name in folders if layout.final_data_key(name) in keys)


def _facts(s3: Any, uri: str) -> FileFacts | None:
    """Size and first bytes of the object at ``uri``, or None when there is no such object."""
    bucket, key = split_s3_uri(uri)
    try:
        response = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{HEAD_BYTES - 1}")
    except ClientError as exc:
        if error_code(exc) in MISSING_OBJECT_CODES:
            return None
        if error_code(exc) == "InvalidRange":  # an empty object has no byte 0
            return FileFacts(uri, 0, b"")
        raise
    size = int(str(response.get("ContentRange", "")).rpartition("/")[2] or response["ContentLength"])
    return FileFacts(uri, size, response["Body"].read())


def _uris(s3: Any, manifest: Manifest) -> list[str]:
    """The files ``manifest`` imports: its URIs and every object under its prefixes, once each."""
    uris = list(manifest.uris)
    for prefix in manifest.prefixes:
        bucket, key_prefix = split_s3_uri(prefix)
        uris += [f"s3://{bucket}/{key}" for key in _keys(s3, bucket, key_prefix)]
    return list(dict.fromkeys(uris))


def _validate(s3: Any, manifest: Manifest) -> tuple[list[str], int]:
    """QuickSight's objections to ``manifest`` and the files it imports; (problems, files)."""
    uris = _uris(s3, manifest)
    too_many = too_many_files(len(uris))
    if too_many is not None:
        return [too_many], len(uris)  # refused whatever the files hold: not worth reading each one
    files, missing = [], []
    for uri in uris:
        facts = _facts(s3, uri)
        if facts is None:
            missing.append(f"{uri}: no such object")
        else:
            files.append(facts)
    return missing + check_files(manifest, files), len(uris)


def _write(s3: Any, bucket: str, output: str) -> tuple[str, list[str], int]:
    """Check the output's files and write its manifest when they pass; (uri, problems, files)."""
    folder = f"{output}/"
    data = [f"s3://{bucket}/{key}" for key in _keys(s3, bucket, folder) if key != folder + MANIFEST_NAME]
    document = quicksight_manifest(data)
    problems, count = _validate(s3, parse_manifest(document))
    uri = f"s3://{bucket}/{layout.final_manifest_key(output)}"
    if not problems:
        runs.put_json(s3, bucket, layout.final_manifest_key(output), document)
    return uri, problems, count


def _check(s3: Any, bucket: str, output: str) -> tuple[str, list[str], int]:
    """Check the output's manifest as it is in the bucket; (uri, problems, files)."""
    key = layout.final_manifest_key(output)
    uri = f"s3://{bucket}/{key}"
    try:
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if error_code(exc) in MISSING_OBJECT_CODES:
            return uri, [f"no manifest yet: write it with `csvpipe quicksight manifest {output}`"], 0
        raise
    try:
        manifest = parse_manifest(json.loads(body))
    except json.JSONDecodeError as exc:
        return uri, [f"{uri}: not valid JSON ({exc})"], 0
    except InvalidManifest as exc:
        return uri, [f"{uri}: {exc}"], 0
    problems, count = _validate(s3, manifest)
    return uri, problems, count


@quicksight_app.command("manifest")
def manifest(
    ctx: typer.Context,
    outputs: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="OUTPUT",
            help="Final outputs (e.g. movies_per_genre); all outputs in the final bucket if none.",
        ),
    ] = None,
    check_only: Annotated[
        bool,
        typer.Option(
            "--check-only",
            help="Check the manifests already in the bucket, and the files they point at; write nothing.",
        ),
    ] = False,
) -> None:
    """Write `<output>/manifest.json` for QuickSight after checking the output's files as
    QuickSight would: text format (not Parquet), UTF-8 without byte-order mark, the same columns
    in every file, at most 1,000 files (1 GB each, 10 GB in all).

    The manifest lists, as URIs, every file in the output's folder (normally `<output>.csv`),
    with CSV settings: comma, double quotes, a header row. In QuickSight, create an S3 dataset
    with the manifest's s3:// URL. Exits 1, writing nothing for that output, when a check fails.
    """
    settings = settings_of(ctx)
    s3 = Clients(settings).s3
    bucket = settings.final_bucket
    known = final_outputs(s3, bucket)
    names = list(dict.fromkeys(outputs or known))
    unknown = [name for name in names if name not in known]
    if unknown:
        found = ", ".join(known) if known else "none yet (run `csvpipe run data/samples/movies.csv`)"
        raise UserInputError(
            f"no final output named {', '.join(unknown)} in s3://{bucket}; the outputs are: {found}"
        )
    if not names:
        raise UserInputError(
            f"no final outputs in s3://{bucket} yet: run `csvpipe run data/samples/movies.csv` first"
        )
    failed = 0
    for name in names:
        if check_only:
            uri, problems, count = _check(s3, bucket, name)
            verdict = f"{uri} is valid ({count} file(s))"
        else:
            uri, problems, count = _write(s3, bucket, name)
            verdict = f"wrote {uri} ({count} file(s))"
        if problems:
            failed += 1
            for problem in problems:
                console.print(f"FAILED  {name}: {problem}", style="red")
        else:
            console.print(f"ok      {name}: {verdict}")
    if failed and not check_only:
        console.print(f"{failed} manifest(s) not written: fix the files above, then run the command again")
    raise typer.Exit(1 if failed else 0)
