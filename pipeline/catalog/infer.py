"""Pure schema inference for processed CSV: what kind of value each cell holds, what each column's
Glue type is, whether a file's first row is a header, and how several files merge into one table.

Why pure: the crawler's decisions (a type, a header, a column's nullability) are the part worth
testing case by case; reading files is the I/O around them (pipeline.catalog.crawler).

Two modes share the value classifier and differ only in the decisions built on it:

- ``csvpipe`` reads the canonical text the preprocessing writes (pipeline.preprocess.types):
  ``7``, ``1.50``, ``1995-12-25``, ``2024-05-01 13:45:00``, ``true``, and types it as bigint,
  decimal, date, timestamp, boolean; integers with leading zeros (``007``) stay text.
- ``glue-compatible`` predicts AWS Glue's built-in CSV classifier: only boolean, bigint, double
  and string (dates and timestamps stay string), its header rule, ``col0``, ``col1``… names when
  it finds no header, and every column string when fields are quoted (OpenCSVSerde).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

from pipeline.catalog.types import widen

Mode = Literal["csvpipe", "glue-compatible"]
MODES: tuple[Mode, ...] = ("csvpipe", "glue-compatible")

# Value kinds, the classifier's answer for one non-empty cell.
BOOLEAN = "boolean"
INTEGER = "integer"  # canonical, within 64 bits: -12, 0, 7
PADDED_INTEGER = "padded_integer"  # an integer spelt otherwise: 007, +5
BIG_INTEGER = "big_integer"  # an integer outside 64 bits
DECIMAL = "decimal"  # fixed point, digits on both sides: 1.50, -0.5
FLOAT = "float"  # any other number: 1e5, .5, 5.
DATE = "date"  # 1995-12-25
TIMESTAMP = "timestamp"  # 2024-05-01 13:45:00[.ffffff], no offset (Hive cannot read one)
STRING = "string"

NUMERIC_KINDS = frozenset({INTEGER, PADDED_INTEGER, BIG_INTEGER, DECIMAL, FLOAT})

_INTEGER = re.compile(r"-?(?:0|[1-9][0-9]*)")
_ANY_INTEGER = re.compile(r"[+-]?[0-9]+")
_FIXED_POINT = re.compile(r"-?[0-9]+\.([0-9]+)")
_FLOAT = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DATE = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_TIMESTAMP = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.[0-9]{1,9})?")
_BOOLEAN_WORDS = frozenset({"true", "false"})
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# A name csvpipe's preprocessing writes (snake_case); used to recognise an all-text header.
_COLUMN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# AWS: header cells (but the last) are under 150 characters; Glue names are 1-255 characters.
GLUE_HEADER_CELL_LIMIT = 150
GLUE_NAME_LIMIT = 255
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# csvpipe keeps decimals of up to 18 digits in decimal(18,s) (a 64-bit value in most engines), so
# the type does not change each time a larger number arrives; beyond that decimal(38,s).
DECIMAL_SMALL_PRECISION = 18
DECIMAL_MAX_PRECISION = 38


def _valid_date(year: str, month: str, day: str) -> bool:
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return False
    return True


def value_kind(text: str) -> tuple[str, int, int]:
    """The kind of one non-empty cell, with its digits before the point and its scale (both 0
    for non-numbers): ``"1.50"`` -> ``("decimal", 1, 2)``."""
    if text.isdigit() and text.isascii():  # the common case first: 0, 7, 1995
        digits = len(text)
        if digits > 1 and text[0] == "0":
            number = int(text)
            kind = PADDED_INTEGER if number <= INT64_MAX else BIG_INTEGER
            return kind, len(str(number)), 0
        return (INTEGER if digits < 19 or int(text) <= INT64_MAX else BIG_INTEGER), digits, 0
    first = text[0]
    if len(text) >= 10 and text[4] == "-" and first.isdigit():
        if (match := _DATE.fullmatch(text)) and _valid_date(*match.groups()):
            return DATE, 0, 0
        if (match := _TIMESTAMP.fullmatch(text)) and _valid_date(*match.groups()[:3]):
            hour, minute, second = (int(part) for part in match.groups()[3:])
            if hour < 24 and minute < 60 and second < 60:
                return TIMESTAMP, 0, 0
        return STRING, 0, 0
    if first.isdigit() or first in "+-.":
        if _INTEGER.fullmatch(text):
            digits = len(text.lstrip("-"))
            if digits < 19 or INT64_MIN <= int(text) <= INT64_MAX:
                return INTEGER, digits, 0
            return BIG_INTEGER, digits, 0
        if _ANY_INTEGER.fullmatch(text):
            number = int(text)
            if INT64_MIN <= number <= INT64_MAX:
                return PADDED_INTEGER, len(str(abs(number))), 0
            return BIG_INTEGER, len(str(abs(number))), 0
        if match := _FIXED_POINT.fullmatch(text):
            return DECIMAL, len(text.lstrip("-")) - len(match[1]) - 1, len(match[1])
        if _FLOAT.fullmatch(text):
            return FLOAT, 0, 0
        return STRING, 0, 0
    if text.casefold() in _BOOLEAN_WORDS:
        return BOOLEAN, 0, 0
    return STRING, 0, 0


@dataclass(frozen=True)
class ColumnProfile:
    """What the sampled cells of one column held: counts, the kinds seen, the scales of its
    fixed-point numbers (integers count as scale 0) and the most digits before the point."""

    values: int = 0
    nulls: int = 0
    kinds: frozenset[str] = frozenset()
    scales: frozenset[int] = frozenset()
    integer_digits: int = 0

    def merged(self, other: ColumnProfile) -> ColumnProfile:
        return ColumnProfile(
            self.values + other.values,
            self.nulls + other.nulls,
            self.kinds | other.kinds,
            self.scales | other.scales,
            max(self.integer_digits, other.integer_digits),
        )

    def with_nulls(self, count: int) -> ColumnProfile:
        return ColumnProfile(self.values, self.nulls + count, self.kinds, self.scales, self.integer_digits)

    @property
    def nullable(self) -> bool:
        return self.nulls > 0


def profile_values(cells: Iterable[str]) -> ColumnProfile:
    """The profile of some cells of one column; an empty cell is NULL (as preprocessing writes it)."""
    profiler = Profiler()
    for cell in cells:
        profiler.add([cell])
    return profiler.profiles(1)[0]


class Profiler:
    """Accumulates column profiles row by row (the crawler feeds it a file's sampled rows).

    ``header`` is the file's first row, kept aside: the profiler notes which of its cells recur
    later in their own column, one of the signs that the first row is data, not names."""

    _CACHE_LIMIT = 4096

    def __init__(self, header: Sequence[str] = ()) -> None:
        self.header = tuple(header)
        self.rows = 0
        self._values: list[int] = []
        self._nulls: list[int] = []
        self._kinds: list[set[str]] = []
        self._scales: list[set[int]] = []
        self._digits: list[int] = []
        self._cache: list[dict[str, tuple[str, int, int]]] = []
        self.repeats = [False] * len(self.header)

    def _grow(self, width: int) -> None:
        while len(self._values) < width:
            self._values.append(0)
            # A column that appears late was NULL in every earlier row.
            self._nulls.append(self.rows)
            self._kinds.append(set())
            self._scales.append(set())
            self._digits.append(0)
            self._cache.append({})

    def add(self, row: Sequence[str]) -> None:
        if len(row) > len(self._values):
            self._grow(len(row))
        header, repeats = self.header, self.repeats
        for index, cell in enumerate(row):
            if not cell:
                self._nulls[index] += 1
                continue
            self._values[index] += 1
            if index < len(header) and cell == header[index]:
                repeats[index] = True
            kinds = self._kinds[index]
            if STRING in kinds:
                continue  # text already: no later value can change the column's type
            cache = self._cache[index]
            found = cache.get(cell)
            if found is None:
                found = value_kind(cell)
                if len(cache) < self._CACHE_LIMIT:
                    cache[cell] = found
            kind, digits, scale = found
            kinds.add(kind)
            if kind in (INTEGER, BIG_INTEGER, DECIMAL):
                self._scales[index].add(scale)
                if digits > self._digits[index]:
                    self._digits[index] = digits
        for index in range(len(row), len(self._values)):
            self._nulls[index] += 1
        self.rows += 1

    def profiles(self, width: int = 0) -> tuple[ColumnProfile, ...]:
        """One profile per column, at least ``width`` of them (missing columns are all NULL)."""
        self._grow(width)
        return tuple(
            ColumnProfile(
                self._values[i],
                self._nulls[i],
                frozenset(self._kinds[i]),
                frozenset(self._scales[i]),
                self._digits[i],
            )
            for i in range(len(self._values))
        )


def csvpipe_type(profile: ColumnProfile) -> str:
    """The Glue type csvpipe registers for a column with this profile."""
    kinds = profile.kinds
    if not kinds:
        return "string"  # only NULLs: nothing to go by
    if kinds == {BOOLEAN}:
        return "boolean"
    if kinds == {INTEGER}:
        return "bigint"
    if kinds <= {INTEGER, BIG_INTEGER, DECIMAL}:
        # Fixed point with one scale throughout (integers are scale 0) is exact: a decimal.
        if len(profile.scales) == 1:
            (scale,) = profile.scales
            precision = profile.integer_digits + scale
            if precision <= DECIMAL_SMALL_PRECISION:
                return f"decimal({DECIMAL_SMALL_PRECISION},{scale})"
            if precision <= DECIMAL_MAX_PRECISION:
                return f"decimal({DECIMAL_MAX_PRECISION},{scale})"
        return "double"
    if kinds <= {INTEGER, BIG_INTEGER, DECIMAL, FLOAT}:
        return "double"
    if kinds == {DATE}:
        return "date"
    if kinds <= {DATE, TIMESTAMP}:
        return "timestamp"
    return "string"


def glue_type_of(profile: ColumnProfile) -> str:
    """The type AWS Glue's built-in CSV classifier gives such a column: boolean, bigint, double or
    string. Dates and timestamps stay string: the built-in classifier has no date types (custom CSV
    classifiers list DATE, TIMESTAMP and DECIMAL as opt-in ``CustomDatatypes`` for that reason)."""
    kinds = profile.kinds
    if not kinds:
        return "string"
    if kinds == {BOOLEAN}:
        return "boolean"
    if kinds <= {INTEGER, PADDED_INTEGER}:
        return "bigint"
    if kinds <= NUMERIC_KINDS:
        return "double"  # integers beyond 64 bits included: our reading, AWS documents no case
    return "string"


def column_type(profile: ColumnProfile, mode: Mode) -> str:
    return csvpipe_type(profile) if mode == "csvpipe" else glue_type_of(profile)


@dataclass(frozen=True)
class HeaderDecision:
    present: bool
    reason: str


def detect_header(
    first_row: Sequence[str], data: Sequence[ColumnProfile], repeats: Sequence[bool], mode: Mode
) -> HeaderDecision:
    """Whether a file's first row names its columns, from the row itself and the profiles of the
    rows after it (``repeats``: which first-row cells recur in their column)."""
    if mode == "glue-compatible":
        return _glue_header(first_row, data)
    return _csvpipe_header(first_row, data, repeats)


def _csvpipe_header(
    first_row: Sequence[str], data: Sequence[ColumnProfile], repeats: Sequence[bool]
) -> HeaderDecision:
    if not first_row or any(not cell for cell in first_row):
        return HeaderDecision(False, "the first row has an empty cell, which no column name is")
    if len(set(first_row)) != len(first_row):
        return HeaderDecision(False, "the first row repeats a value, and column names are unique")
    typed = [
        (index, csvpipe_type(profile))
        for index, profile in enumerate(data[: len(first_row)])
        if csvpipe_type(profile) != "string"
    ]
    for index, kind in typed:
        cell_type = csvpipe_type(profile_values([first_row[index]]))
        if widen(kind, cell_type) == "string":
            return HeaderDecision(
                True, f"the first row's {first_row[index]!r} is not a {kind} like the rest of its column"
            )
    if typed:
        return HeaderDecision(False, "every cell of the first row has its column's type: it is data")
    # Every column is text: judge the first row by itself. csvpipe's preprocessing writes
    # snake_case names, and a name does not recur as a value of its own column.
    if not all(_COLUMN_NAME.fullmatch(cell) for cell in first_row):
        return HeaderDecision(False, "every column is text and the first row's cells are not all names")
    recurring = [cell for cell, again in zip(first_row, repeats, strict=False) if again]
    if recurring:
        return HeaderDecision(False, f"every column is text and {recurring[0]!r} recurs below the first row")
    return HeaderDecision(
        True, "every column is text; the first row's cells are unique names found only there"
    )


def _glue_header(first_row: Sequence[str], data: Sequence[ColumnProfile]) -> HeaderDecision:
    # AWS Glue's built-in CSV classifier rules for a header ("Built-in CSV classifier",
    # docs.aws.amazon.com/glue/latest/dg/add-classifier.html).
    for cell in first_row:
        if glue_type_of(profile_values([cell])) != "string":
            return HeaderDecision(False, f"AWS: header cells must all parse as STRING, {cell!r} does not")
    if any(len(cell) >= GLUE_HEADER_CELL_LIMIT for cell in first_row[:-1]):
        return HeaderDecision(False, "AWS: a header cell (but the last) has 150 characters or more")
    if any(not cell or len(cell) > GLUE_NAME_LIMIT or _CONTROL.search(cell) for cell in first_row):
        return HeaderDecision(False, "AWS: a header cell is not a valid Glue column name")
    if all(glue_type_of(profile) == "string" for profile in data):
        return HeaderDecision(
            False, "AWS: every column is STRING, so the first row is not different enough to be a header"
        )
    return HeaderDecision(True, "AWS: text names over a column of another type")


def positional_names(width: int) -> tuple[str, ...]:
    """Names of columns without a header, as AWS's crawler writes them (``col0``, ``col1``, …;
    the Glue guide says ``col1``, tables made by crawlers start at ``col0``)."""
    return tuple(f"col{index}" for index in range(width))


@dataclass(frozen=True)
class FileScan:
    """What the crawler read of one processed file (made by the I/O side, judged here)."""

    key: str  # relative to the dataset's folder: ``a.csv``, ``year=2024/a.csv``
    first_row: tuple[str, ...]
    data: tuple[ColumnProfile, ...]  # profiles of the sampled rows after the first
    repeats: tuple[bool, ...]  # which first-row cells recur in their column
    rows: int  # every row of the file, the first included
    sampled: int  # rows profiled, the first included
    quoted: bool  # a quoted field anywhere the crawler looked (see crawler.scan_file)
    size: int = 0


@dataclass(frozen=True)
class FileSchema:
    key: str
    header: HeaderDecision
    names: tuple[str, ...]
    profiles: tuple[ColumnProfile, ...]
    total_rows: int  # every row, the first included


def file_schema(scan: FileScan, mode: Mode) -> FileSchema:
    """Names and profiles of one file: the first row is the names, or one more row of data."""
    decision = detect_header(scan.first_row, scan.data, scan.repeats, mode)
    width = max(len(scan.first_row), len(scan.data))
    if decision.present:
        names = scan.first_row + positional_names(width)[len(scan.first_row) :]
        profiles = _padded(scan.data, width, scan.sampled - 1)
    else:
        names = positional_names(width)
        first = Profiler()
        first.add(scan.first_row)
        first_profiles = first.profiles(width)
        data = _padded(scan.data, width, scan.sampled - 1)
        profiles = tuple(a.merged(b) for a, b in zip(first_profiles, data, strict=True))
    return FileSchema(scan.key, decision, names, profiles, scan.rows)


def _padded(profiles: tuple[ColumnProfile, ...], width: int, rows: int) -> tuple[ColumnProfile, ...]:
    return profiles + tuple(ColumnProfile(nulls=rows) for _ in range(width - len(profiles)))


@dataclass(frozen=True)
class InferredColumn:
    name: str
    type: str
    nullable: bool
    profile: ColumnProfile = field(compare=False, repr=False)


@dataclass(frozen=True)
class TableSchema:
    """The schema of a dataset's files taken together, and the facts the table records."""

    columns: tuple[InferredColumn, ...]
    header: bool
    quoted: bool
    record_count: int
    files: tuple[FileSchema, ...]
    notes: tuple[str, ...] = ()


