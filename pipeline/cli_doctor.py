"""``csvpipe doctor``: check the environment of the chosen profile and print each problem with
its fix."""

from __future__ import annotations

import typer
from rich.table import Table
from rich.text import Text

from pipeline.cli_common import console, settings_of

MARKS = {"ok": ("ok", "green"), "problem": ("PROBLEM", "red"), "skipped": ("skipped", "yellow")}


def doctor(ctx: typer.Context) -> None:
    """Check what the profile needs: settings, rules and transforms files; the local stack and
    its port (local), Docker (localstack) or credentials (aws); then the endpoint, the three
    buckets, the raw bucket's notification, the Glue database and the dead-letter queue.
    Prints each problem with its fix; exits 1 when there is one."""
    from pipeline.doctor import run_checks

    settings = settings_of(ctx)
    checks = run_checks(settings)
    table = Table(title=f"csvpipe doctor (profile {settings.profile})")
    for column in ("check", "status", "found"):
        table.add_column(column)
    for check in checks:
        mark, style = MARKS[check.status]
        table.add_row(Text(check.name), Text(mark, style=style), Text(check.detail))
    console.print(table)
    problems = [check for check in checks if check.status == "problem"]
    for check in problems:
        console.print(f"fix {check.name}: {check.fix}")
    console.print(f"{len(problems)} problem(s)" if problems else "no problems found")
    raise typer.Exit(1 if problems else 0)
