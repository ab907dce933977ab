"""The fast path against the reference path: the same file through both must give the same
counts, the same processed CSV and the same rejects, byte for byte, or fail with the same reason.

The reference (``handler.preprocess_reference``: the per-record Python rules, then DuckDB's
deduplication) is the definition; the fast path (``fast.preprocess``) is what the Lambda runs.
Inputs: every file of the malformed-input corpus, hypothesis-generated documents (the strategies
of test_accounting_property plus richer ones: quotes over several lines, Unicode whitespace and
digits, case-folding corner cases, typed cells in every spelling), in several encodings and line
ends, under several rule sets.
"""

from __future__ import annotations

import codecs
import gzip
import sys
from dataclasses import dataclass
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from pipeline.preprocess import fast
from pipeline.preprocess.exceptions import FastPathDeclined, UnreadableFile
from pipeline.preprocess.fastsql import WHITESPACE
from pipeline.preprocess.handler import preprocess_file, preprocess_reference
from pipeline.preprocess.rules import ColumnRule, Rules, load_rules
from pipeline.settings import PACKAGED_RULES
from tests.unit.strategies import RULES as ACCOUNTING_RULES
from tests.unit.strategies import documents

CORPUS = Path(__file__).parents[1] / "corpus" / "files"
MOVIES = load_rules(PACKAGED_RULES, "movies")


@dataclass(frozen=True)
class Result:
    """Everything a path produces for one file, comparable with ==."""

    counts: tuple[Any, ...] | None = None
    encoding: str = ""
    delimiter: str = ""
    output: bytes = b""
    rejects: bytes = b""
    failure: str | None = None


def run(path_function: Any, data: bytes, key: str, rules: Rules, memory_mb: int = 128) -> Result:
    with TemporaryDirectory() as tmp:
        raw = Path(tmp, "raw")
        raw.write_bytes(gzip.compress(data, mtime=0) if key.endswith(".gz") else data)
        work = Path(tmp, "work")
        work.mkdir()
        try:
            processed = path_function(raw, key, rules, work, memory_mb)
        except UnreadableFile as exc:
            return Result(failure=str(exc))
        c = processed.counts
        assert c.balanced()
        return Result(
            counts=(
                c.rows_in,
                c.rows_out,
                c.rows_rejected,
                c.rows_empty,
                c.rows_duplicate,
                tuple(c.columns),
                tuple(c.values_nulled.items()),  # in the order the rows first meet them
            ),
            encoding=processed.encoding,
            delimiter=processed.delimiter,
            output=processed.output.read_bytes(),
            rejects=processed.rejects.read_bytes(),
        )


def same(data: bytes, rules: Rules, key: str = "movies/x.csv", *, may_decline: bool = False) -> Result:
    """Both paths on ``data``; asserts they agree and returns the result."""
    reference = run(preprocess_reference, data, key, rules)
    try:
        quick = run(fast.preprocess, data, key, rules)
    except FastPathDeclined:
        assert may_decline, "the fast path declined a file it should handle"
        return reference
    assert quick == reference
    return quick


@pytest.mark.parametrize("name", sorted(path.name for path in CORPUS.iterdir()))
def test_corpus_file_gives_the_same_result_on_both_paths(name: str) -> None:
    data = (CORPUS / name).read_bytes()
    # The fast path steps aside for a NUL character (its record is the reference's to reject).
    same(data, MOVIES, key=f"movies/{name}", may_decline=b"\x00" in data)


def test_whitespace_is_what_str_strip_removes() -> None:
    assert "".join(c for c in map(chr, range(sys.maxunicode + 1)) if c.isspace()) == WHITESPACE


