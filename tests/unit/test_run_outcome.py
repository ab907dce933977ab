"""The one rule for a file's outcome across every stage (pipeline.runs.outcome), and the proof
that ``csvpipe run`` (FileProgress), ``csvpipe status`` and the dashboard apply that same rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dashboards import data
from pipeline import runs
from pipeline.follow import FileProgress
from pipeline.ingest.upload import Uploaded
from pipeline.transform.exceptions import conversion_error, input_error, missing_column_hint

OK = {"status": "ok"}
TRANSFORM_FAILED = {
    "status": "failed",
    "outputs": [{"output": "movies_per_year", "rows": 3}],
    "skipped": [{"transform": "movies_per_genre_class", "reason": "upstream transform failed"}],
    "errors": [
        {
            "transform": "genre_classification",
            "error": 'genre_classification.sql, line 9: Binder Error: Referenced column "genre" '
            "not found in FROM clause! (column genre: no such column; table csvpipe.movies has movie_id, "
            "title, genres)",
        },
        {"transform": "boom", "error": "internal error in the transform stage: KeyError: 'x'"},
    ],
}
INVOKE = {"status": "failed", "error_type": "Runtime.ExitError", "error": "exit status 1"}

CASES: list[tuple[str, dict[str, dict[str, Any]], str, str]] = [
    ("queued", {}, "running", ""),
    ("preprocessed", {"preprocess": OK}, "running", ""),
    ("crawled", {"preprocess": OK, "crawl": OK}, "running", ""),
    ("all-ok", {"preprocess": OK, "crawl": OK, "transform": OK}, "ok", ""),
    (
        "preprocess-failed",
        {"preprocess": {"status": "failed", "error": "x.csv: binary content"}},
        "failed at preprocess",
        "x.csv: binary content",
    ),
    (
        "crawl-failed",
        {"preprocess": OK, "crawl": {"status": "failed", "error": "no data"}},
        "failed at crawl",
        "no data",
    ),
    (
        # The preprocessing went well, and the transform did not: the file failed.
        "transform-failed",
        {"preprocess": OK, "crawl": OK, "transform": TRANSFORM_FAILED},
        "failed at transform",
        TRANSFORM_FAILED["errors"][0]["error"]
        + "; boom: internal error in the transform stage: KeyError: 'x'",
    ),
    (
        "transform-failed-without-reason",
        {"preprocess": OK, "crawl": OK, "transform": {"status": "failed"}},
        "failed at transform",
        "the transform stage did not say why",
    ),
    (
        "retrying",
        {"invoke": {**INVOKE, "will_retry": True}},
        "retrying",
        "Runtime.ExitError: exit status 1 (will be retried)",
    ),
    (
        "dead-letter",
        {"invoke": {**INVOKE, "will_retry": False}},
        "failed at invoke",
        "Runtime.ExitError: exit status 1 (sent to the dead-letter queue: see `csvpipe dlq list`)",
    ),
    (
        "retried-then-ok",
        {"invoke": {**INVOKE, "will_retry": True}, "preprocess": OK, "crawl": OK, "transform": OK},
        "ok",
        "",
    ),
]


@pytest.mark.parametrize(("records", "label", "error"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_a_files_outcome_covers_every_stage(records: dict, label: str, error: str) -> None:
    outcome = runs.outcome(records)
    assert (outcome.label, outcome.error) == (label, error)
    assert outcome.failed is label.startswith("failed")


@pytest.mark.parametrize("records", [c[1] for c in CASES], ids=[c[0] for c in CASES])
def test_run_status_and_the_dashboard_agree_on_every_file(records: dict) -> None:
    outcome = runs.outcome(records)
    progress = FileProgress(Uploaded(Path("x.csv"), "raw", "x/x.csv", "e", 1), dict(records))
    assert progress.failed is outcome.failed
    assert (progress.error() is not None) is (outcome.state in ("failed", "retrying"))
    if outcome.failed:
        assert outcome.error in (progress.error() or "")
    assert data.run_status(records) == (outcome.label, outcome.error)


CSV_CONVERSION = (
    "Conversion Error: CSV Error on Line: 3\nOriginal Line: 2B037,b\nError when converting column "
    '"code". Could not convert string "2B037" to \'BIGINT\'\n\nColumn code is being converted as '
    "type BIGINT\n\n  file = /tmp/work/csv-processed/codes/b.csv\n  delimiter = ,\n"
)


def test_a_file_that_does_not_fit_its_tables_types_names_sql_table_column_and_line() -> None:
    assert conversion_error("codes.sql", "csvpipe.codes", CSV_CONVERSION, "codes") == (
        'codes.sql: table csvpipe.codes, column code: value "2B037" does not fit the catalog\'s type '
        "bigint (line 3 of b.csv); `csvpipe crawl codes` widens the column (with "
        "crawler_schema_change = update), or pin its type in the dataset's rules ([columns.code] type = ...)"
    )
    assert input_error("codes.sql", "csvpipe.codes", CSV_CONVERSION, "codes") == conversion_error(
        "codes.sql", "csvpipe.codes", CSV_CONVERSION, "codes"
    )


def test_any_other_input_failure_is_one_line_naming_sql_and_table() -> None:
    assert conversion_error("a.sql", "csvpipe.t", "IO Error: disk\nmore", "t") is None
    assert input_error("a.sql", "csvpipe.t", "IO Error: disk\nmore", "t") == (
        "a.sql: cannot read table csvpipe.t: IO Error: disk"
    )


def test_a_missing_column_names_the_tables_and_their_columns() -> None:
    text = 'Binder Error: Referenced column "genre" not found in FROM clause!\nCandidate bindings: "genres"'
    tables = {"csvpipe.movies": ["movie_id", "title", "genres"]}
    assert missing_column_hint(text, tables) == (
        " (column genre: no such column; table csvpipe.movies has movie_id, title, genres)"
    )
    assert missing_column_hint(text, {}) == ""
    assert missing_column_hint(text, {"csvpipe.movies": ["movie_id", "genre"]}) == ""
    assert missing_column_hint("Parser Error: syntax error at or near FROM", tables) == ""
