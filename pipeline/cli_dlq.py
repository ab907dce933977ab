"""CLI commands for the dead-letter queue: ``csvpipe dlq list`` and ``csvpipe dlq replay``.

Why: an event that failed every attempt waits in the DLQ; a user needs to see which files failed
and why, and, once the cause is fixed, to send them through the pipeline again. The work is done
in pipeline.dlq; this module only reads arguments and prints.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from pipeline import dlq
from pipeline.aws import Clients
from pipeline.cli_common import console, settings_of
from pipeline.errors import UserInputError

dlq_app = typer.Typer(help="Inspect and re-drive events that failed every retry.", no_args_is_help=True)


@dlq_app.command("list")
def list_(ctx: typer.Context) -> None:
    """Show the events in the dead-letter queue and the last error of each; they stay there."""
    settings = settings_of(ctx)
    letters = dlq.list_dead_letters(Clients(settings))
    if not letters:
        console.print("the dead-letter queue is empty")
        return
    table = Table(title=f"dead-letter queue {dlq.dead_letter_path(settings).queue}")
    for column in ("key", "etag", "receives", "sent at", "last error"):
        table.add_column(column)
    for letter in letters:
        cells = (
            letter.key or "(not an S3 object event)",
            letter.etag or "-",
            str(letter.receive_count),
            letter.sent_at or "-",
            letter.last_error or "-",
        )
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)
    console.print(f"{len(letters)} event(s); re-drive them with `csvpipe dlq replay`")


@dlq_app.command("replay")
def replay(
    ctx: typer.Context,
    key: Annotated[
        str | None,
        typer.Option(help="Re-drive only the events of this raw object key, e.g. movies/movies.csv."),
    ] = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Send the dead-letter queue's events back to be tried again: to the event queue (local
    profile), or to the deployed function, invoked asynchronously (deployed profiles)."""
    settings = settings_of(ctx)
    clients = Clients(settings)
    path = dlq.dead_letter_path(settings)
    name = path.queue
    if not yes:
        letters = dlq.list_dead_letters(clients)
        matching = [letter for letter in letters if key is None or letter.key == key]
        if not matching:
            _nothing(key, name)
            return
        what = f"events of {key}" if key else "events"
        try:
            confirmed = typer.confirm(f"re-drive {len(matching)} {what} from {name} to {path.target_words}?")
        except typer.Abort:  # no terminal to answer (stdin closed), or Ctrl-C
            raise UserInputError(
                "no answer to the confirmation: pass --yes to re-drive without asking"
            ) from None
        if not confirmed:
            console.print("nothing re-driven")
            raise typer.Exit(1)
    result = dlq.replay(clients, key=key)
    if result.replayed == 0:
        _nothing(key, name)
        return
    kept = f"; {result.kept} other message(s) stay in the dead-letter queue" if result.kept else ""
    console.print(f"re-drove {result.replayed} message(s) to {path.target_words}{kept}")


def _nothing(key: str | None, name: str) -> None:
    if key is not None:
        raise UserInputError(f"no event for key {key!r} in the dead-letter queue {name}")
    console.print("the dead-letter queue is empty: nothing to re-drive")
