"""Errors of the transform stage (see pipeline.errors for the whole tree)."""

from pipeline.errors import TransformError


class MissingTable(TransformError):
    """A transform reads a table the catalog does not have yet."""


class SqlError(TransformError):
    """DuckDB rejected a transform's SQL."""
