"""Errors of the preprocessing stage (see pipeline.errors for the whole tree)."""

from pipeline.errors import PreprocessError


class UnreadableFile(PreprocessError):
    """The whole file cannot be preprocessed: empty, binary, not text, no header. Terminal:
    processing the same bytes again gives the same answer."""


class FastPathDeclined(Exception):
    """The fast path (pipeline.preprocess.fast) does not handle this file; the reference path
    does. Internal to the stage: never reported, never raised out of ``preprocess_file``."""
