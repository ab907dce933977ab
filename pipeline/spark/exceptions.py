"""Errors of the Spark port: one line naming the transform and what to change.

CsvpipeError
└── UserInputError
    └── NotPortable     a transform's SQL will not run, or not give the same rows, on Spark
"""

from __future__ import annotations

from pipeline.errors import UserInputError


class NotPortable(UserInputError):
    """A transform cannot be packaged for the Glue job until its SQL is changed."""
