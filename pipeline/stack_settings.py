"""The running local stack's settings against a command's: what differs, and how to apply it.

Why: the stack's Lambda and Glue stand-in run with the settings they were started with. A later
``csvpipe --set transforms_dir=... run FILE`` (or an exported ``CSVPIPE_*``) reaches that stack
but changes none of its work; without a word, the user reads results of settings they did not
ask for. The stack records its effective settings in its state file (``recorded``); commands
compare theirs with it (``differences``) and print one line (``mismatch_line``).
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.settings import SECRET_FIELDS, Settings

# Settings the running stack does not use, or uses only as the command gives them: the
# dashboard it started already serves; deployment settings are for `csvpipe deploy`; the profile
# and data folder are how the command found this stack in the first place.
NOT_THE_STACKS = frozenset(
    {
        "profile",
        "data_dir",
        "dashboard_host",
        "dashboard_port",
        "glue_backend",
        "stack_name",
        "artifacts_bucket",
        "lambda_architecture",
        "lambda_python_version",
    }
)


def _text(value: Any) -> str:
    if isinstance(value, Path):
        return str(value.resolve())
    return "" if value is None else str(value)


def recorded(settings: Settings) -> dict[str, str]:
    """The settings a stack records about itself, as text (folders resolved; secrets left out)."""
    return {
        name: _text(value)
        for name, value in settings.values().items()
        if name not in SECRET_FIELDS and name not in NOT_THE_STACKS
    }


@dataclass(frozen=True)
class Difference:
    name: str
    stack: str  # the running stack's value
    command: str  # this command's value


def differences(stack: Mapping[str, str], settings: Settings) -> list[Difference]:
    """The settings the running stack uses whose value differs from this command's. A stack that
    recorded no settings (an older version) differs in nothing that can be told."""
    mine = recorded(settings)
    return [
        Difference(name, stack[name], mine[name])
        for name in mine
        if name in stack and stack[name] != mine[name]
    ]


def mismatch_line(found: list[Difference]) -> str:
    """One line naming the settings the running stack ignores, and the commands that apply them."""
    named = "; ".join(
        f"{d.name} is {d.command or '(empty)'} here, {d.stack or '(empty)'} in the stack" for d in found
    )
    flags = " ".join(f"--set {shlex.quote(f'{d.name}={d.command}')}" for d in found)
    return (
        f"the running stack keeps the settings it started with and ignores this command's: {named}; "
        f"to apply them, restart it: `csvpipe down && csvpipe {flags} up --detach`"
    )
