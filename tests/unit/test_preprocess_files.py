"""Whole files through the preprocessing steps (decode, dialect, clean, deduplicate), on disk:
encodings, delimiters, line endings, gzip, NA tokens, duplicates, genres and years.

Every case checks that rows balance: in = out + rejected + empty + duplicate.
"""

from __future__ import annotations

import csv
import gzip
from pathlib import Path

import pytest

from pipeline.preprocess.exceptions import UnreadableFile
from pipeline.preprocess.handler import Processed, clean_file, preprocess_file
from pipeline.preprocess.rules import Rules, load_rules
from pipeline.settings import PACKAGED_RULES

# These files are movies (the raw key movies/x.csv): the packaged movies rules apply, as in the
# handler. What a dataset without rules gets is tested in test_rules_and_names.py.
MOVIE_RULES = load_rules(PACKAGED_RULES, "movies")
MOVIES = "movieId,title,genres\n1,Toy Story (1995),Adventure|Animation\n2,Heat (1995),Action\n"


def run(tmp_path: Path, data: bytes, key: str = "movies/x.csv", rules: Rules | None = None):
    raw = tmp_path / "raw"
    raw.write_bytes(gzip.compress(data) if key.endswith(".gz") else data)
    processed = preprocess_file(raw, key, rules or MOVIE_RULES, tmp_path, memory_mb=256)
    assert processed.counts.balanced()
    with processed.output.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    return processed, rows


@pytest.mark.parametrize(
    ("name", "data", "encoding", "delimiter"),
    [
        ("utf8", MOVIES.encode(), "utf-8", ","),
        ("utf8-bom", b"\xef\xbb\xbf" + MOVIES.encode(), "utf-8", ","),
        ("semicolon", MOVIES.replace(",", ";").encode(), "utf-8", ";"),
        ("tab", MOVIES.replace(",", "\t").encode(), "utf-8", "\t"),
        (
            "pipe-with-other-genre-separator",
            MOVIES.replace(",", "|").replace("e|A", "e;A").encode(),
            "utf-8",
            "|",
        ),
        ("crlf", MOVIES.replace("\n", "\r\n").encode(), "utf-8", ","),
        ("cr-only", MOVIES.replace("\n", "\r").encode(), "utf-8", ","),
    ],
)
def test_dialects(tmp_path: Path, name: str, data: bytes, encoding: str, delimiter: str) -> None:
    cleaned, rows = run(tmp_path, data)
    assert (cleaned.encoding, cleaned.delimiter) == (encoding, delimiter)
    assert rows[0] == ["movie_id", "title", "genre", "year"]  # MovieLens' genres renamed
    assert rows[2] == ["2", "Heat (1995)", "action", "1995"]
    assert cleaned.counts.rows_in == 2 and cleaned.counts.rows_out == 2


def test_windows_1252_is_converted_to_utf8(tmp_path: Path) -> None:
    data = "id,title\n1,Cité des enfants perdus \u2013 La (1995)\n".encode("cp1252")
    cleaned, rows = run(tmp_path, data)
    assert cleaned.encoding == "cp1252"
    assert rows[1] == ["1", "Cité des enfants perdus \u2013 La (1995)", "1995"]


def test_latin1_only_bytes_still_decode(tmp_path: Path) -> None:
    cleaned, rows = run(tmp_path, b"id,name\n1,caf\xe9\x81\n")  # 0x81 is undefined in cp1252
    assert cleaned.encoding == "latin-1"
    assert rows[1] == ["1", "caf\xe9\x81"]


def test_utf8_deep_in_a_file_after_a_large_ascii_start(tmp_path: Path) -> None:
    body = "".join(f"{i},plain\n" for i in range(5000)) + "5000,caf\xe9\n"
    cleaned, rows = run(tmp_path, ("id,name\n" + body).encode("cp1252"))
    assert cleaned.encoding == "cp1252"  # the whole file is decoded, not just a sample
    assert rows[-1] == ["5000", "café"]


def test_gzip(tmp_path: Path) -> None:
    _, rows = run(tmp_path, MOVIES.encode(), key="movies/x.csv.gz")
    assert rows[1] == ["1", "Toy Story (1995)", "adventure|animation", "1995"]


def test_quoted_delimiters_quotes_and_newlines(tmp_path: Path) -> None:
    data = b'id,title,genre\n1,"City, The (1995)",Drama\n2,"Say ""hi"" (2001)",Comedy\n3,"two\nlines",Crime\n'
    cleaned, rows = run(tmp_path, data)
    assert rows[1:] == [
        ["1", "City, The (1995)", "drama", "1995"],
        ["2", 'Say "hi" (2001)', "comedy", "2001"],
        ["3", "two\nlines", "crime", ""],
    ]
    assert cleaned.counts.rows_out == 3


def test_na_tokens_empty_rows_and_duplicates(tmp_path: Path) -> None:
    data = (
        b"id,title,genre\n"
        b"1,Heat (1995),Action\n"
        b"NA,-,null\n"  # only NA tokens: an empty row
        b"\n"
        b" 1 , Heat (1995) , ACTION \n"  # the same row after cleaning: a duplicate
        b"2,N/A,Drama\n"
        b"3,Up (2009)\n"  # one field short: rejected
    )
    cleaned, rows = run(tmp_path, data)
    counts = cleaned.counts
    assert (
        counts.rows_in,
        counts.rows_out,
        counts.rows_rejected,
        counts.rows_empty,
        counts.rows_duplicate,
    ) == (6, 2, 1, 2, 1)
    assert rows[1:] == [["1", "Heat (1995)", "action", "1995"], ["2", "", "drama", ""]]
    rejects = (tmp_path / "rejects.csv").read_text().splitlines()
    assert rejects[1] == 'movies/x.csv,7,"expected 3 fields, found 2","3,Up (2009)"'


def test_genre_casing_never_splits_counts(tmp_path: Path) -> None:
    data = b"id,genres\n1,Action|COMEDY\n2,action | Comedy|action\n3,Drama\n"
    _, rows = run(tmp_path, data)
    assert [row[1] for row in rows[1:]] == ["action|comedy", "action|comedy", "drama"]


def test_rules_can_turn_off_dedupe_and_year(tmp_path: Path) -> None:
    data = b"id,title\n1,Heat (1995)\n1,Heat (1995)\n"
    cleaned, rows = run(tmp_path, data, rules=Rules(dedupe=False, year_from=None))
    assert rows == [["id", "title"], ["1", "Heat (1995)"], ["1", "Heat (1995)"]]
    assert cleaned.counts.rows_duplicate == 0


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "the file is empty"),
        (b"\n\n  \n", "the file is empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "binary content"),
    ],
)
def test_whole_file_failures(tmp_path: Path, data: bytes, reason: str) -> None:
    raw = tmp_path / "raw"
    raw.write_bytes(data)
    with pytest.raises(UnreadableFile, match=reason):
        clean_file(raw, tmp_path / "n.csv", tmp_path / "r.csv", "movies/x.csv", Rules())


def test_cleaned_is_reported(tmp_path: Path) -> None:
    cleaned, _ = run(tmp_path, MOVIES.encode())
    assert isinstance(cleaned, Processed)
    assert cleaned.counts.columns == ["movie_id", "title", "genre", "year"]
