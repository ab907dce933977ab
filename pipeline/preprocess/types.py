"""Pure conversion of text cells to typed values, per column: integers, decimals, dates,
timestamps and booleans, each written back in one canonical text form (``+007`` -> ``7``,
``1.50`` -> ``1.50``, ``25.12.1995`` -> ``1995-12-25``, ``Yes`` -> ``true``).

Why canonical text: the processed file stays a plain CSV, and every reader after it (the
crawler's inference, DuckDB, Spark, QuickSight) sees one unambiguous spelling per type. A value
that does not convert raises TypeMismatch with a reason that names the value and the expected
type; the caller decides, from the column's rule, whether the row is rejected or the cell nulled.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1

# Unambiguous date spellings accepted without configuration. Day/month order is ambiguous in
# 01/02/2024, so slash dates with the year last need an explicit `formats` in the rule.
DEFAULT_DATE_FORMATS = (
    "%Y-%m-%d",
    "%Y/%m/%d",
    "%Y%m%d",
    "%d.%m.%Y",
    "%d %b %Y",
    "%d %B %Y",
    "%d-%b-%Y",
    "%b %d %Y",
    "%b %d, %Y",
    "%B %d %Y",
    "%B %d, %Y",
)

TRUE_WORDS = frozenset({"true", "t", "yes", "y", "1"})
FALSE_WORDS = frozenset({"false", "f", "no", "n", "0"})

# ASCII digits only: \d would also take other scripts' digits, which readers downstream do not.
_INTEGER = re.compile(r"[+-]?[0-9]+")
_DECIMAL = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")


class TypeMismatch(ValueError):
    """A cell that is not a value of its column's type; the message is the reject reason."""


def to_int(value: str) -> str:
    if not _INTEGER.fullmatch(value):
        raise TypeMismatch(f"{value!r} is not an integer")
    number = int(value)
    if not INT64_MIN <= number <= INT64_MAX:
        raise TypeMismatch(f"{value!r} is outside the 64-bit integer range")
    return str(number)


def to_decimal(value: str) -> str:
    if not _DECIMAL.fullmatch(value):
        raise TypeMismatch(f"{value!r} is not a decimal number")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise TypeMismatch(f"{value!r} is not a decimal number") from None
    return format(abs(number) if number.is_zero() else number, "f")


def to_bool(value: str) -> str:
    word = value.casefold()
    if word in TRUE_WORDS:
        return "true"
    if word in FALSE_WORDS:
        return "false"
    raise TypeMismatch(f"{value!r} is not a boolean (true/false, yes/no, y/n, t/f, 1/0)")


def date_parser(formats: tuple[str, ...] = ()) -> Callable[[str], str]:
    """A converter to ISO ``YYYY-MM-DD`` trying ``formats`` (strptime codes) in order."""
    formats = formats or DEFAULT_DATE_FORMATS

    def to_date(value: str) -> str:
        for pattern in formats:
            try:
                return datetime.strptime(value, pattern).date().isoformat()
            except ValueError:
                continue
        raise TypeMismatch(f"{value!r} is not a date in the accepted formats ({', '.join(formats)})")

    return to_date


def to_timestamp(value: str) -> str:
    """ISO 8601 date-times (``2024-05-01 13:45:00``, ``2024-05-01T13:45:00Z``), written as
    ``YYYY-MM-DD HH:MM:SS[.ffffff][+HH:MM]``."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise TypeMismatch(f"{value!r} is not an ISO 8601 timestamp") from None
    return moment.isoformat(sep=" ")


def to_string(value: str) -> str:
    return value


TYPES = ("string", "int", "decimal", "date", "timestamp", "bool")


def converter(type_name: str, formats: tuple[str, ...] = ()) -> Callable[[str], str]:
    """The converter for one of TYPES; ``formats`` applies to dates."""
    if type_name == "date":
        return date_parser(formats)
    simple: dict[str, Callable[[str], str]] = {
        "string": to_string,
        "int": to_int,
        "decimal": to_decimal,
        "timestamp": to_timestamp,
        "bool": to_bool,
    }
    return simple[type_name]
