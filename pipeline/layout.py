"""Where things live in the buckets: pure functions from names to object keys.

Why: the Lambda, the crawler, the SQL jobs, ``csvpipe run`` and the dashboard must agree on the
layout of every bucket. Keeping it in one pure module makes the contract readable and testable.

    raw        <dataset>/<file>.csv[.gz]             what users upload
    processed  <dataset>/<file>.csv                  cleaned data, one object per raw object
                                                     (other raw keys: <file>~<hash>.csv, see
                                                     processed_key)
               _rejects/<dataset>/<file>.csv         rows that could not be kept, with reasons
               _runs/<run_id>/<stage>.json           run records, one folder per raw object version
    final      <output>/<output>.csv                 analysis-ready data for QuickSight
               <output>/manifest.json                the QuickSight manifest for that output
               _runs/<output>.json                   the latest run record of that output
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import PurePosixPath

CSV_SUFFIXES = (".csv.gz", ".csv")
RUNS_PREFIX = "_runs/"
REJECTS_PREFIX = "_rejects/"
PARQUET_PREFIX = "parquet/"
STAGES = ("preprocess", "crawl", "transform")

_NON_WORD = re.compile(r"[^0-9a-zA-Z]+")
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")


def snake_case(name: str) -> str:
    """``movieId`` -> ``movie_id``, ``Release Date`` -> ``release_date``, ``Año`` -> ``ano``.

    Accents are folded to ASCII, since Glue names are lower-case ASCII letters, digits and ``_``."""
    folded = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    spaced = _CAMEL.sub("_", folded.strip())
    return _NON_WORD.sub("_", spaced).strip("_").lower()


def is_csv_key(key: str) -> bool:
    return key.lower().endswith(CSV_SUFFIXES)


def strip_csv_suffix(name: str) -> str:
    lowered = name.lower()
    for suffix in CSV_SUFFIXES:
        if lowered.endswith(suffix):
            return name[: -len(suffix)]
    return name


def dataset_for_key(key: str) -> str:
    """The dataset (and so the catalog table) a raw object belongs to: its top folder, or the
    file's name when it sits at the top of the bucket. ``movies/2024.csv`` -> ``movies``,
    ``Movies List.csv`` -> ``movies_list``."""
    parts = PurePosixPath(key).parts
    if not parts:
        return "dataset"  # "" or "."
    base = parts[0] if len(parts) > 1 else strip_csv_suffix(parts[-1])
    name = snake_case(base)
    if not name:
        return "dataset"
    return f"t_{name}" if name[0].isdigit() else name


def raw_key_for_upload(filename: str, dataset: str | None = None) -> str:
    """The raw key ``csvpipe run`` uploads a local file to: ``<dataset>/<file name>``."""
    dataset = dataset or dataset_for_key(filename)
    return f"{dataset}/{PurePosixPath(filename).name}"


# A processed key's hash suffix: ``~`` and this many hex digits of the raw key's SHA-256.
KEY_HASH_CHARS = 12
_HASHED_STEM = re.compile(rf"~[0-9a-f]{{{KEY_HASH_CHARS}}}$")
_UNSAFE_CHARS = re.compile(r"[\\\x00-\x1f\x7f]")


def processed_key(raw_key: str) -> str:
    """One processed object per raw object, so reprocessing the same object overwrites it, and
    distinct raw objects never share one (the last processed would win).

    A canonical raw key, ``<dataset>/<path>.csv`` whose first folder is already the dataset's name
    and whose path has no empty, ``.`` or ``..`` segment, no backslash and no control character,
    keeps its path: ``movies/movies.csv`` -> ``movies/movies.csv``. Any other key (``.csv.gz``,
    ``.CSV``, a top-level ``movies.csv``, ``Movies/x.csv``, ``movies//x.csv``, ``movies/./x.csv``,
    ``movies/..\\x.csv``) gets a readable, safe path and ``~`` plus 12 hex digits of its SHA-256:
    ``movies/a.csv.gz`` -> ``movies/a~3f1c…e0.csv``. A canonical key whose name already ends like
    such a suffix is hashed too, so the two kinds never meet."""
    dataset = dataset_for_key(raw_key)
    parts = raw_key.split("/")
    rest = "/".join(parts[1:])
    if (
        len(parts) > 1
        and parts[0] == dataset
        and rest.endswith(".csv")
        and all(part not in {"", ".", ".."} for part in parts[1:])
        and not _UNSAFE_CHARS.search(rest)
        and not _HASHED_STEM.search(rest.removesuffix(".csv"))
    ):
        return raw_key
    safe = [
        _UNSAFE_CHARS.sub("_", part)
        for part in (parts[1:] if len(parts) > 1 else parts)
        if part not in {"", ".", ".."}
    ]
    stem = strip_csv_suffix("/".join(safe)) or "file"
    digest = hashlib.sha256(raw_key.encode("utf-8", "surrogatepass")).hexdigest()[:KEY_HASH_CHARS]
    return f"{dataset}/{stem}~{digest}.csv"


def rejects_key(raw_key: str) -> str:
    return REJECTS_PREFIX + processed_key(raw_key)


def dataset_prefix(dataset: str) -> str:
    return f"{dataset}/"


def run_id(bucket: str, key: str, etag: str) -> str:
    """A stable id for one version of one raw object: the same upload always maps to the same
    run, which keeps reprocessing idempotent and lets ``csvpipe run`` find its records."""
    digest = hashlib.sha256(f"{bucket}\0{key}\0{etag.strip(chr(34))}".encode()).hexdigest()
    return digest[:20]


def run_record_key(run: str, stage: str) -> str:
    return f"{RUNS_PREFIX}{run}/{stage}.json"


def final_data_key(output: str) -> str:
    return f"{output}/{output}.csv"


def final_parquet_key(output: str) -> str:
    """Parquet beside, not under, the CSV's folder: QuickSight reads a folder as CSV only."""
    return f"{PARQUET_PREFIX}{output}/{output}.parquet"


def final_manifest_key(output: str) -> str:
    return f"{output}/manifest.json"


def final_run_key(output: str) -> str:
    return f"{RUNS_PREFIX}{output}.json"
