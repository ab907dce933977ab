"""Pure detection of how a CSV file is written: its text encoding and its delimiter.

Encodings are decided by decoding, not guessing: UTF-8 (with or without a byte-order mark) is
tried first (UTF-16 when the file starts with its byte-order mark); a file that is not valid
UTF-8 is read as Windows-1252, and as Latin-1 for the few bytes Windows-1252 leaves undefined.
Delimiters are decided by which candidate splits the first records into the most consistent
number of fields, unless Excel's ``sep=`` line names it.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from collections import Counter

DELIMITERS = (",", ";", "\t", "|")
FALLBACK_ENCODINGS = ("cp1252", "latin-1")
SNIFF_RECORDS = 50


_EXCEL_SEPARATOR = re.compile(r"sep=(.)\r?\n")


def initial_encoding(head: bytes) -> str:
    """The encoding to try first: UTF-8, skipping a byte-order mark when there is one; UTF-16
    when a UTF-16 byte-order mark says so (Excel's "Unicode Text" export)."""
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return "utf-8-sig" if head.startswith(codecs.BOM_UTF8) else "utf-8"


def markup_kind(head: bytes) -> str | None:
    """What a file that is plainly not CSV is (an HTML page, an XML or JSON document), from its
    first bytes; None for anything that may be CSV."""
    start = head.removeprefix(codecs.BOM_UTF8).lstrip()[:64].lower()
    if start.startswith((b"<!doctype html", b"<html")):
        return "an HTML page"
    if start.startswith(b"<?xml"):
        return "an XML document"
    if start.startswith(b"{") or start.startswith(b"[{"):
        return "a JSON document"
    return None


def excel_separator(sample: str) -> str | None:
    """The delimiter named by Excel's ``sep=;`` first line, when the file has one."""
    match = _EXCEL_SEPARATOR.match(sample)
    return match[1] if match else None


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