# Cells that exercise every rule: NA tokens in any case, padding, quotes, typed values in canonical
# and other spellings, genres in any case and spacing, titles with years; then rarer ones: other
# whitespace, the delimiters, other scripts' digits, characters whose case folding is special.
COMMON = [
    "a", "b c", "Toy Story (1995)", "Heat (1995) ", " Up (2009", "1", "42", "+007", "-0", "x1", "1.50",
    "-.5", "5.", "0007.10", "-0.00", "NA", "na", "N/A", "null", "NULL", "-", "", " ", "Action|COMEDY|action",
    " a | b |A", "||", "|x|", "Film-Noir|film-noir", "Drama", "Drama|Crime", "2024-01-31", "1995-02-30",
    "2024-05-01 13:45:00", "2024-05-01T13:45:00", "yes", "Y", "true", "f", "0", "maybe", " x / Y / x ",
    "The Lost Garden, The (1987)", "Say \"hi\" (2001)",
]  # fmt: skip
RARE = [
    "X (١٩٩٥)", "Y (\uff12\uff10\uff10\uff11)", "99999999999999999999", "  \t", "\xa0", "\u3000",
    "\u2009pad\u2009", "\x1c", "é", "Amélie (2001)", "K", "\u017f", "İ", "ß", "ﬀ", "Ⅻ", '"', '""', ",", ";",
    "\t", "|", "drama|\uff24rama", "31.01.2024", "Jan 31, 2024", "0000-01-01", "2024-05-01 24:00:00", "1e3",
    "2.5E-2", "ye\u017f", "NÉANT",
]  # fmt: skip
CELLS = COMMON + RARE
LINE_ENDS = ["\n", "\r\n", "\r"]
# Headers with their delimiter; the typed and multi-valued names match the rule sets below.
HEADERS = [
    ("id,title,genres", ","),
    ("movieId,title,genres,year", ","),
    ("id,price,day,paid,at,genre,title", ","),
    ("title", ","),
    ("a;b;c", ";"),
    ("sep=;\nid;title;genres", ";"),
    ('"id","ti,tle"', ","),
    (" movie Id |Title|GENRES ", "|"),
    ("id\ttitle\tgenre", "\t"),
    ("id,genre,Genres", ","),  # renamed to one name by the movies rules: the file fails
]
RULE_SETS = [
    MOVIES,
    ACCOUNTING_RULES,
    Rules(),
    # The defaults before they lost nothing: dedupe, genres split, years from titles.
    Rules(dedupe=True, multi_value_columns=("genre", "genres"), year_from="title"),
    Rules(
        dedupe=True,
        rename=(("title", "name"), ("genres", "genre"), ("movie_id", "id")),
        multi_value_columns=("genre",),
        year_from="name",
        columns=(ColumnRule("id", "int"),),
    ),
    Rules(dedupe=False, year_from=None, na_tokens=("", "NÉANT", "K", "ss", "-")),
    Rules(
        multi_value_columns=("genre", "title"),
        multi_value_separator=" / ",
        columns=(
            ColumnRule("id", "int", "null"),
            ColumnRule("price", "decimal", "null"),
            ColumnRule("day", "date", "reject", ("%d.%m.%Y", "%Y-%m-%d")),
            ColumnRule("paid", "bool", "null"),
            ColumnRule("at", "timestamp", "null"),
        ),
    ),
    Rules(
        columns=(
            ColumnRule("id", "int"),
            ColumnRule("price", "decimal"),
            ColumnRule("day", "date", "null"),
            ColumnRule("paid", "bool"),
            ColumnRule("at", "timestamp"),
        )
    ),
]
SPECIAL = set('",;|\t\n\r')


def _field(cell: str, how: int) -> str:
    """0: quoted when it must be, 1: always quoted, 2: never (a delimiter then changes the width)."""
    if how == 1 or (how == 0 and SPECIAL & set(cell)):
        return '"' + cell.replace('"', '""') + '"'
    return cell


@st.composite
def rich_documents(draw: st.DrawFn) -> str:
    """Mostly well-formed rows (the statement settles those) with every kind of cell, some rows
    of another width, blank lines, stray quotes, and quoted fields over several lines."""
    header, delimiter = draw(st.sampled_from(HEADERS))
    width = len(header.splitlines()[-1].split(delimiter))
    cell = st.one_of(*[st.sampled_from(COMMON)] * 6, st.sampled_from(RARE))
    plain = st.lists(cell, max_size=2).map("".join)
    field = st.tuples(plain, st.sampled_from([0, 0, 0, 0, 1, 2])).map(lambda pair: _field(*pair))
    well_formed = st.lists(field, min_size=width, max_size=width)
    other = st.lists(field, max_size=width + 2)
    multi_line = well_formed.map(lambda cells: [*cells[:-1], '"t\nnext line\n\nlast (1999)"'])
    rows = draw(
        st.lists(
            st.one_of(well_formed, well_formed, well_formed, other, multi_line, st.just([])), max_size=25
        )
    )
    end = draw(st.sampled_from(LINE_ENDS))
    lines = [header.replace("\n", end), *(delimiter.join(row) for row in rows)]
    return end.join(lines) + draw(st.sampled_from(["", end, end + end]))


ENCODINGS = ["utf-8", "utf-8-sig", "cp1252", "latin-1", "utf-16"]


@pytest.mark.slow
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents, st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]), st.booleans())
def test_accounting_documents_give_the_same_result(text: str, encoding: str, dedupe: bool) -> None:
    data = text.encode(encoding, errors="replace")
    same(data, Rules(dedupe=dedupe), key="k.csv")
    same(data, ACCOUNTING_RULES, key="k.csv")


