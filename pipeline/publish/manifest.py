"""QuickSight S3 manifests (``manifest.json``): pure construction and validation.

Why: QuickSight imports files from S3 through a manifest, and refuses an import for reasons
that are easy to miss until the dataset is created in the console. The rules here are the ones
QuickSight's documentation gives ("Supported formats for Amazon S3 manifest files"):

- the document: ``fileLocations`` (a list of ``{"URIs": [...]}`` and ``{"URIPrefixes": [...]}``
  entries; a prefix imports every file under it) and optional ``globalUploadSettings``
  (``format`` one of CSV, TSV, CLF, ELF, JSON; ``delimiter``; ``textqualifier`` ``'`` or ``"``;
  ``containsHeader`` ``"true"`` or ``"false"``; a JSON import gives only ``format``);
- the files: delimited text, log or JSON (not Parquet, ORC, Avro or Excel), all of one format,
  with the same number and type of columns, UTF-8 without a byte-order mark, at most 1,000 files
  per manifest, each at most 1 GB and 10 GB in all.

Nothing here reads S3: callers describe each file as a :class:`FileFacts` (its size and first
bytes) and get back one clear line per problem, so the rules are tested table-driven.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

FORMATS = ("CSV", "TSV", "CLF", "ELF", "JSON")
TEXT_QUALIFIERS = ('"', "'")
MAX_FILES = 1000
MAX_FILE_BYTES = 1024**3
MAX_TOTAL_BYTES = 10 * 1024**3
HEAD_BYTES = 64 * 1024
"""How much of each file validation needs: enough for the magic bytes and the header line."""

_DEFAULT_DELIMITERS = {"CSV": ",", "TSV": "\t"}
_UTF8_BOM = b"\xef\xbb\xbf"
_BOMS = (
    (_UTF8_BOM, "a UTF-8 byte-order mark"),
    (b"\xff\xfe", "a UTF-16 byte-order mark (UTF-16 text, not UTF-8)"),
    (b"\xfe\xff", "a UTF-16 byte-order mark (UTF-16 text, not UTF-8)"),
)
_BINARY_MAGIC = (
    (b"PAR1", "Parquet"),
    (b"ORC", "ORC"),
    (b"Obj\x01", "Avro"),
    (b"PK\x03\x04", "a zip archive (an Excel workbook?)"),
)
_TEXT_SUFFIXES = {".csv": "CSV", ".tsv": "TSV", ".json": "JSON", ".clf": "CLF", ".elf": "ELF"}
_GZIP_MAGIC = b"\x1f\x8b"
_BINARY_SUFFIXES = {
    ".parquet": "Parquet",
    ".orc": "ORC",
    ".avro": "Avro",
    ".xlsx": "an Excel workbook",
    ".xls": "an Excel workbook",
}


class InvalidManifest(ValueError):
    """The manifest document itself is malformed (not the files it points at)."""


@dataclass(frozen=True)
class Manifest:
    """A parsed QuickSight manifest: where its files are and how to read them."""

    uris: tuple[str, ...]
    prefixes: tuple[str, ...]
    format: str = "CSV"
    delimiter: str = ","
    textqualifier: str = '"'
    contains_header: bool = True


@dataclass(frozen=True)
class FileFacts:
    """What validation needs to know of one file: its URI, its size and its first bytes."""

    uri: str
    size: int
    head: bytes


def quicksight_manifest(
    uris: Sequence[str],
    prefixes: Sequence[str] = (),
    *,
    delimiter: str = ",",
    textqualifier: str = '"',
    contains_header: bool = True,
) -> dict[str, Any]:
    """A manifest for CSV files (a header row by default, comma-delimited, double-quote qualified)
    at ``uris`` and under ``prefixes``."""
    locations: list[dict[str, list[str]]] = [{"URIs": list(uris)}] if uris or not prefixes else []
    if prefixes:
        locations.append({"URIPrefixes": list(prefixes)})
    return {
        "fileLocations": locations,
        "globalUploadSettings": {
            "format": "CSV",
            "delimiter": delimiter,
            "textqualifier": textqualifier,
            "containsHeader": "true" if contains_header else "false",
        },
    }


def _s3_uris(values: Any, field: str, index: int) -> list[str]:
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise InvalidManifest(f"fileLocations[{index}].{field} must be a list of s3:// URIs")
    for value in values:
        bucket, _, key = value.removeprefix("s3://").partition("/")
        if not value.startswith("s3://") or not bucket:
            raise InvalidManifest(f"fileLocations[{index}].{field}: {value!r} is not an s3://bucket/key URI")
        if field == "URIs" and (not key or key.endswith("/")):
            raise InvalidManifest(
                f"fileLocations[{index}].URIs: {value!r} names a folder, not a file; "
                "list folders under URIPrefixes"
            )
    return list(values)


def parse_manifest(document: Any) -> Manifest:
    """The manifest in ``document`` (parsed JSON), or :class:`InvalidManifest` naming the field."""
    if not isinstance(document, Mapping):
        raise InvalidManifest("a manifest is a JSON object with 'fileLocations'")
    unknown = sorted(set(document) - {"fileLocations", "globalUploadSettings"})
    if unknown:
        raise InvalidManifest(
            f"unknown field(s) {', '.join(unknown)}; a manifest has fileLocations and globalUploadSettings"
        )
    locations = document.get("fileLocations")
    if not isinstance(locations, list) or not locations:
        raise InvalidManifest(
            "fileLocations must be a non-empty list of {URIs: [...]} or {URIPrefixes: [...]}"
        )
    uris: list[str] = []
    prefixes: list[str] = []
    for index, location in enumerate(locations):
        if not isinstance(location, Mapping) or not location or set(location) - {"URIs", "URIPrefixes"}:
            raise InvalidManifest(f"fileLocations[{index}] must hold URIs or URIPrefixes, and nothing else")
        uris += _s3_uris(location.get("URIs", []), "URIs", index)
        prefixes += _s3_uris(location.get("URIPrefixes", []), "URIPrefixes", index)
    if not uris and not prefixes:
        raise InvalidManifest("fileLocations lists no file and no prefix")

    settings = document.get("globalUploadSettings", {})
    if not isinstance(settings, Mapping):
        raise InvalidManifest("globalUploadSettings must be an object")
    unknown = sorted(set(settings) - {"format", "delimiter", "textqualifier", "containsHeader"})
    if unknown:
        raise InvalidManifest(f"globalUploadSettings: unknown field(s) {', '.join(unknown)}")
    if any(not isinstance(value, str) for value in settings.values()):
        raise InvalidManifest('globalUploadSettings values are strings (write "true", not true)')
    kind = settings.get("format", "CSV")
    if kind.upper() not in FORMATS:
        raise InvalidManifest(
            f"format {kind!r} is not one QuickSight imports from S3: use one of {', '.join(FORMATS)} "
            "(Parquet is not supported through a manifest; publish CSV)"
        )
    kind = kind.upper()
    if kind == "JSON":
        extra = sorted(set(settings) - {"format"})
        if extra:
            raise InvalidManifest(f"a JSON import takes only 'format', not {', '.join(extra)}")
        return Manifest(tuple(uris), tuple(prefixes), kind, "", "", False)
    delimiter = settings.get("delimiter", _DEFAULT_DELIMITERS.get(kind, ","))
    if len(delimiter) != 1:
        raise InvalidManifest(f"delimiter must be one character, got {delimiter!r}")
    qualifier = settings.get("textqualifier", '"')
    if qualifier not in TEXT_QUALIFIERS:
        raise InvalidManifest(f"textqualifier must be ' or \", got {qualifier!r}")
    header = settings.get("containsHeader", "true")
    if header.lower() not in ("true", "false"):
        raise InvalidManifest(f'containsHeader must be "true" or "false", got {header!r}')
    return Manifest(tuple(uris), tuple(prefixes), kind, delimiter, qualifier, header.lower() == "true")


def binary_kind(uri: str, head: bytes) -> str | None:
    """The non-text format a file is in (Parquet, ORC, Avro, a workbook), or None for text."""
    for magic, kind in _BINARY_MAGIC:
        if head.startswith(magic):
            return kind
    lowered = uri.lower()
    for suffix, kind in _BINARY_SUFFIXES.items():
        if lowered.endswith(suffix):
            return kind
    if b"\x00" in head[:8192] and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return "binary content (NUL bytes)"
    return None


def first_record(head: bytes, delimiter: str, textqualifier: str) -> list[str]:
    """The first record of a delimited text file's first bytes (its header when it has one)."""
    text = head.decode("utf-8", errors="replace")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, quotechar=textqualifier)
    return next(reader, [])


