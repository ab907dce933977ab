"""What every CLI module shares: the console and the settings read once by the root command."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

import typer
from rich.console import Console

from pipeline import stack_settings
from pipeline.settings import Settings

# Piped output (logs, CI, tests) is not cut to 80 columns: tables keep one row per line.
console = Console(
    highlight=False, markup=False, emoji=False, soft_wrap=True, width=None if sys.stdout.isatty() else 200
)


def settings_of(ctx: typer.Context) -> Settings:
    """The settings the root command built from flags, environment and profile file."""
    return ctx.find_root().ensure_object(dict)["settings"]


def warn_if_stack_differs(settings: Settings, state: Mapping[str, Any] | None) -> bool:
    """One ``warning:`` line when the running stack (its ``state``) runs with settings other
    than this command's, which it would silently ignore; True when it does."""
    found = stack_settings.differences((state or {}).get("settings") or {}, settings)
    if found:
        console.print(f"warning: {stack_settings.mismatch_line(found)}", style="yellow")
    return bool(found)
