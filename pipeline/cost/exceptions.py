"""Errors of ``csvpipe cost``: one line saying what to change.

CsvpipeError
└── CostError      a region without verified prices, a bad flag, an unreadable price table
                   (terminal: running again changes nothing)
"""

from __future__ import annotations

from pipeline.errors import CsvpipeError


class CostError(CsvpipeError):
    """The estimate cannot be made as asked."""
