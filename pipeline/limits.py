"""Predicting, before upload, whether a file fits the preprocessing Lambda's limits: its
timeout, its memory and its temporary storage.

Why: a Lambda that runs out of time or space fails only after the upload, is retried twice and
then dead-lettered, minutes later. The prediction is one line at once, naming the setting to
change. Time comes from the file's size and the throughput measured by recent runs (their run
records), or a conservative default before any file of size has run.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.settings import Settings

MB = 1024 * 1024
LAMBDA_MAX_TIMEOUT = 900  # seconds: AWS Lambda's 15-minute maximum
LAMBDA_MAX_EPHEMERAL_MB = 10_240
# Conservative until runs are measured: bench/ measures 30-35 MB/s on two cores (about 20 MB per
# CPU second), and a Lambda of 512 MB has 0.29 of one vCPU.
DEFAULT_MB_PER_S = 5.0
# Runs of small files measure start-up, not throughput.
MIN_MEASURED_BYTES = 4 * MB
RECENT_RUNS = 20
# Asked-for settings leave this much room over the prediction.
HEADROOM = 2.0
# Peak memory of the preprocessing does not grow with the file (streaming, DuckDB spills to
# disk): the interpreter, DuckDB and boto3 need about this much besides DuckDB's own limit.
BASE_MEMORY_MB = 160
# Temporary storage at the peak, measured by bench/ on a 1 GB file: the line-numbered cleaned
# copy, the output and DuckDB's spill came to 4.0-4.7 times the text (the raw download is
# deleted once it is cleaned).
TMP_COPIES = 5


@dataclass(frozen=True)
class Throughput:
    mb_per_s: float
    measured_runs: int  # 0: the default, nothing measured yet

    def describe(self) -> str:
        if not self.measured_runs:
            floor = MIN_MEASURED_BYTES // MB
            return f"{self.mb_per_s:g} MB/s (a default until files of {floor} MB or more have run)"
        return f"{self.mb_per_s:.1f} MB/s (median of {self.measured_runs} recent run(s))"


def measured_throughput(records: Iterable[dict[str, Any]]) -> Throughput:
    """The median preprocessing throughput of successful runs of files big enough to measure."""
    rates = [
        record["source"]["size"] / MB / record["seconds"]
        for record in records
        if record.get("status") == "ok"
        and (record.get("source") or {}).get("size", 0) >= MIN_MEASURED_BYTES
        and record.get("seconds", 0) > 0
    ]
    if not rates:
        return Throughput(DEFAULT_MB_PER_S, 0)
    return Throughput(statistics.median(rates), len(rates))


def text_bytes(path: Path) -> int:
    """The size of the file's text: for ``.gz``, the uncompressed size from the gzip trailer
    (exact below 4 GiB, the field being 32 bits; a multi-member file gives its last member's)."""
    size = path.stat().st_size
    if not path.name.lower().endswith(".gz") or size < 18:
        return size
    with path.open("rb") as fh:
        fh.seek(-4, 2)
        trailer = int.from_bytes(fh.read(4), "little")
    # A trailer smaller than the compressed file means the 32-bit field wrapped around.
    return trailer if trailer >= size else trailer + (size // 2**32 + 1) * 2**32


def limit_warnings(path: Path, throughput: Throughput, settings: Settings) -> list[str]:
    """One line per limit ``path`` is predicted to exceed, with the setting to change."""
    text = text_bytes(path)
    megabytes = text / MB
    warnings = []
    seconds = megabytes / throughput.mb_per_s
    if seconds > settings.lambda_timeout:
        wanted = min(LAMBDA_MAX_TIMEOUT, int(seconds * HEADROOM) + 1)
        advice = (
            f"raise it with --set lambda_timeout={wanted} (or CSVPIPE_LAMBDA_TIMEOUT={wanted})"
            if seconds * HEADROOM <= LAMBDA_MAX_TIMEOUT
            else f"that is near or over Lambda's {LAMBDA_MAX_TIMEOUT} s maximum: split the file, or set "
            f"lambda_timeout={wanted}"
        )
        warnings.append(
            f"{path.name} ({megabytes:,.0f} MB of text) is predicted to take about {seconds:,.0f} s to "
            f"preprocess at {throughput.describe()}, over the Lambda timeout of "
            f"{settings.lambda_timeout} s; {advice}"
        )
    # DuckDB's deduplication holds up to the text's size, within its limit of half the memory.
    memory_mb = BASE_MEMORY_MB + min(megabytes, settings.lambda_memory_mb / 2)
    if memory_mb > settings.lambda_memory_mb:
        wanted = max(2 * BASE_MEMORY_MB, int(memory_mb * 1.25) + 1)
        warnings.append(
            f"{path.name} is predicted to need about {memory_mb:,.0f} MB of memory, over the Lambda's "
            f"{settings.lambda_memory_mb} MB (about {BASE_MEMORY_MB} MB for the runtime besides DuckDB's "
            f"limit of half the memory); raise it with --set lambda_memory_mb={wanted}"
        )
    tmp_mb = TMP_COPIES * megabytes
    if tmp_mb > settings.lambda_ephemeral_mb:
        wanted = min(LAMBDA_MAX_EPHEMERAL_MB, int(tmp_mb * 1.25) + 1)
        warnings.append(
            f"{path.name} needs about {tmp_mb:,.0f} MB of /tmp while it is preprocessed, over the Lambda's "
            f"ephemeral storage of {settings.lambda_ephemeral_mb} MB; raise it with "
            f"--set lambda_ephemeral_mb={wanted}"
            + (
                f" (AWS allows at most {LAMBDA_MAX_EPHEMERAL_MB} MB: split the file)"
                if wanted < tmp_mb
                else ""
            )
        )
    return warnings
