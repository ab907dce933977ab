"""Helpers shared by end-to-end tests."""

from __future__ import annotations


def statuses(output: str) -> dict[str, str]:
    """The rows of `csvpipe doctor`'s table, as {check: status}."""
    rows = [line.split("│") for line in output.splitlines() if line.startswith("│")]
    return {cells[1].strip(): cells[2].strip() for cells in rows}
