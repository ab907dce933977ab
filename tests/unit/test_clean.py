"""Unit tests of pipeline.preprocess.clean: cleaning rules on strings, exact output texts.

Every successful case checks the row accounting: rows_in == rows_out + rows_rejected + rows_empty.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import pytest

from pipeline.errors import PreprocessError
from pipeline.preprocess.clean import REJECT_COLUMNS, CleanCounts, clean_csv, normalise_header
from pipeline.preprocess.exceptions import UnreadableFile
from pipeline.preprocess.rules import ColumnRule, Rules

KEY = "movies/movies.csv"
REJECTS_HEADER = "source_key,line_number,reason,raw_text\n"


@dataclass
class Cleaned:
    counts: CleanCounts
    out: str
    rejects: str


def clean(text: str, key: str = KEY) -> Cleaned:
    # newline="" as the handler opens files: the csv module sees the line endings itself.
    source, out, rejects = io.StringIO(text, newline=""), io.StringIO(), io.StringIO()
    counts = clean_csv(source, out, rejects, key)
    return Cleaned(counts, out.getvalue(), rejects.getvalue())


def assert_balanced(counts: CleanCounts) -> None:
    assert counts.rows_in == counts.rows_out + counts.rows_rejected + counts.rows_empty
    assert counts.balanced()


# (id, input, cleaned output, rejects after the header line, (rows_in, out, rejected, empty))
CASES = [
    ("simple", "a,b\n1,2\n", "a,b\n1,2\n", "", (1, 1, 0, 0)),
    ("no-final-newline", "a,b\n1,2", "a,b\n1,2\n", "", (1, 1, 0, 0)),
    ("crlf", "a,b\r\n1,2\r\n3,4\r\n", "a,b\n1,2\n3,4\n", "", (2, 2, 0, 0)),
    ("trim-cells-and-header", " A , B \n 1 ,  two words  \n", "a,b\n1,two words\n", "", (1, 1, 0, 0)),
    ("trim-inside-quotes", 'a,b\n" 1 ","\t2\t"\n', "a,b\n1,2\n", "", (1, 1, 0, 0)),
    (
        "quoted-comma",
        'title,year\n"Toy Story, The",1995\n',
        'title,year\n"Toy Story, The",1995\n',
        "",
        (1, 1, 0, 0),
    ),
    ("quoted-quote", 'a,b\n"say ""hi""",2\n', 'a,b\n"say ""hi""",2\n', "", (1, 1, 0, 0)),
    ("quoted-newline", 'a,b\n"line1\nline2",2\n3,4\n', 'a,b\n"line1\nline2",2\n3,4\n', "", (2, 2, 0, 0)),
    ("empty-lines", "a,b\n\n1,2\n\n\n3,4\n\n", "a,b\n1,2\n3,4\n", "", (6, 2, 0, 4)),
    ("blank-cells-row", "a,b\n,\n1,2\n  ,  \n", "a,b\n1,2\n", "", (3, 1, 0, 2)),
    ("quoted-empty-row", 'a,b\n"",""\n1,2\n', "a,b\n1,2\n", "", (2, 1, 0, 1)),
    ("partly-empty-row-kept", "a,b\n1,\n,2\n", "a,b\n1,\n,2\n", "", (2, 2, 0, 0)),
    ("blank-lines-before-header", "\n\na,b\n1,2\n", "a,b\n1,2\n", "", (1, 1, 0, 0)),
    ("single-column", "a\n1\n\n2\n", "a\n1\n2\n", "", (3, 2, 0, 1)),
    (
        "too-few-and-too-many",
        "a,b\n1\n1,2,3\n4,5\n",
        "a,b\n4,5\n",
        f'{KEY},2,"expected 2 fields, found 1",1\n{KEY},3,"expected 2 fields, found 3","1,2,3"\n',
        (3, 1, 2, 0),
    ),
    (
        "trailing-comma",
        "a,b\n1,2,\n3,4\n",
        "a,b\n3,4\n",
        f'{KEY},2,"expected 2 fields, found 3","1,2,"\n',
        (2, 1, 1, 0),
    ),
    (
        "reject-keeps-raw-untrimmed-fields",
        'a,b\n x ,"y, z", w \n1,2\n',
        "a,b\n1,2\n",
        f'{KEY},2,"expected 2 fields, found 3"," x ,y, z, w "\n',
        (2, 1, 1, 0),
    ),
    (
        "line-number-counts-blank-and-leading-lines",
        "\n\na,b\n\n1\n2,3\n",
        "a,b\n2,3\n",
        f'{KEY},5,"expected 2 fields, found 1",1\n',
        (3, 1, 1, 1),
    ),
    (
        "line-number-after-quoted-newline",
        'a,b\n"x\ny",1\n2\n',
        'a,b\n"x\ny",1\n',
        f'{KEY},4,"expected 2 fields, found 1",2\n',
        (2, 1, 1, 0),
    ),
    (
        "all-rows-rejected-is-not-an-error",
        "a,b\n1\n2\n",
        "a,b\n",
        f'{KEY},2,"expected 2 fields, found 1",1\n{KEY},3,"expected 2 fields, found 1",2\n',
        (2, 0, 2, 0),
    ),
    (
        "field-larger-than-csv-limit",
        "a,b\n1,2\n" + "x" * (csv.field_size_limit() + 1) + ",3\n4,5\n",
        "a,b\n1,2\n4,5\n",
        f"{KEY},3,unparseable CSV: field larger than field limit ({csv.field_size_limit()}),\n",
        (3, 2, 1, 0),
    ),
]