@pytest.mark.slow
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rich_documents(), st.sampled_from(ENCODINGS), st.sampled_from(range(len(RULE_SETS))))
@example('id,title,genres\n1,"two\n\nlines (1995)",Drama\n2,x,y\n', "utf-8", 0)
@example('id,title,genres\n1,"open,2,3\n4,5,6\n', "utf-8", 0)
@example("id,title,genres\n\n\n1,a,b\n\n", "utf-8-sig", 0)
@example('id,title,genres\n1,"a""b",c\n2,"a" b,c\n3, "x",c\n4,"y" ,c\n', "utf-8", 0)
def test_generated_documents_give_the_same_result(text: str, encoding: str, rules: int) -> None:
    data = text.encode(encoding, errors="replace")
    same(data, RULE_SETS[rules], key="movies/x.csv")


@pytest.mark.slow
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rich_documents())
def test_gzip_gives_the_same_result(text: str) -> None:
    same(text.encode("utf-8"), MOVIES, key="movies/x.csv.gz")


def test_records_over_many_lines_and_empty_lines_inside_them() -> None:
    body = "".join(f'{i},"t{i}\n\n{"x" * (i % 7)}\n(199{i % 10})",A|b\n' for i in range(200))
    result = same(("id,title,genres\n" + body + "\n\n").encode(), MOVIES)
    assert result.counts is not None and result.counts[:4] == (202, 200, 0, 2)


def test_an_unclosed_quote_runs_to_the_end_of_the_file() -> None:
    same(b'id,title,genres\n1,a,b\n2,"never closed,c\n3,d,e\n\n4,f,g\n', MOVIES)


def test_lines_longer_than_the_reader_keeps_are_read_again_from_the_file() -> None:
    wide = ",".join(["x"] * 200)
    data = f'id,title,genres\n1,{wide}\n2,"{wide}",c\n3,"a,b,c,d,e,f,g,h,i,j,k",z\n4,t,g\n'.encode()
    result = same(data, MOVIES)
    assert result.counts is not None and result.counts[2] == 1


@pytest.mark.slow
def test_lines_of_megabytes() -> None:
    # Over DuckDB's default line limit, under the csv module's field limit (16 Mi characters).
    data = b"id,title,genres\n1,a,b\n2," + b"y" * (3 << 20) + b',c\n3,"' + b"z" * (5 << 20) + b'",d\n'
    same(data, MOVIES)
    same(b"id,title\n1," + b"x" * (17 << 20) + b"\n2,b\n", MOVIES)  # a field over the limit: a reject


def test_duplicates_are_compared_cell_by_cell() -> None:
    rows = "".join(f"{i % 50},Title {i % 50} (2000),A|B\n" for i in range(1000))
    rows += "7,Title 7 (2000),a|b|A\n 7 ,Title 7 (2000), A | B \n"
    result = same(("id,title,genres\n" + rows).encode(), MOVIES)
    assert result.counts is not None and result.counts[1] == 50


@pytest.mark.slow
@pytest.mark.parametrize(
    ("data", "declined"),
    [
        (b"id,title\n" + b"1,a\n" * 3000 + b"2,\x00\n", True),  # a NUL after the first 8 KB
        (b"sep=x\nidxtitle\n1xa\n", True),  # a delimiter the fast path does not model
        (b"id,title\n1," + b"y" * (65 << 20) + b"\n2,b\n", True),  # a 65 MiB line
        (",".join(f"c{i}" for i in range(70)).encode() + b"\n" + b"x," * 69 + b"y\n", True),  # 70 columns
        (b"id,title\n1,a\n", False),
    ],
)
def test_files_the_fast_path_declines_go_the_reference_way(
    tmp_path: Path, data: bytes, declined: bool
) -> None:
    raw = tmp_path / "raw"
    raw.write_bytes(data)
    work = tmp_path / "work"
    work.mkdir()
    if declined:
        with pytest.raises(FastPathDeclined):
            fast.preprocess(raw, "movies/x.csv", MOVIES, work, 128)
    assert raw.exists()  # declined before touching the input
    same(data, MOVIES, may_decline=declined)
    processed = preprocess_file(raw, "movies/x.csv", MOVIES, work, 128, keep_input=False)
    assert processed.counts.balanced() and not raw.exists()


