"""Real public CSVs (tests/corpus/real/) and an independent reading of them with Python's csv
module, shared by the unit and functional tests of real files."""

from __future__ import annotations

import csv
from pathlib import Path

REAL = Path(__file__).parent / "corpus" / "real"
SMS = REAL / "sms-spam.csv"
MOVIELENS = REAL / "movielens-movies.csv"
NO_GENRES = "(no genres listed)"


def independent_rows(path: Path, encoding: str) -> list[list[str]]:
    """The file's records after its header, as Python's csv module reads them."""
    with path.open(encoding=encoding, newline="") as handle:
        return list(csv.reader(handle))[1:]