@pytest.mark.parametrize(
    ("text", "out", "rejects", "counts"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_clean_csv(text: str, out: str, rejects: str, counts: tuple[int, int, int, int]) -> None:
    result = clean(text)
    assert result.out == out
    assert result.rejects == REJECTS_HEADER + rejects
    c = result.counts
    assert (c.rows_in, c.rows_out, c.rows_rejected, c.rows_empty) == counts
    assert_balanced(c)
    # The cleaned output is itself a rectangular CSV with the normalised header.
    rows = list(csv.reader(io.StringIO(result.out, newline="")))
    assert rows[0] == c.columns
    assert len(rows) - 1 == c.rows_out
    assert all(len(row) == len(c.columns) for row in rows)
    # Every reject row has the four reject columns and names the source key.
    reject_rows = list(csv.reader(io.StringIO(result.rejects, newline="")))
    assert tuple(reject_rows[0]) == REJECT_COLUMNS
    assert len(reject_rows) - 1 == c.rows_rejected
    assert all(len(row) == 4 and row[0] == KEY and row[1].isdigit() for row in reject_rows[1:])


@pytest.mark.parametrize(
    ("header_line", "columns"),
    [
        # A title column and no year column: by default no year column is added (rules may ask).
        ("movieId,Title,Release Date", ["movie_id", "title", "release_date"]),
        (" Movie Id , movieId ,MOVIE_ID", ["movie_id", "movie_id_2", "movie_id_3"]),
        ("a,,b,", ["a", "column_2", "b", "column_4"]),
        ("!!!,???", ["column_1", "column_2"]),
        ("1st,2024 Sales,x", ["c_1st", "c_2024_sales", "x"]),
        ("x,x_2,x", ["x", "x_2", "x_3"]),
        ("a_2,a,a", ["a_2", "a", "a_3"]),
        ('"Title, Original",year', ["title_original", "year"]),
        ("\ufeffid,name", ["id", "name"]),
    ],
)
def test_header_normalisation(header_line: str, columns: list[str]) -> None:
    width = len(columns)
    data_row = ",".join(str(i) for i in range(width))
    result = clean(f"{header_line}\n{data_row}\n")
    assert result.counts.columns == columns
    assert result.out.splitlines()[0] == ",".join(columns)
    assert len(set(columns)) == width
    assert_balanced(result.counts)


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["Movie Id", "movieId", ""], ["movie_id", "movie_id_2", "column_3"]),
        ([], []),
        (["", "", ""], ["column_1", "column_2", "column_3"]),
        (["column_2", ""], ["column_2", "column_2_2"]),
        (["9"], ["c_9"]),
    ],
)
def test_normalise_header(names: list[str], expected: list[str]) -> None:
    assert normalise_header(names) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", f"{KEY}: the file is empty (no header, no rows)"),
        ("\n\n\n", f"{KEY}: the file is empty (no header, no rows)"),
        (",,\n ,\n", f"{KEY}: the file is empty (no header, no rows)"),
        (
            "x" * (csv.field_size_limit() + 1) + "\n1\n",
            f"{KEY}: not a readable CSV header (field larger than field limit ({csv.field_size_limit()}))",
        ),
    ],
    ids=[
        "empty",
        "blank-lines",
        "blank-cells",
        "header-too-large",
    ],
)
def test_unreadable_file(text: str, message: str) -> None:
    with pytest.raises(UnreadableFile) as info:
        clean(text)
    assert str(info.value) == message
    assert isinstance(info.value, PreprocessError)
    assert info.value.retryable is False


