"""Quoting names and values into DuckDB SQL text, in one place.

Why: the stages build a few statements from names they do not control (catalog columns, file
paths); quoting them one way everywhere keeps a quote in a name from breaking a statement.
"""

from __future__ import annotations


def identifier(name: str) -> str:
    """A quoted identifier: inner double quotes are doubled."""
    return '"' + name.replace('"', '""') + '"'


def literal(text: str) -> str:
    """A quoted string literal: inner single quotes are doubled."""
    return "'" + text.replace("'", "''") + "'"