def _shown(columns: Sequence[str]) -> str:
    names = ", ".join(columns[:8]) + (", ..." if len(columns) > 8 else "")
    return f"{len(columns)} column(s) ({names})"


def text_format(uri: str) -> str | None:
    """The text format a file's name says (``.csv`` -> CSV, ``.tsv`` -> TSV, ...), or None."""
    name = uri.lower().removesuffix(".gz")
    return next((kind for suffix, kind in _TEXT_SUFFIXES.items() if name.endswith(suffix)), None)


def too_many_files(count: int) -> str | None:
    """The problem with a manifest importing ``count`` files, if it is over QuickSight's limit."""
    if count <= MAX_FILES:
        return None
    return (
        f"{count:,} files, over QuickSight's limit of {MAX_FILES:,} files per manifest: "
        "merge files or split the data over several manifests"
    )


def check_files(manifest: Manifest, files: Sequence[FileFacts]) -> list[str]:
    """One line per reason QuickSight would refuse to import ``files`` with ``manifest``."""
    if not files:
        return ["the manifest points at no file: nothing to import"]
    problems: list[str] = []
    if (too_many := too_many_files(len(files))) is not None:
        problems.append(too_many)
    total = sum(f.size for f in files)
    if total > MAX_TOTAL_BYTES:
        problems.append(
            f"{total / 1024**3:.1f} GB in all, over QuickSight's limit of 10 GB per manifest: "
            "split the data over several manifests"
        )
    first: tuple[str, list[str]] | None = None
    for facts in files:
        if facts.size > MAX_FILE_BYTES:
            problems.append(
                f"{facts.uri}: {facts.size / 1024**3:.1f} GB, over QuickSight's limit of 1 GB per file: "
                "split it into several files"
            )
        kind = binary_kind(facts.uri, facts.head)
        if kind is not None:
            problems.append(
                f"{facts.uri}: {kind}, not a text format; QuickSight imports only delimited text "
                "(CSV, TSV), CLF, ELF or JSON through a manifest: point it at the CSV"
            )
            continue
        named = text_format(facts.uri)
        if named is not None and named != manifest.format:
            problems.append(
                f"{facts.uri}: a {named} file, but the manifest's format is {manifest.format}; every file "
                "of a manifest must have the same format (a prefix imports every file under it)"
            )
            continue
        bom = next((name for mark, name in _BOMS if facts.head.startswith(mark)), None)
        if bom is not None:
            problems.append(
                f"{facts.uri}: starts with {bom}; QuickSight reads UTF-8 without a byte-order mark: "
                "write the file as UTF-8 without BOM"
            )
            if not facts.head.startswith(_UTF8_BOM):
                continue  # UTF-16: its columns cannot be read as UTF-8
        if manifest.format not in _DEFAULT_DELIMITERS or facts.head.startswith(_GZIP_MAGIC):
            continue  # columns are compared for delimited text; compressed files are not opened
        body = facts.head.removeprefix(_UTF8_BOM)
        columns = first_record(body, manifest.delimiter, manifest.textqualifier)
        if first is None:
            first = (facts.uri, columns)
        elif not _same_columns(first[1], columns, manifest.contains_header):
            problems.append(
                f"{facts.uri}: {_shown(columns)}, but {first[0]} has {_shown(first[1])}; "
                "every file of a manifest must have the same columns"
            )
    return problems


def _same_columns(first: list[str], other: list[str], by_name: bool) -> bool:
    """With a header, the names in order; without one, the number of fields."""
    if by_name:
        return [c.strip() for c in first] == [c.strip() for c in other]
    return len(first) == len(other)
