"""Rules that lose nothing by default, column names as users have them ([rename]), which rules
applied, and the edge cases of real files (a header alone, a stray NUL): on both cleaning paths."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.preprocess import fast
from pipeline.preprocess.exceptions import UnreadableFile
from pipeline.preprocess.handler import preprocess_reference
from pipeline.preprocess.rules import ColumnRule, Rules, load_rules, rules_origin
from pipeline.preprocess.text import looks_binary
from pipeline.settings import PACKAGED_RULES

PATHS = pytest.mark.parametrize(
    "path_function", [preprocess_reference, fast.preprocess], ids=["reference", "fast"]
)


def run(path_function, tmp_path: Path, data: bytes, rules: Rules, key: str = "sales/x.csv"):
    raw = tmp_path / "raw.csv"
    raw.write_bytes(data)
    work = tmp_path / "work"
    work.mkdir()
    processed = path_function(raw, key, rules, work, 256)
    assert processed.counts.balanced()
    with processed.output.open(encoding="utf-8", newline="") as handle:
        return processed, list(csv.reader(handle))


@PATHS
def test_the_defaults_keep_repeated_rows_and_leave_cells_as_they_are(path_function, tmp_path: Path) -> None:
    data = b"id,title,genres\n1,Heat (1995),Action|Crime\n\n1,Heat (1995),Action|Crime\n2,NA,-\n"
    processed, rows = run(path_function, tmp_path, data, Rules())
    assert rows == [
        ["id", "title", "genres"],  # no year column added, genres not renamed
        ["1", "Heat (1995)", "Action|Crime"],  # not split, not lower-cased
        ["1", "Heat (1995)", "Action|Crime"],  # a repeated row is a row
        ["2", "", ""],  # NA tokens are still no value
    ]
    counts = processed.counts
    assert (counts.rows_in, counts.rows_out, counts.rows_empty, counts.rows_duplicate) == (4, 3, 1, 0)


@PATHS
def test_rename_makes_a_files_column_the_datasets(path_function, tmp_path: Path) -> None:
    rules = load_rules(PACKAGED_RULES, "movies")
    data = b"movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n2,Heat (1995),(no genres listed)\n"
    _, rows = run(path_function, tmp_path, data, rules, key="movies/ml.csv")
    assert rows == [
        ["movie_id", "title", "genre", "year"],
        ["1", "Toy Story (1995)", "adventure|animation", "1995"],
        ["2", "Heat (1995)", "", "1995"],
    ]


@PATHS
def test_a_rename_onto_an_existing_column_fails_the_file_with_one_line(path_function, tmp_path: Path) -> None:
    rules = load_rules(PACKAGED_RULES, "movies")
    with pytest.raises(UnreadableFile) as info:
        run(path_function, tmp_path, b"movieId,genre,Genres\n1,Drama,Comedy\n", rules, key="movies/x.csv")
    assert str(info.value) == (
        "movies/x.csv: columns genre and genres would both be named 'genre' "
        '(rule [rename] genres = "genre" of movies.toml (packaged)); remove one of them from the file '
        "or change the rule"
    )


def test_rename_names_are_normalised_and_other_rules_follow_them(tmp_path: Path) -> None:
    (tmp_path / "films.toml").write_text(
        'multi_value_columns = ["Genres"]\nyear_from = "Name"\n'
        '[rename]\n"Genres" = "Genre"\n"Release Date" = "released"\n2024 = "y2024"\n'
        'same = "Same"\nname = "title"\n'
        '[columns.genres]\ntype = "string"\n[columns."Release Date"]\ntype = "date"\n'
    )
    rules = load_rules(tmp_path, "films")
    assert rules.rename == (
        ("genres", "genre"),
        ("release_date", "released"),
        ("c_2024", "y2024"),
        ("name", "title"),
    )
    assert rules.multi_value_columns == ("genre",)
    assert rules.year_from == "title"
    assert rules.columns == (ColumnRule("genre"), ColumnRule("released", "date"))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[rename]\ngenres = 1\n", '[rename] genres must be a name in quotes, like genres = "name"'),
        ('[rename]\ngenres = "!!"\n', "[rename] genres = '!!': not a usable column name"),
        ('[rename]\nGenres = "genre"\ngenres = "g"\n', "[rename] names column 'genres' twice"),
        ('[rename]\na = "b"\nb = "c"\n', "[rename] 'b' is both renamed and a new name"),
        ('rename = "genre"\n', "rule 'rename' must be dict"),
    ],
)
def test_bad_rename_rules_are_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "films.toml").write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        load_rules(tmp_path, "films")
    assert str(tmp_path / "films.toml") in str(info.value)


def test_the_rules_that_applied_are_named(tmp_path: Path) -> None:
    assert rules_origin(PACKAGED_RULES, "movies") == "movies.toml (packaged)"
    assert rules_origin(PACKAGED_RULES, "sales") == "defaults"
    assert rules_origin(None, "movies") == "defaults"
    (tmp_path / "sales.toml").write_text("dedupe = true\n")
    assert rules_origin(tmp_path, "sales") == "sales.toml (rules_dir)"
    assert load_rules(tmp_path, "sales").origin == "sales.toml (rules_dir)"
    assert load_rules(tmp_path, "movies").origin == "defaults"  # a rules_dir replaces the packaged one


@PATHS
def test_a_header_alone_is_a_valid_empty_file(path_function, tmp_path: Path) -> None:
    processed, rows = run(path_function, tmp_path, b"Order Id,Amount\r\n", Rules())
    assert rows == [["order_id", "amount"]]
    assert (processed.counts.rows_in, processed.counts.rows_out) == (0, 0)


def test_a_stray_nul_rejects_its_record_only(tmp_path: Path) -> None:
    data = b"id,note\n" + b"".join(b"%d,plain text\n" % i for i in range(300)) + b"300,bro\x00ken\n301,fine\n"
    processed, rows = run(preprocess_reference, tmp_path, data, Rules())
    assert len(rows) - 1 == processed.counts.rows_out == 301
    with processed.rejects.open(encoding="utf-8", newline="") as handle:
        (reject,) = list(csv.reader(handle))[1:]
    assert reject == [
        "sales/x.csv",
        "302",
        "a NUL byte in column note (binary data in a text file)",
        "300,bro\\x00ken",
    ]


@pytest.mark.parametrize(
    ("head", "binary"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", True),
        (b"PK\x03\x04\x14\x00\x06\x00", True),  # an .xlsx saved as .csv
        ("id,name\n1,x\n".encode("utf-16-le"), True),  # NUL every other byte
        (b"\x00\x01\x02binary", True),
        (b"id,name\n1,a\x00b\n" + b"2,plain\n" * 20, False),  # one stray NUL
        (b"id,name\n1,plain\n", False),
    ],
)
def test_binary_content_is_told_from_a_stray_nul(head: bytes, binary: bool) -> None:
    assert looks_binary(head) is binary
