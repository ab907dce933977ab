"""Delimiter detection and the per-dataset rules file, table-driven."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from pipeline.errors import ConfigError
from pipeline.preprocess.clean import normalise_multi_value, year_from_title
from pipeline.preprocess.dialect import detect_delimiter, initial_encoding
from pipeline.preprocess.rules import ColumnRule, Rules, load_rules


@pytest.mark.parametrize(
    ("sample", "delimiter"),
    [
        ("a,b,c\n1,2,3\n", ","),
        ("a;b;c\n1;2;3\n", ";"),
        ("a\tb\tc\n1\t2\t3\n", "\t"),
        ("a|b|c\n1|2|3\n", "|"),
        ('title;genres\n"Heat, The";Action|Crime\n"Up, a";Drama|Comedy\n', ";"),
        ('a,b\n"x;y;z",1\n"p;q;r",2\n', ","),
        ("single\nvalue\n", ","),
        ("a,b\n1,2\n3,4\n5,", ","),  # the cut last line does not count
        ("", ","),
    ],
)
def test_detect_delimiter(sample: str, delimiter: str) -> None:
    assert detect_delimiter(sample) == delimiter


@pytest.mark.parametrize(
    ("head", "encoding"), [(b"\xef\xbb\xbfa,b", "utf-8-sig"), (b"a,b", "utf-8"), (b"", "utf-8")]
)
def test_initial_encoding(head: bytes, encoding: str) -> None:
    assert initial_encoding(head) == encoding


@pytest.mark.parametrize(
    ("title", "year"),
    [
        ("Toy Story (1995)", "1995"),
        ("City of Lost Children, The (Cité des enfants perdus, La) (1995)", "1995"),
        ("Heat (1995) ", "1995"),
        ("1984 (1984)", "1984"),
        ("Heat", None),
        ("Heat (95)", None),
        ("(1995) Heat", None),
        ("", None),
        (None, None),
    ],
)
def test_year_from_title(title: str | None, year: str | None) -> None:
    assert year_from_title(title) == year


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Action", "action"),
        ("Action|Comedy", "action|comedy"),
        (" ACTION | comedy |Action", "action|comedy"),
        ("Sci-Fi|Film-Noir", "sci-fi|film-noir"),
        ("|", None),
        ("", None),
    ],
)
def test_normalise_multi_value(value: str, expected: str | None) -> None:
    assert normalise_multi_value(value, "|") == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("(no genres listed)", None),
        ("Drama|(No Genres Listed)", "drama"),
        ("(NO GENRES LISTED)|(no genres listed)", None),
        ("Sci-Fi|-|N/A", "sci-fi"),
    ],
)
def test_na_tokens_among_multiple_values_are_no_value(value: str, expected: str | None) -> None:
    na = Rules(na_tokens=("-", "N/A", "(no genres listed)")).na_set
    assert normalise_multi_value(value, "|", na) == expected


def test_rules_default_when_no_file(tmp_path: Path) -> None:
    assert load_rules(tmp_path, "sales") == Rules()
    assert load_rules(None, "sales") == Rules()


def test_rules_file_overrides_defaults(tmp_path: Path) -> None:
    (tmp_path / "sales.toml").write_text('na_tokens = ["?", "n.a."]\ndedupe = false\n')
    rules = load_rules(tmp_path, "sales")
    assert rules.na_tokens == ("?", "n.a.") and rules.dedupe is False
    assert rules.na_set == frozenset({"?", "n.a."})
    assert rules.multi_value_columns == Rules().multi_value_columns


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("colour = 1\n", "unknown rule(s) colour"),
        ("dedupe = 'yes'\n", "rule 'dedupe' must be bool"),
        ("na_tokens = [1, 2]\n", "rule 'na_tokens' must be a list of strings"),
        ("multi_value_separator = ''\n", "must not be empty"),
        ("dedupe = \n", "not valid TOML"),
        ("columns = 1\n", "rule 'columns' must be dict"),
        ("[columns.price]\ntype = 'money'\n", "[columns.price]: type must be one of string, int"),
        ("[columns.price]\ntype = 'int'\non_error = 'skip'\n", "on_error must be 'reject' or 'null'"),
        ("[columns.price]\ntype = 'int'\nformat = 'x'\n", "unknown key(s) format"),
        ("[columns.day]\ntype = 'date'\nformats = ['dd/mm/yyyy']\n", "formats must be a list of strptime"),
        ("[columns.price]\ntype = 'int'\nformats = ['%Y']\n", "formats applies to type 'date' only"),
        ("[columns.'!!']\ntype = 'int'\n", "not a usable column name"),
    ],
)
def test_bad_rules_file_is_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "sales.toml").write_text(text)
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        load_rules(tmp_path, "sales")
    assert str(tmp_path / "sales.toml") in str(info.value)


def test_column_rules_use_processed_names(tmp_path: Path) -> None:
    (tmp_path / "sales.toml").write_text(
        "[columns.'Order Date']\ntype = 'date'\nformats = ['%d/%m/%Y']\n"
        "[columns.paid]\ntype = 'bool'\non_error = 'null'\n"
    )
    assert load_rules(tmp_path, "sales").columns == (
        ColumnRule("order_date", "date", "reject", ("%d/%m/%Y",)),
        ColumnRule("paid", "bool", "null"),
    )


def test_packaged_movies_rules_state_every_movie_specific_rule() -> None:
    from pipeline.settings import PACKAGED_RULES

    movies = load_rules(PACKAGED_RULES, "movies")
    assert movies == Rules(
        na_tokens=(*Rules().na_tokens, "(no genres listed)"),
        dedupe=True,
        multi_value_columns=("genre",),
        year_from="title",
        rename=(("genres", "genre"),),
        columns=(ColumnRule("movie_id", "int", "reject"), ColumnRule("year", "int", "null")),
    )
    assert movies.origin == "movies.toml (packaged)"


def test_defaults_drop_nothing_a_user_did_not_ask_for() -> None:
    defaults = Rules()
    assert defaults.dedupe is False
    assert defaults.multi_value_columns == () and defaults.year_from is None
    assert defaults.rename == () and defaults.columns == ()
    assert defaults.origin == "defaults"
