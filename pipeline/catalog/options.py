"""The crawler's options, read once from the settings and checked: a mistyped mode or policy is
one clear ConfigError naming the setting and where its value came from.

Why a separate record: the crawler runs from the stack (after each preprocess) and from
``csvpipe crawl`` (with ``--full-scan``); both build their options here, the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, cast

from pipeline.catalog.infer import MODES, Mode
from pipeline.errors import ConfigError
from pipeline.settings import Settings, env_var

Policy = Literal["update", "log"]
POLICIES: tuple[Policy, ...] = ("update", "log")
# AWS's crawler reads the first megabyte of each file to infer its schema (AWS re:Post,
# "Why is my AWS Glue crawler running for a long time?").
GLUE_SAMPLE_BYTES = 1024 * 1024
# Files up to this size are read whole by the csvpipe crawler, whatever crawler_sample_rows says:
# a type guessed from a sample fails every reader once a later row does not fit it, and reading
# a 64 MiB file costs seconds. Larger files are sampled (their first crawler_sample_rows rows).
WHOLE_FILE_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class CrawlerOptions:
    mode: Mode = "csvpipe"
    policy: Policy = "update"
    sample_rows: int | None = 10000  # rows per file, the first included; None reads every row
    sample_bytes: int | None = None  # characters per file; None: no limit
    whole_file_bytes: int = WHOLE_FILE_BYTES  # csvpipe mode: files this small are read whole

    @property
    def full_scan(self) -> bool:
        return self.sample_rows is None and self.sample_bytes is None

    def reads_whole(self, size: int) -> bool:
        """Whether a file of ``size`` bytes is read whole: every file on a full scan, and in
        csvpipe mode every file up to ``whole_file_bytes`` (glue-compatible mode reads what AWS
        reads)."""
        return self.full_scan or (self.mode == "csvpipe" and size <= self.whole_file_bytes)


def _source(settings: Settings, name: str) -> str:
    return settings.sources.get(name, "default")


def crawler_options(settings: Settings, *, full_scan: bool = False) -> CrawlerOptions:
    """The options of one crawl; ``full_scan`` (``csvpipe crawl --full-scan``) reads every row."""
    mode, policy, rows = settings.crawler_mode, settings.crawler_schema_change, settings.crawler_sample_rows
    if mode not in MODES:
        raise ConfigError(
            f"setting 'crawler_mode' ({_source(settings, 'crawler_mode')}) is {mode!r}; choose "
            f"{' or '.join(MODES)} (e.g. {env_var('crawler_mode')}=glue-compatible)"
        )
    if policy not in POLICIES:
        raise ConfigError(
            f"setting 'crawler_schema_change' ({_source(settings, 'crawler_schema_change')}) is "
            f"{policy!r}; choose update (apply compatible changes) or log (only report them)"
        )
    if rows < 0:
        raise ConfigError(
            f"setting 'crawler_sample_rows' ({_source(settings, 'crawler_sample_rows')}) is {rows}; "
            "give a number of rows, or 0 to read every row"
        )
    if full_scan or (rows == 0 and mode == "csvpipe"):
        return CrawlerOptions(cast(Mode, mode), cast(Policy, policy), None, None)
    if mode == "glue-compatible":
        # Predicting AWS means reading what AWS reads: the first megabyte of each file.
        return CrawlerOptions(cast(Mode, mode), cast(Policy, policy), None, GLUE_SAMPLE_BYTES)
    return CrawlerOptions(cast(Mode, mode), cast(Policy, policy), rows, None)
