"""``csvpipe quicksight``: QuickSight's side of the final bucket (the manifest it imports)."""

from __future__ import annotations

import typer

quicksight_app = typer.Typer(help="QuickSight manifests for the final outputs.", no_args_is_help=True)
