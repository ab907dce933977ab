"""Errors of packaging: one line naming what cannot be packaged and what to do about it.

CsvpipeError
└── PackageError     the deployment package cannot be built (terminal)
"""

from __future__ import annotations

from pipeline.errors import CsvpipeError


class PackageError(CsvpipeError):
    """The Lambda deployment package cannot be built as asked."""
