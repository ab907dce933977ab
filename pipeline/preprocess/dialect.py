"""Pure detection of how a CSV file is written: its text encoding and its delimiter.

Encodings are decided by decoding, not guessing: UTF-8 (with or without a byte-order mark) is
tried first; a file that is not valid UTF-8 is read as Windows-1252, and as Latin-1 for the few
bytes Windows-1252 leaves undefined. Delimiters are decided by which candidate splits the first
records into the most consistent number of fields.
"""

from __future__ import annotations

import codecs
import csv
import io
from collections import Counter

DELIMITERS = (",", ";", "\t", "|")
FALLBACK_ENCODINGS = ("cp1252", "latin-1")
SNIFF_RECORDS = 50


def initial_encoding(head: bytes) -> str:
    """The encoding to try first: UTF-8, skipping a byte-order mark when there is one."""
    return "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"


def detect_delimiter(sample: str) -> str:
    """The delimiter among ``, ; tab |`` that gives the most consistent field counts over the
    first records of ``sample`` (quotes respected); ``,`` when nothing splits the lines."""
    lines = sample.splitlines(keepends=True)
    if len(lines) > 1 and not sample.endswith(("\n", "\r")):
        lines = lines[:-1]  # the last line of a sample may be cut short
    text = "".join(lines)
    best, best_score = ",", (0.0, 0)
    for delimiter in DELIMITERS:
        try:
            rows = [
                row
                for row, _ in zip(
                    csv.reader(io.StringIO(text), delimiter=delimiter), range(SNIFF_RECORDS), strict=False
                )
                if row
            ]
        except csv.Error:
            continue
        if not rows:
            continue
        width, hits = Counter(len(row) for row in rows).most_common(1)[0]
        if width < 2:
            continue
        score = (hits / len(rows), width)
        if score > best_score:
            best, best_score = delimiter, score
    return best
