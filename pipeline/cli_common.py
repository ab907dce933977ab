"""What every CLI module shares: the console and the settings read once by the root command."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from pipeline.settings import Settings

# Piped output (logs, CI, tests) is not cut to 80 columns: tables keep one row per line.
console = Console(
    highlight=False, markup=False, emoji=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200
)


def settings_of(ctx: typer.Context) -> Settings:
    """The settings the root command built from flags, environment and profile file."""
    return ctx.find_root().ensure_object(dict)["settings"]
