"""The raw file as text: opened (gunzipped), checked, decoded, and for the fast path turned into
UTF-8 text with LF line ends that DuckDB reads.

Why one streaming pass before DuckDB sees the file: the encoding is decided by decoding the whole
file (UTF-8, else Windows-1252, else Latin-1; UTF-16 by its byte-order mark), exactly as the
reference path (``clean_file``) decides it, and DuckDB must then see the same characters and the
same line ends as Python's csv module. A file that already is UTF-8 with LF line ends is only read
(1 MiB reads keep the decoder in the CPU cache: 16 MiB reads decode four times slower); anything
else (another encoding, CR or CRLF line ends, gzip) is written once as UTF-8 with every CR and
CRLF turned into LF. That is safe because the cleaning rules already write line breaks inside
cells as LF (``clean._one_newline``) and count CR, LF and CRLF as one line each.

The same pass records what the fast path needs to know about the text: the numbers of its empty
lines (DuckDB's reader skips them), which control characters never occur in it (one stands for a
missing field), which ASCII whitespace other than the space does, whether it is ASCII, has quotes,
a NUL, and how long its longest line may be (DuckDB's line buffer). About 1.7 s per GB.
"""

from __future__ import annotations

import codecs
import gzip
import re
from array import array
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from pipeline.preprocess.dialect import FALLBACK_ENCODINGS, initial_encoding, markup_kind
from pipeline.preprocess.exceptions import UnreadableFile

