"""Property: whatever the bytes, row accounting balances. Every record read is written out,
rejected with a reason, counted as empty or removed as a duplicate; or the whole file fails
with a clear reason. Generated inputs mix delimiters, quotes, line endings, NA tokens, typed
cells and encodings."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from tempfile import TemporaryDirectory

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.preprocess.clean import clean_csv
from pipeline.preprocess.exceptions import UnreadableFile
from pipeline.preprocess.handler import preprocess_file
from pipeline.preprocess.rules import Rules
from tests.unit.strategies import RULES, documents


def read(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text)))


@pytest.mark.slow
@settings(max_examples=400, deadline=None)
@given(documents, st.sampled_from([",", ";"]))
def test_clean_accounts_for_every_record(text: str, delimiter: str) -> None:
    out, rejects = io.StringIO(), io.StringIO()
    try:
        counts = clean_csv(io.StringIO(text, newline=""), out, rejects, "k.csv", RULES, delimiter)
    except UnreadableFile as exc:
        assert str(exc).startswith("k.csv: ")
        return
    assert counts.balanced()
    assert counts.rows_duplicate == 0  # duplicates are removed by the step after cleaning
    assert len(read(out.getvalue())) - 1 == counts.rows_out
    rejected = read(rejects.getvalue())[1:]
    assert len(rejected) == counts.rows_rejected
    assert all(reason for _, _, reason, _ in rejected)


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents, st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]), st.booleans())
def test_whole_files_balance_after_deduplication(text: str, encoding: str, dedupe: bool) -> None:
    data = text.encode(encoding, errors="replace")
    with TemporaryDirectory() as tmp:
        raw = Path(tmp, "raw.csv")
        raw.write_bytes(data)
        try:
            processed = preprocess_file(raw, "k.csv", Rules(dedupe=dedupe), Path(tmp), memory_mb=128)
        except UnreadableFile as exc:
            assert str(exc).startswith("k.csv: ")
            return
        counts = processed.counts
        assert counts.balanced()
        assert counts.rows_duplicate >= 0 and (dedupe or counts.rows_duplicate == 0)
        with processed.output.open(encoding="utf-8", newline="") as fh:
            assert sum(1 for _ in csv.reader(fh)) - 1 == counts.rows_out
