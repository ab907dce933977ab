"""Real public CSVs (tests/corpus/real/) through the real preprocessing, against counts made
independently of csvpipe with Python's csv module: a dataset without rules keeps every non-empty
row, and the packaged movies rules read MovieLens' own layout (``genres``, ``(no genres listed)``)."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from pipeline import layout
from pipeline.preprocess import fast
from pipeline.preprocess.handler import preprocess_file, preprocess_reference
from pipeline.preprocess.rules import load_rules
from pipeline.settings import PACKAGED_RULES
from tests.real_files import MOVIELENS, NO_GENRES, SMS, independent_rows


def lf(cell: str) -> str:
    return cell.replace("\r\n", "\n").replace("\r", "\n")


def processed_rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_sms_slice_is_what_the_readme_says() -> None:
    data = SMS.read_bytes()
    with pytest.raises(UnicodeDecodeError):
        data.decode("utf-8")
    rows = independent_rows(SMS, "cp1252")
    assert data.startswith(b"v1,v2,,,\r\n")
    assert len(rows) == 400
    assert sum(count - 1 for count in Counter(map(tuple, rows)).values()) == 7  # repeated rows


@pytest.mark.parametrize("path_function", [preprocess_reference, fast.preprocess], ids=["reference", "fast"])
def test_a_rules_less_windows_1252_export_keeps_every_row(path_function, tmp_path: Path) -> None:
    key = "sms_spam/sms-spam.csv"
    rules = load_rules(PACKAGED_RULES, layout.dataset_for_key(key))
    assert rules.origin == "defaults"
    expected = independent_rows(SMS, "cp1252")

    processed = path_function(SMS, key, rules, tmp_path, 256)

    counts = processed.counts
    assert processed.encoding == "cp1252"
    assert counts.columns == ["v1", "v2", "column_3", "column_4", "column_5"]
    assert (counts.rows_in, counts.rows_out, counts.rows_duplicate, counts.rows_rejected) == (400, 400, 0, 0)
    rows = processed_rows(processed.output)
    assert Counter(row["v1"] for row in rows) == Counter(row[0] for row in expected)
    # Every message, repeated ones too, in order and with its cp1252 characters (£, …) decoded;
    # trimmed, and a line break inside a cell written as LF (one message holds a lone CR).
    assert [row["v2"] for row in rows] == [lf(row[1]).strip() for row in expected]


def movielens_counts() -> tuple[Counter[str], int]:
    """Per-genre counts of the MovieLens slice, lower-cased as the dashboard shows them, and the
    number of movies without genres."""
    genres: Counter[str] = Counter()
    none = 0
    for _, _, listed in independent_rows(MOVIELENS, "utf-8"):
        if listed == NO_GENRES:
            none += 1
            continue
        genres.update({genre.lower() for genre in listed.split("|")})
    return genres, none


def test_movielens_layout_with_the_packaged_movies_rules(tmp_path: Path) -> None:
    rules = load_rules(PACKAGED_RULES, "movies")
    processed = preprocess_file(MOVIELENS, "movies/movielens-movies.csv", rules, tmp_path, 256)

    assert processed.counts.columns == ["movie_id", "title", "genre", "year"]  # genres renamed
    assert processed.counts.rows_out == len(independent_rows(MOVIELENS, "utf-8")) == 492
    rows = processed_rows(processed.output)
    genres, none = movielens_counts()
    assert none == 12
    assert sum(1 for row in rows if row["genre"] == "") == none  # a missing genre, not a genre
    found = Counter(genre for row in rows if row["genre"] for genre in row["genre"].split("|"))
    assert found == genres
    assert NO_GENRES not in found


def test_both_paths_agree_on_the_real_files(tmp_path: Path) -> None:
    for path, key in ((SMS, "sms_spam/sms-spam.csv"), (MOVIELENS, "movies/movielens-movies.csv")):
        rules = load_rules(PACKAGED_RULES, layout.dataset_for_key(key))
        (tmp_path / "a").mkdir()
        (tmp_path / "b").mkdir()
        reference = preprocess_reference(path, key, rules, tmp_path / "a", 256)
        quick = fast.preprocess(path, key, rules, tmp_path / "b", 256)
        assert quick.output.read_bytes() == reference.output.read_bytes()
        assert quick.rejects.read_bytes() == reference.rejects.read_bytes()
        for folder in ("a", "b"):
            for leftover in (tmp_path / folder).iterdir():
                leftover.unlink()
            (tmp_path / folder).rmdir()