SNIFF_BYTES = 8192  # characters of decoded text the dialect is detected from
READ_BYTES = 1 << 20  # 1 MiB reads: decoding 16 MiB reads is four times slower (cache misses)
DUCKDB_LINE_BYTES = 2_000_000  # DuckDB's default max_line_size
MAX_LINE_BYTES = 64 << 20  # the longest line the fast path reads (a field may hold 16 Mi characters)
# Control characters the fast path may borrow when the text never contains them (the first four
# are whitespace, looked for anyway). Every character looked for costs a scan of the text.
CONTROLS = ("\x1f", "\x1e", "\x1d", "\x1c", "\x1b", "\x1a")
# ASCII whitespace other than the space and the line ends: str.strip removes it, DuckDB's
# trim() does not.
ASCII_WHITESPACE = ("\t", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f")
_LINE_END_RUN = re.compile(b"\n\n+")
# Empty lines are remembered one by one (8 bytes each); past this many the fast path steps aside.
MAX_EMPTY_LINES = 8_000_000


# File types that are never CSV, by their first bytes: images, PDF, ZIP (xlsx, docx), gzip,
# SQLite, Parquet.
_BINARY_SIGNATURES = (
    b"\x89PNG\r\n\x1a\n",
    b"GIF87a",
    b"GIF89a",
    b"\xff\xd8\xff",
    b"%PDF-",
    b"PK\x03\x04",
    b"\x1f\x8b",
    b"SQLite format 3\x00",
    b"PAR1",
)
# Control bytes a text file does not hold (all below 0x20 but tab, LF, FF, CR and ESC).
_CONTROL_BYTES = bytes(b for b in range(32) if b not in (9, 10, 12, 13, 27))
# A sample with more of them than this share is binary; fewer are stray bytes in a text, whose
# records are rejected one by one (``clean.clean_record``).
BINARY_SHARE = 0.05


def looks_binary(head: bytes) -> bool:
    """Is a file whose first bytes are ``head`` binary rather than text with a few stray control
    bytes? A known binary signature, or control bytes (NUL among them) in over 5 % of the sample:
    random or compressed bytes have about 11 %, a text with a stray NUL in a cell a few in 8 KB."""
    if b"\x00" not in head:
        return False
    if head.startswith(_BINARY_SIGNATURES):
        return True
    controls = len(head) - len(head.translate(None, _CONTROL_BYTES))
    return controls > BINARY_SHARE * len(head)


def open_binary(path: Path, key: str) -> tuple[Any, bytes]:
    """The file's bytes, gunzipped when the key says ``.gz``, and its first bytes; refuses
    binary content and files that are plainly not CSV."""
    binary: Any = gzip.open(path, "rb") if key.lower().endswith(".gz") else path.open("rb")  # noqa: SIM115
    try:
        head = binary.peek(SNIFF_BYTES)[:SNIFF_BYTES]
    except (OSError, EOFError) as exc:
        binary.close()
        raise UnreadableFile(f"{key}: not a readable gzip file ({exc})") from None
    if looks_binary(head) and initial_encoding(head) != "utf-16":
        binary.close()
        raise UnreadableFile(f"{key}: binary content (NUL bytes), not a CSV text file")
    if (kind := markup_kind(head)) is not None:
        binary.close()
        raise UnreadableFile(f"{key}: {kind}, not CSV (an error page or an export in another format?)")
    return binary, head


def candidate_encodings(head: bytes) -> tuple[str, ...]:
    """The encodings to try in order, as the reference path tries them."""
    first = initial_encoding(head)
    return (first,) if first == "utf-16" else (first, *FALLBACK_ENCODINGS)


@dataclass(frozen=True)
class Text:
    """The text DuckDB reads and what is known about it."""

    path: Path  # UTF-8 text; LF line ends only
    read_encoding: str  # how Python opens ``path`` to read the same characters (a BOM is skipped)
    encoding: str  # the file's encoding as run records report it: utf-8, cp1252, latin-1, utf-16
    sample: str  # the first SNIFF_BYTES characters, line ends as written (for the dialect)
    free_controls: tuple[str, ...]  # control characters that never occur in the text
    ascii_whitespace: frozenset[str]  # ASCII_WHITESPACE characters that do occur
    ascii: bool  # the text is ASCII only
    quotes: bool  # the text has a quote character somewhere
    fits: bool  # no NUL, no line over MAX_LINE_BYTES, not too many empty lines
    longest_line: int  # bytes in the longest line, without its line end (a bound under 512 KiB)
    lines: int  # lines in the text
    empty_lines: array  # numbers of the empty lines (DuckDB's reader skips them), ascending


TEXT_NAME = "text.csv"


class LineLengths:
    """How long the longest line of a byte stream fed in pieces may be: exact for lines longer than
    half a piece, an upper bound below that, at the cost of a few searches per piece (a piece is
    split into lines only when it may hold a line longer than a quarter of it)."""

    def __init__(self) -> None:
        self.run = 0  # bytes since the last line end
        self.longest = 0

    def feed(self, data: bytes) -> None:
        first = data.find(b"\n")
        if first < 0:
            self.run += len(data)
            self.longest = max(self.longest, self.run)
            return
        self.longest = max(self.longest, self.run + first)
        last = data.rfind(b"\n")
        window = max(1, len(data) // 4)
        # A line longer than the window covers a whole window without a line end.
        if any(data.find(b"\n", at, at + window) < 0 for at in range(first, last, window)):
            self.longest = max(self.longest, max(map(len, data[first + 1 : last].split(b"\n"))))
        else:
            self.longest = max(self.longest, min(2 * window, last - first))
        self.run = len(data) - last - 1

    def result(self) -> int:
        return max(self.longest, self.run)


def longest_line(path: Path) -> int:
    """Bytes in the longest line of a file, without its line end (LineLengths' bound)."""
    lengths = LineLengths()
    with path.open("rb") as source:
        while chunk := source.read(READ_BYTES):
            lengths.feed(chunk)
    return lengths.result()


class _Facts:
    """Accumulates what the fast path needs to know, over the UTF-8 bytes of the text."""

    def __init__(self) -> None:
        self.present: set[bytes] = set()
        self.ascii = True
        self.lengths = LineLengths()
        self._watch = [c.encode() for c in dict.fromkeys((*ASCII_WHITESPACE, *CONTROLS, "\x00", "\r", '"'))]
        self.line_ends = 0
        self.empty = array("q")
        self._last = b"\n"  # as if a line end came before the text: an empty first line counts
        self._any = False

    def feed(self, data: bytes) -> None:
        if not data:
            return
        # memchr per character on a 1 MiB buffer in the CPU cache: about 75 µs each.
        for byte in self._watch:
            if byte not in self.present and byte in data:
                self.present.add(byte)
        self.ascii = self.ascii and data.isascii()
        self.lengths.feed(data)
        # Empty lines: a line end right after a line end. Line k starts after the (k-1)th end.
        if self._last == b"\n" and data[:1] == b"\n":
            self.empty.append(self.line_ends + 1)
        ends, at = self.line_ends, 0
        for run in _LINE_END_RUN.finditer(data):  # faster than bytes.find(b"\n\n") in a loop
            ends += data.count(b"\n", at, run.start() + 1)
            at = run.start() + 1
            self.empty.extend(range(ends + 1, ends + run.end() - run.start()))
        self.line_ends = ends + data.count(b"\n", at)
        self._last = data[-1:]
        self._any = True

    def has(self, char: str) -> bool:
        return char.encode() in self.present

    def text(self, path: Path, read_encoding: str, encoding: str, sample: str) -> Text:
        return Text(
            path=path,
            read_encoding=read_encoding,
            encoding=encoding.removesuffix("-sig"),
            sample=sample,
            free_controls=tuple(c for c in CONTROLS if not self.has(c)),
            ascii_whitespace=frozenset(c for c in ASCII_WHITESPACE if self.has(c)),
            ascii=self.ascii,
            quotes=self.has('"'),
            fits=self.lengths.result() <= MAX_LINE_BYTES
            and not self.has("\x00")
            and len(self.empty) <= MAX_EMPTY_LINES,
            longest_line=self.lengths.result(),
            lines=self.line_ends + (1 if self._any and self._last != b"\n" else 0),
            empty_lines=self.empty,
        )


class _CarriageReturns(Exception):
    """The text has CR line ends: it is written out with LF instead."""


def _chunks(binary: IO[bytes], key: str, size: int) -> Iterator[bytes]:
    try:
        while chunk := binary.read(size):
            yield chunk
    except (OSError, EOFError) as exc:
        raise UnreadableFile(f"{key}: cannot be read ({exc})") from None


def _sampled(sample: list[str], text: str) -> None:
    have = sum(map(len, sample))
    if have < SNIFF_BYTES:
        sample.append(text[: SNIFF_BYTES - have])


def _scan_in_place(local: Path, key: str, encoding: str, size: int) -> Text:
    """Read a plain file that may already be what DuckDB reads: decodes it whole (a
    UnicodeDecodeError says it is not ``encoding``), raises _CarriageReturns at the first CR."""
    decoder = codecs.getincrementaldecoder(encoding)()
    facts, sample = _Facts(), []
    binary, head = open_binary(local, key)
    # DuckDB skips the byte-order mark too: the facts are about the text after it.
    skip = len(codecs.BOM_UTF8) if encoding == "utf-8-sig" and head.startswith(codecs.BOM_UTF8) else 0
    with binary:
        for chunk in _chunks(binary, key, size):
            text = decoder.decode(chunk)
            _sampled(sample, text)
            if b"\r" in chunk:
                raise _CarriageReturns
            if skip:
                chunk, skip = chunk[skip:], max(0, skip - len(chunk))
            facts.feed(chunk)
        decoder.decode(b"", final=True)
    return facts.text(local, encoding, encoding, "".join(sample))


def _transcode(local: Path, key: str, encoding: str, target: Path, size: int) -> Text:
    """Decode the whole file as ``encoding`` into ``target`` as UTF-8 with LF line ends."""
    decoder = codecs.getincrementaldecoder(encoding)()
    facts, sample = _Facts(), []
    pending_cr = False
    binary, _ = open_binary(local, key)
    with binary, target.open("wb") as sink:
        chunks = _chunks(binary, key, size)
        while True:
            chunk = next(chunks, None)
            text = decoder.decode(chunk or b"", final=chunk is None)
            _sampled(sample, text)
            if pending_cr:
                text = "\r" + text
            # A CR at the end may be the first half of a CRLF split between reads.
            pending_cr = chunk is not None and text.endswith("\r")
            if pending_cr:
                text = text[:-1]
            data = text.replace("\r\n", "\n").replace("\r", "\n").encode("utf-8")
            facts.feed(data)
            sink.write(data)
            if chunk is None:
                break
    return facts.text(target, "utf-8", encoding, "".join(sample))


def prepare_text(local: Path, key: str, work_dir: Path, *, read_bytes: int = READ_BYTES) -> Text:
    """The file as UTF-8 text with LF line ends: the file itself when it already is (and is not
    gzipped), else a copy in ``work_dir``. Raises UnreadableFile as the reference path does.
    ``read_bytes``: the size of each read (tests use tiny reads to cross every boundary)."""
    binary, head = open_binary(local, key)
    binary.close()
    target = work_dir / TEXT_NAME
    gzipped = key.lower().endswith(".gz")
    for encoding in candidate_encodings(head):
        try:
            if encoding.startswith("utf-8") and not gzipped:
                try:
                    return _scan_in_place(local, key, encoding, read_bytes)
                except _CarriageReturns:
                    pass
            return _transcode(local, key, encoding, target, read_bytes)
        except UnicodeDecodeError:
            if encoding == "utf-16":
                raise UnreadableFile(f"{key}: starts like UTF-16 text but is not valid UTF-16") from None
            continue
    raise UnreadableFile(f"{key}: cannot be decoded as text")  # Latin-1 decodes any byte: unreachable