def test_every_encoding_decision_matches() -> None:
    text = "id,title,genres\n1,Café \u2013 Noël (1999),Drama\n"
    for encoding in ENCODINGS:
        same(text.encode(encoding, errors="replace"), MOVIES)
    same(codecs.BOM_UTF8 + b"id,title\n1,caf\xe9\x81\n", MOVIES)  # not UTF-8, not cp1252: Latin-1
    same(codecs.BOM_UTF16_LE + b"\x00\xd8" + "a,b\n".encode("utf-16-le"), MOVIES)  # broken UTF-16


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1995, 7])
def test_a_generated_movie_file_gives_the_same_result(tmp_path: Path, seed: int) -> None:
    """The benchmark's generator (padding, duplicates, NA tokens, wrong widths, quoted newlines,
    accented titles, messy genres) at a small size: most rows are settled by the statement."""
    from bench.generate import generate

    path = tmp_path / "movies.csv"
    expected = generate(path, 400_000, seed)
    result = same(path.read_bytes(), MOVIES)
    # The statement settles nearly every row; Python gets the malformed ones.
    work = tmp_path / "work"
    work.mkdir()
    processed = fast.preprocess(path, "movies/movies.csv", MOVIES, work, 128)
    assert processed.python_rows < 0.01 * expected.rows_in
    assert result.counts is not None
    assert result.counts[:5] == (
        expected.rows_in,
        expected.rows_out,
        expected.rows_rejected,
        expected.rows_empty,
        expected.rows_duplicate,
    )


texts = st.lists(
    st.sampled_from(["a", "é", '"', ",", "\n", "\n", "\r\n", "\r", "\t", "\x1f", "\x1b", "\u3000", "x" * 40]),
    max_size=60,
).map("".join)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    texts, st.sampled_from(["utf-8", "utf-8-sig", "cp1252", "utf-16"]), st.sampled_from([1, 2, 3, 7, 1 << 20])
)
def test_what_the_text_pass_records_does_not_depend_on_read_size(text: str, encoding: str, size: int) -> None:
    from pipeline.preprocess.text import ASCII_WHITESPACE, CONTROLS, prepare_text

    data = text.encode(encoding, errors="replace")
    decoded = data.decode("utf-16" if encoding == "utf-16" else encoding)
    if encoding == "utf-8-sig":
        decoded = data.decode("utf-8-sig")
    normalised = decoded.replace("\r\n", "\n").replace("\r", "\n")
    lines = normalised.split("\n") if normalised else []
    if normalised.endswith("\n"):
        lines.pop()
    with TemporaryDirectory() as tmp:
        raw = Path(tmp, "raw")
        raw.write_bytes(data)
        prepared = prepare_text(raw, "k.csv", Path(tmp), read_bytes=size)
        assert prepared.path.read_text(encoding=prepared.read_encoding) == (
            normalised if prepared.path != raw else decoded
        )
    assert prepared.lines == len(lines)
    assert list(prepared.empty_lines) == [n for n, line in enumerate(lines, start=1) if not line]
    assert prepared.longest_line >= max((len(line.encode()) for line in lines), default=0)
    assert prepared.ascii == normalised.isascii()
    assert prepared.quotes == ('"' in normalised)
    assert prepared.free_controls == tuple(c for c in CONTROLS if c not in normalised)
    assert prepared.ascii_whitespace == {c for c in ASCII_WHITESPACE if c in normalised}


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rich_documents(), st.sampled_from(["utf-8", "utf-8-sig", "cp1252"]), st.sampled_from([1, 3, 64]))
def test_tiny_reads_give_the_same_result(text: str, encoding: str, size: int) -> None:
    data = text.encode(encoding, errors="replace")

    def tiny(*args: Any) -> Any:
        return fast.preprocess(*args, read_bytes=size)

    assert run(tiny, data, "movies/x.csv", MOVIES) == run(preprocess_reference, data, "movies/x.csv", MOVIES)


@pytest.mark.slow
def test_a_work_table_larger_than_duckdbs_memory_goes_to_a_database_file(tmp_path: Path) -> None:
    """Past about half of DuckDB's memory limit (64 MB here) the work table is a database file in
    the work dir, deleted at the end; the result is the same (the reference path needs more
    memory for this file: its DuckDB step deduplicates text rows, not hashes)."""
    from bench.generate import generate

    path = tmp_path / "movies.csv"
    generate(path, 36_000_000, 11)
    data = path.read_bytes()
    reference = run(preprocess_reference, data, "movies/movies.csv", MOVIES, memory_mb=512)
    work = tmp_path / "work"
    work.mkdir()
    assert run(fast.preprocess, data, "movies/movies.csv", MOVIES) == reference
    fast.preprocess(path, "movies/movies.csv", MOVIES, work, 128)
    assert sorted(p.name for p in work.iterdir()) == ["clean.csv", "rejects.csv"]
