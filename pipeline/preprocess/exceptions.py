"""Errors of the preprocessing stage (see pipeline.errors for the whole tree)."""

from pipeline.errors import PreprocessError


class UnreadableFile(PreprocessError):
    """The whole file cannot be preprocessed: empty, binary, not text, no header. Terminal:
    processing the same bytes again gives the same answer."""
