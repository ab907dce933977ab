"""Predicting, before upload, which Lambda limit a file would exceed: throughput from run
records, the text size of gzip files, and each warning with the setting it names."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from pipeline.limits import (
    DEFAULT_MB_PER_S,
    MB,
    Throughput,
    limit_warnings,
    measured_throughput,
    text_bytes,
)
from pipeline.settings import load_settings


def record(size: int, seconds: float, status: str = "ok") -> dict:
    return {"status": status, "source": {"size": size}, "seconds": seconds}


@pytest.mark.parametrize(
    ("records", "expected"),
    [
        ([], Throughput(DEFAULT_MB_PER_S, 0)),
        ([record(1000, 0.1)], Throughput(DEFAULT_MB_PER_S, 0)),  # too small to measure
        ([record(100 * MB, 5.0, "failed")], Throughput(DEFAULT_MB_PER_S, 0)),
        ([record(100 * MB, 0)], Throughput(DEFAULT_MB_PER_S, 0)),
        ([record(100 * MB, 5.0)], Throughput(20.0, 1)),
        ([record(100 * MB, 5.0), record(50 * MB, 10.0), record(10 * MB, 0.25)], Throughput(20.0, 3)),
        ([{"status": "failed", "source": None, "seconds": 1.0}, record(40 * MB, 1.0)], Throughput(40.0, 1)),
    ],
)
def test_measured_throughput_is_the_median_of_big_successful_runs(records, expected) -> None:
    assert measured_throughput(records) == expected


def test_text_bytes_of_gzip_is_its_uncompressed_size(tmp_path: Path) -> None:
    text = b"movieId,title\n" + b"1,Toy Story (1995)\n" * 10_000
    packed = tmp_path / "movies.csv.gz"
    packed.write_bytes(gzip.compress(text))
    plain = tmp_path / "movies.csv"
    plain.write_bytes(text)
    assert text_bytes(packed) == len(text) == text_bytes(plain)
    assert packed.stat().st_size < len(text) // 10


def sparse(tmp_path: Path, megabytes: int) -> Path:
    """A file that has the size without taking the disk space."""
    path = tmp_path / "big.csv"
    with path.open("wb") as fh:
        fh.truncate(megabytes * MB)
    return path


def test_a_small_file_within_the_defaults_gets_no_warning(tmp_path: Path) -> None:
    settings = load_settings(environ={})
    assert limit_warnings(sparse(tmp_path, 5), Throughput(20.0, 3), settings) == []


def test_timeout_warning_names_the_setting_and_a_value_with_room(tmp_path: Path) -> None:
    settings = load_settings(environ={})
    (warning,) = [
        w for w in limit_warnings(sparse(tmp_path, 1000), Throughput(20.0, 3), settings) if "timeout" in w
    ]
    assert warning.startswith("big.csv (1,000 MB of text) is predicted to take about 50 s to preprocess at")
    assert "20.0 MB/s (median of 3 recent run(s))" in warning
    assert "over the Lambda timeout of 30 s; raise it with --set lambda_timeout=101" in warning


def test_timeout_past_lambdas_maximum_says_split(tmp_path: Path) -> None:
    settings = load_settings(environ={})
    warnings = limit_warnings(sparse(tmp_path, 10_000), Throughput(10.0, 0), settings)
    assert any("near or over Lambda's 900 s maximum: split the file" in w for w in warnings)
    assert any("a default until files of 4 MB or more have run" in w for w in warnings)


def test_memory_and_tmp_warnings(tmp_path: Path) -> None:
    settings = load_settings(environ={}, overrides={"lambda_memory_mb": "200"})
    warnings = limit_warnings(sparse(tmp_path, 300), Throughput(1000.0, 3), settings)
    assert warnings == [
        "big.csv is predicted to need about 260 MB of memory, over the Lambda's 200 MB (about 160 MB for "
        "the runtime besides DuckDB's limit of half the memory); raise it with --set lambda_memory_mb=326",
        "big.csv needs about 1,500 MB of /tmp while it is preprocessed, over the Lambda's ephemeral storage "
        "of 512 MB; raise it with --set lambda_ephemeral_mb=1876",
    ]
