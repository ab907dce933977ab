"""The one error tree of csvpipe.

    CsvpipeError                 anything csvpipe reports as one clear line
    ├── ConfigError              bad settings, profile or config file (terminal)
    ├── UserInputError           a file or argument the user gave is wrong (terminal)
    ├── StackError               the local stack cannot start, stop or be reached (terminal)
    └── StageError               a pipeline stage failed
        ├── PreprocessError      the Lambda stage (see pipeline.preprocess)
        ├── CatalogError         the crawler stage (see pipeline.catalog)
        ├── TransformError       the SQL job stage (see pipeline.transform)
        └── LimitExceeded        a crawl or transform went over its time or memory limit

``retryable`` says whether trying the same work again may succeed (a transient fault) or not
(a user mistake, a bad file): retry logic is one decision on that flag, not many.
"""

from __future__ import annotations


class CsvpipeError(Exception):
    """Base class: the message is one line a user can act on."""

    retryable: bool = False

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        if retryable is not None:
            self.retryable = retryable


class ConfigError(CsvpipeError):
    """Settings, profile or configuration file are wrong."""


class UserInputError(CsvpipeError):
    """A file, key or argument given by the user cannot be used."""


class StackError(CsvpipeError):
    """The local stack (emulator, runtime) cannot be started, stopped or reached."""


class StageError(CsvpipeError):
    """A pipeline stage failed."""


class PreprocessError(StageError):
    """The preprocessing (Lambda) stage failed for a whole file."""


class CatalogError(StageError):
    """The crawler could not infer or register a table."""


class TransformError(StageError):
    """A SQL transform could not run or publish its output."""


class LimitExceeded(StageError):
    """A crawl or transform was stopped at its time or memory limit (terminal: the same files
    would go over it again). ``setting``: the setting to raise, named in the run record;
    ``peak_mb``: the peak memory measured until it was stopped (None: not measured)."""

    def __init__(self, message: str, *, setting: str, peak_mb: int | None = None) -> None:
        super().__init__(message, retryable=False)
        self.setting, self.peak_mb = setting, peak_mb


def failure_text(stage: str, exc: BaseException) -> str:
    """A stage's failure for its run record: csvpipe's own errors as they are (one clear line),
    anything else (a bug, an unreachable endpoint) named by its type; the caller logs those
    with their traceback."""
    if isinstance(exc, CsvpipeError):
        return str(exc)
    return f"internal error in the {stage} stage: {type(exc).__name__}: {exc}"
