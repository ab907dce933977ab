"""The crawler's record count on bytes against the csv module's, on generated files: the fast count
must give the csv module's answer, or step aside for it."""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.catalog.crawler import _count_quoted, _NotPlain, count_rows

READS = (1, 2, 3, 7, 64, 1 << 20)
SOME_BYTES = b'ab ,"\n\r\x00\xef\xbb\xbf'  # the BOM's bytes too


def csv_module_count(data: bytes) -> int:
    text = data.decode("utf-8-sig", errors="replace")
    return sum(1 for row in csv.reader(io.StringIO(text, newline="")) if row)


def fast_count(data: bytes, read_bytes: int) -> int | None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder, "f.csv")
        path.write_bytes(data)
        assert count_rows(path)[0] == csv_module_count(data)  # whichever way count_rows goes
        try:
            records, quoted = _count_quoted(path, read_bytes)
            assert quoted == (b'"' in data)
            return records
        except _NotPlain:
            return None


# No lone CR in cells: csvpipe never writes one (cells' line breaks are LF), and the csv module's
# writer leaves it unquoted, so it would end the record when read back.
cells = st.text(alphabet='ab ,"\n\u00e9', max_size=6)
rows = st.lists(st.lists(cells, min_size=1, max_size=4), max_size=8)


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(rows, st.sampled_from(["\n", "\r\n"]), st.sampled_from(READS), st.booleans(), st.integers(0, 3))
def test_written_csv_is_counted_on_bytes_exactly(
    table: list[list[str]], end: str, read_bytes: int, bom: bool, blanks: int
) -> None:
    out = io.StringIO()
    csv.writer(out, lineterminator=end).writerows(table)
    text = out.getvalue() + end * blanks
    data = ("\ufeff" if bom else "").encode() + text.encode()
    counted = fast_count(data, read_bytes)
    assert counted == csv_module_count(data), (data, counted)


@pytest.mark.slow
@settings(max_examples=600, deadline=None)
@given(st.binary(max_size=40).map(lambda b: bytes(c for c in b if c in SOME_BYTES)), st.sampled_from(READS))
def test_any_bytes_are_counted_exactly_or_left_to_the_csv_module(data: bytes, read_bytes: int) -> None:
    counted = fast_count(data, read_bytes)
    assert counted is None or counted == csv_module_count(data), (data, counted)


def test_the_fast_count_takes_what_csvpipe_writes() -> None:
    data = b'movie_id,title\n1,"Heat, The (1995)"\n2,"Two\nLines"\n\n3,"say ""hi"""\n4,plain\n'
    assert fast_count(data, 5) == 5  # the header and four records


def test_only_the_first_bom_is_left_out() -> None:
    for data in (b"\xef\xbb\xbf\xef\xbb\xbf", b"\xef\xbb\xbf\xef\xbb\xbfa,b\n1,2\n", b"\xef\xbb\xbf"):
        for read_bytes in READS:
            assert fast_count(data, read_bytes) in (None, csv_module_count(data)), (data, read_bytes)