def merge_files(files: Sequence[FileSchema], mode: Mode, quoted: bool) -> TableSchema:
    """One table from several files: columns by name in order of first appearance (files in key
    order), profiles merged, so types widen across files; a column a file lacks is NULL there.

    With ``quoted`` in glue-compatible mode every column is string, as AWS's crawler registers
    quoted CSV with OpenCSVSerde, which reads every field as text."""
    order: dict[str, ColumnProfile] = {}
    for schema in files:
        for name, profile in zip(schema.names, schema.profiles, strict=True):
            order[name] = order[name].merged(profile) if name in order else profile
    notes: list[str] = []
    headed = [schema for schema in files if schema.header.present]
    header = bool(headed)
    if headed and len(headed) != len(files):
        plain = [schema.key for schema in files if not schema.header.present]
        notes.append(
            f"{len(plain)} file(s) have no header row ({', '.join(plain[:3])}): the table skips one "
            "header line per file, so their first row would be lost to engines reading it"
        )
    record_count = sum(max(schema.total_rows - (1 if header else 0), 0) for schema in files)
    data_rows = {schema.key: max(schema.total_rows - (1 if header else 0), 0) for schema in files}
    # Sets, not the name tuples: a file of N columns made this N² (a 1,000,000-column file: hours).
    names = [(schema.key, frozenset(schema.names)) for schema in files]
    columns = []
    for name, profile in order.items():
        missing = sum(data_rows[key] for key, present in names if name not in present)
        merged = profile.with_nulls(missing) if missing else profile
        kind = "string" if mode == "glue-compatible" and quoted else column_type(merged, mode)
        columns.append(InferredColumn(name, kind, merged.nullable, merged))
    return TableSchema(tuple(columns), header, quoted, record_count, tuple(files), tuple(notes))


def infer_table(scans: Sequence[FileScan], mode: Mode) -> TableSchema:
    """The table schema of a dataset's scanned files."""
    files = [file_schema(scan, mode) for scan in scans]
    quoted = any(scan.quoted for scan in scans)
    return merge_files(files, mode, quoted)
