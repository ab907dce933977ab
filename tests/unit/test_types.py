"""Typed columns: each converter, table-driven, with the canonical text it writes and the
reason it gives for a value that is not of the type."""

from __future__ import annotations

import pytest

from pipeline.preprocess.types import TypeMismatch, converter


@pytest.mark.parametrize(
    ("type_name", "value", "expected"),
    [
        ("int", "42", "42"),
        ("int", "+007", "7"),
        ("int", "-0", "0"),
        ("int", "9223372036854775807", "9223372036854775807"),
        ("decimal", "1.50", "1.50"),
        ("decimal", "-.5", "-0.5"),
        ("decimal", "+3", "3"),
        ("decimal", "1e3", "1000"),
        ("decimal", "2.5E-2", "0.025"),
        ("decimal", "-0.0", "0.0"),
        ("date", "1995-12-25", "1995-12-25"),
        ("date", "1995/12/25", "1995-12-25"),
        ("date", "19951225", "1995-12-25"),
        ("date", "25.12.1995", "1995-12-25"),
        ("date", "25 Dec 1995", "1995-12-25"),
        ("date", "25-Dec-1995", "1995-12-25"),
        ("date", "Dec 25, 1995", "1995-12-25"),
        ("date", "December 25 1995", "1995-12-25"),
        ("timestamp", "2024-05-01 13:45:00", "2024-05-01 13:45:00"),
        ("timestamp", "2024-05-01T13:45:00Z", "2024-05-01 13:45:00+00:00"),
        ("timestamp", "2024-05-01", "2024-05-01 00:00:00"),
        ("bool", "TRUE", "true"),
        ("bool", "yes", "true"),
        ("bool", "Y", "true"),
        ("bool", "1", "true"),
        ("bool", "f", "false"),
        ("bool", "No", "false"),
        ("bool", "0", "false"),
        ("string", " kept as is ", " kept as is "),
    ],
)
def test_converts_to_canonical_text(type_name: str, value: str, expected: str) -> None:
    assert converter(type_name)(value) == expected


@pytest.mark.parametrize(
    ("type_name", "value", "reason"),
    [
        ("int", "4.2", "'4.2' is not an integer"),
        ("int", "1,000", "'1,000' is not an integer"),
        ("int", "twelve", "'twelve' is not an integer"),
        ("int", "9223372036854775808", "outside the 64-bit integer range"),
        ("int", "١٢", "'١٢' is not an integer"),  # Arabic-Indic digits are not ASCII digits
        ("decimal", "1.2.3", "'1.2.3' is not a decimal number"),
        ("decimal", "NaN", "'NaN' is not a decimal number"),
        ("decimal", "Infinity", "'Infinity' is not a decimal number"),
        ("decimal", "1,5", "'1,5' is not a decimal number"),
        ("date", "1995-02-30", "'1995-02-30' is not a date in the accepted formats (%Y-%m-%d"),
        ("date", "12/25/1995", "is not a date"),  # day/month order is ambiguous: needs formats
        ("date", "yesterday", "is not a date"),
        ("timestamp", "13:45", "'13:45' is not an ISO 8601 timestamp"),
        ("bool", "maybe", "'maybe' is not a boolean (true/false, yes/no"),
    ],
)
def test_mismatch_names_the_value_and_the_type(type_name: str, value: str, reason: str) -> None:
    with pytest.raises(TypeMismatch) as info:
        converter(type_name)(value)
    assert reason in str(info.value)


def test_date_formats_resolve_day_month_order() -> None:
    assert converter("date", ("%m/%d/%Y",))("12/25/1995") == "1995-12-25"
    assert converter("date", ("%d/%m/%Y",))("25/12/1995") == "1995-12-25"
    with pytest.raises(TypeMismatch, match="accepted formats \\(%d/%m/%Y\\)"):
        converter("date", ("%d/%m/%Y",))("12/25/1995")