@pytest.mark.parametrize(
    ("text", "empty"),
    [("a,b\n", 0), ("a,b", 0), ("a,b\n\n\n", 2), ("a,b\n,\n  ,  \n", 2)],
    ids=["header-only", "header-no-newline", "header-blank-lines", "header-blank-rows"],
)
def test_a_header_without_rows_is_a_valid_empty_file(text: str, empty: int) -> None:
    result = clean(text)
    assert result.out == "a,b\n"  # the header alone: the table is created or kept
    assert result.rejects == REJECTS_HEADER
    assert (result.counts.rows_in, result.counts.rows_out, result.counts.rows_empty) == (empty, 0, empty)
    assert_balanced(result.counts)


def test_source_key_is_written_as_given() -> None:
    key = "movies/Top Rated, 2024.csv"
    result = clean("a,b\n1\n2,3\n", key=key)
    assert result.rejects == REJECTS_HEADER + f'"{key}",2,"expected 2 fields, found 1",1\n'
    assert_balanced(result.counts)


def test_line_number_of_multiline_rejected_record_is_where_it_starts() -> None:
    result = clean('a,b\n"line1\nline2"\n3,4\n')
    assert_balanced(result.counts)
    assert result.rejects == REJECTS_HEADER + (
        f'{KEY},2,"expected 2 fields, found 1 in a record spanning lines 2-3 (an unbalanced quote?)",'
        '"line1\nline2"\n'
    )


TYPED = Rules(
    columns=(
        ColumnRule("id", "int"),
        ColumnRule("price", "decimal", "null"),
        ColumnRule("day", "date"),
        ColumnRule("paid", "bool", "null"),
    )
)


def test_typed_columns_write_canonical_values() -> None:
    text = "id,price,day,paid\n+01,1.50,25.12.1995,Yes\n2,,1995-12-26,no\n"
    out, rejects = io.StringIO(), io.StringIO()
    counts = clean_csv(io.StringIO(text, newline=""), out, rejects, KEY, TYPED)
    assert out.getvalue() == "id,price,day,paid\n1,1.50,1995-12-25,true\n2,,1995-12-26,false\n"
    assert (counts.rows_in, counts.rows_out, counts.rows_rejected) == (2, 2, 0)
    assert counts.values_nulled == {}


def test_type_rejects_name_every_failing_column_and_nulls_are_counted() -> None:
    text = "id,price,day,paid\nx1,1.5,someday,yes\n2,cheap,1995-12-26,perhaps\n3,2,1995-02-30,no\n"
    out, rejects = io.StringIO(), io.StringIO()
    counts = clean_csv(io.StringIO(text, newline=""), out, rejects, KEY, TYPED)
    assert out.getvalue() == "id,price,day,paid\n2,,1995-12-26,\n"
    rows = list(csv.reader(io.StringIO(rejects.getvalue())))[1:]
    assert [(line, raw) for _, line, _, raw in rows] == [
        ("2", "x1,1.5,someday,yes"),
        ("4", "3,2,1995-02-30,no"),
    ]
    assert rows[0][2] == (
        "column id: 'x1' is not an integer; column day: 'someday' is not a date in the accepted formats "
        "(%Y-%m-%d, %Y/%m/%d, %Y%m%d, %d.%m.%Y, %d %b %Y, %d %B %Y, %d-%b-%Y, %b %d %Y, %b %d, %Y, "
        "%B %d %Y, %B %d, %Y)"
    )
    # Nulled cells of rejected rows are not counted: only the kept row's two cells.
    assert counts.values_nulled == {"price": 1, "paid": 1}
    assert (counts.rows_in, counts.rows_out, counts.rows_rejected) == (3, 1, 2)
    assert_balanced(counts)


def test_na_tokens_are_null_before_typing() -> None:
    out, rejects = io.StringIO(), io.StringIO()
    text = "id,day\nNA,1995-12-25\n1,-\n"
    counts = clean_csv(io.StringIO(text, newline=""), out, rejects, KEY, TYPED)
    assert out.getvalue() == "id,day\n,1995-12-25\n1,\n" and counts.rows_rejected == 0


def test_line_breaks_inside_cells_become_lf_so_the_output_stays_one_record_per_row() -> None:
    text = 'a,b\n"one\rtwo","three\r\nfour"\n"x\ry"\n'
    out, rejects = io.StringIO(), io.StringIO()
    counts = clean_csv(io.StringIO(text, newline=""), out, rejects, KEY)
    assert list(csv.reader(io.StringIO(out.getvalue(), newline=""))) == [
        ["a", "b"],
        ["one\ntwo", "three\nfour"],
    ]
    (reject,) = list(csv.reader(io.StringIO(rejects.getvalue(), newline="")))[1:]
    assert reject[3] == "x\ny"
    assert (counts.rows_out, counts.rows_rejected) == (1, 1)
