"""Every file of the malformed-input corpus (tests/corpus/) against its expected outcome, with
the row accounting checked on each: in = out + rejected + empty + duplicate."""

from __future__ import annotations

import csv
import tomllib
from pathlib import Path
from typing import Any

import pytest

from pipeline.preprocess.exceptions import UnreadableFile
from pipeline.preprocess.handler import preprocess_file
from pipeline.preprocess.rules import load_rules
from pipeline.settings import PACKAGED_RULES

CORPUS = Path(__file__).parents[1] / "corpus"
FILES = CORPUS / "files"
EXPECTED: dict[str, dict[str, Any]] = tomllib.loads((CORPUS / "expected.toml").read_text(encoding="utf-8"))


def test_the_corpus_is_complete() -> None:
    assert sorted(path.name for path in FILES.iterdir()) == sorted(EXPECTED)
    assert len(EXPECTED) >= 25
    assert {case["outcome"] for case in EXPECTED.values()} == {"ok", "failed"}


def read_rows(path: Path) -> list[list[str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.reader(fh))


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_file(name: str, tmp_path: Path) -> None:
    expected = EXPECTED[name]
    rules = load_rules(PACKAGED_RULES, "movies")
    key = f"movies/{name}"
    if expected["outcome"] == "failed":
        with pytest.raises(UnreadableFile) as info:
            preprocess_file(FILES / name, key, rules, tmp_path, memory_mb=256)
        assert str(info.value).startswith(f"{key}: ")
        assert expected["reason"] in str(info.value)
        return

    processed = preprocess_file(FILES / name, key, rules, tmp_path, memory_mb=256)
    counts = processed.counts
    assert counts.balanced()
    rows = {
        "in": counts.rows_in,
        "out": counts.rows_out,
        "rejected": counts.rows_rejected,
        "empty": counts.rows_empty,
        "duplicate": counts.rows_duplicate,
    }
    assert rows == expected["rows"]

    output = read_rows(processed.output)
    assert output[0] == counts.columns
    assert len(output) - 1 == counts.rows_out
    rejects = read_rows(processed.rejects)[1:]
    assert len(rejects) == counts.rows_rejected
    assert [reason for _, _, reason, _ in rejects] == expected.get("rejects", [])
    if "reject_lines" in expected:
        assert [int(line) for _, line, _, _ in rejects] == expected["reject_lines"]
    assert all(source == key for source, _, _, _ in rejects)
    for field in ("encoding", "delimiter"):
        if field in expected:
            assert getattr(processed, field) == expected[field]
    if "columns" in expected:
        assert counts.columns == expected["columns"]
    if "first_row" in expected:
        assert output[1] == expected["first_row"]
    assert counts.values_nulled == expected.get("values_nulled", {})
