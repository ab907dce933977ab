"""Deterministic generator of large, messy movie CSVs for the preprocessing benchmarks.

Why: the preprocessing Lambda has to clean a 1 GB upload within its memory, and that can only be
measured on a file of that size with the mess real exports have. Such files cannot be committed,
so they are regenerated, byte for byte, from a seed:

    python -m bench.generate --size 1GB --out bench/out/movies-1GB.csv

The file is shaped like ``data/samples/movies.csv`` (``movieId,title,genre``, MovieLens-style genres,
``Toy Story (1995)``, ``Adventure|Animation|Children``) with padded fields, exact duplicate rows
(about 2 %), rows that only become duplicates once cleaned, empty lines and lines of NA tokens,
NA tokens in cells, bad or missing years, quoted commas, doubled quotes, quoted line breaks,
mixed-case and repeated genres, and rows with the wrong number of fields. Sizes are decimal
(``1GB`` = 10**9 bytes); the file is cut at a row boundary just under the size.

Beside the file, ``<file>.expected.json`` holds the row accounting the generator knows it wrote
(records, empty, rejected, duplicate after cleaning, out) for the default movie rules, so a
benchmark can check every row was accounted for, not just that the counts add up.

How it stays fast (1 GB in seconds) and bounded in memory: a few templates of ``BLOCK_ROWS``
rows are planned once, each row as the text before its number, the number's offset in the block
and the text after it. The output is a sequence of blocks, each a seeded choice of template whose
offsets are added to the block's first id; joining them runs at C speed (``map``, ``zip``,
``str.join``), without Python code per row, and each block is written as soon as it is built.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
from dataclasses import asdict, dataclass
from itertools import chain
from pathlib import Path

HEADER = "movieId,title,genre\n"
BLOCK_ROWS = 8192  # rows per template; also the id stride between blocks
TEMPLATES = 8
DEFAULT_SEED = 1995
NUMBER = "\x00"  # where a row's number goes while a template is planned; never written

GENRES = (
    "Action",
    "Adventure",
    "Animation",
    "Children",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "IMAX",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
NO_GENRES = "(no genres listed)"
ADJECTIVES = (
    "Silent", "Last", "Lost", "Dark", "Golden", "Broken", "Hidden", "Little", "Wild", "Secret",
    "Crimson", "Midnight", "Eternal", "Frozen", "Electric", "Savage", "Quiet", "Burning", "Distant",
    "Iron", "Grumpier", "Sudden", "Lonely", "Paper", "Velvet",
)  # fmt: skip
NOUNS = (
    "River", "Garden", "City", "Heart", "Road", "Kingdom", "Summer", "Shadow", "Island", "Promise",
    "Station", "Empire", "Stranger", "Machine", "Harbor", "Mirror", "Planet", "Letter", "Witness",
    "Game", "Bride", "Train", "Exhale", "Sensibility", "Rooms",
)  # fmt: skip
FOREIGN = ("Cité des enfants perdus, La", "Amélie", "Señor Café", "Noël à Paris", "Ça commence", "Æon Flux")
SEQUELS = ("II", "III", "Part II", "2", "Returns", "Reloaded")
NA_TOKENS = ("NA", "N/A", "null", "-", "", "na", "Null")
EMPTY_LINES = ("\n", "   \n", ",,\n", "NA,N/A,null\n", " - , , \n", '"",,\n')

# Share of rows of each kind, per template row.
P_EXACT_DUPLICATE = 0.02
P_CLEANED_DUPLICATE = 0.005
P_WRONG_WIDTH = 0.003
P_EMPTY_AFTER = 0.01
P_MISSING_ID = 0.003

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*", re.IGNORECASE)
_UNITS = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9, "t": 10**12, "ki": 2**10, "mi": 2**20, "gi": 2**30}


def parse_size(text: str) -> int:
    """``50MB`` -> 50_000_000, ``1GB`` -> 10**9, ``1GiB`` -> 2**30, ``4096`` -> 4096 bytes."""
    match = _SIZE.fullmatch(text)
    unit = (match[2] or "").lower().removesuffix("b") if match else None
    if match is None or unit not in _UNITS:
        raise ValueError(f"not a size: {text!r} (examples: 4096, 200KB, 50MB, 1GB, 1GiB)")
    return int(float(match[1]) * _UNITS[unit])


def size_label(size: int) -> str:
    """The short decimal spelling of a size: 10**9 -> ``1GB``, 50_000_000 -> ``50MB``."""
    for suffix, factor in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if size >= factor and size % factor == 0:
            return f"{size // factor}{suffix}"
    return f"{size}B"


@dataclass
class Expected:
    """The row accounting of a generated file under the default movie rules."""

    size: int = 0
    seed: int = 0
    bytes: int = 0
    rows_in: int = 0
    rows_out: int = 0
    rows_rejected: int = 0
    rows_empty: int = 0
    rows_duplicate: int = 0

    def add(self, records: int, empty: int, rejected: int, duplicate: int) -> None:
        self.rows_in += records
        self.rows_empty += empty
        self.rows_rejected += rejected
        self.rows_duplicate += duplicate
        self.rows_out = self.rows_in - self.rows_empty - self.rows_rejected - self.rows_duplicate


@dataclass(frozen=True)
class _Movie:
    """A good row before it is written. Its number goes in the id, or in the title when the id is
    missing, so that rows stay distinct across blocks. None is a missing value (an NA token)."""

    missing_id: bool
    title: str | None  # contains NUMBER when the id is missing
    genres: tuple[str, ...] | None


@dataclass
class _Template:
    prefixes: list[str]
    offsets: list[int]
    suffixes: list[str]
    # Per row: records (the row and the empty lines after it), empty, rejected, duplicate.
    counts: list[tuple[int, int, int, int]]


def _field(text: str, rng: random.Random, pad: bool) -> str:
    """One CSV field, quoted when it must be (or sometimes when it need not), maybe padded."""
    if pad:
        text = " " * rng.randint(1, 3) + text + " " * rng.randint(0, 2)
    if any(c in text for c in ',"\n') or rng.random() < 0.03:
        return '"' + text.replace('"', '""') + '"'
    return text


def _title(rng: random.Random) -> str:
    adjective, noun = rng.choice(ADJECTIVES), rng.choice(NOUNS)
    roll = rng.random()
    if roll < 0.35:
        name = f"{adjective} {noun}"
    elif roll < 0.55:
        name = f"{adjective} {noun}, The"  # MovieLens moves the article: a quoted comma
    elif roll < 0.65:
        name = f"{noun} of the {adjective} {rng.choice(NOUNS)}"
    elif roll < 0.72:
        name = f"{adjective} {noun} {rng.choice(SEQUELS)}"
    elif roll < 0.78:
        name = f"{adjective} {noun} ({rng.choice(FOREIGN)})"
    elif roll < 0.83:
        name = f'The "{adjective}" {noun}'  # a quote inside: doubled when written
    elif roll < 0.8305:
        name = f"{adjective}\n{noun}"  # a line break inside a quoted title
    else:
        name = f"The {adjective} {noun}"
    year = rng.randint(1920, 2024)
    roll = rng.random()
    if roll < 0.03:
        return name  # no year
    if roll < 0.04:
        return f"{name} ({rng.choice(('19xx', '95', str(year) + '-', '0'))})"  # bad year
    if roll < 0.045:
        return f"{name} ({year}"  # unclosed
    return f"{name} ({year})"


def _genres(rng: random.Random) -> tuple[str, ...]:
    if rng.random() < 0.02:
        return (NO_GENRES,)
    return tuple(sorted(rng.sample(GENRES, rng.choice((1, 1, 2, 2, 3, 3, 4)))))


def _movie(rng: random.Random) -> _Movie:
    title, genres = _title(rng), _genres(rng)
    if rng.random() < P_MISSING_ID:
        head, _, tail = title.partition(" (")
        return _Movie(True, f"{head} #{NUMBER}" + (f" ({tail}" if tail else ""), genres)
    roll = rng.random()
    if roll < 0.004:
        return _Movie(False, None, genres)  # a missing title: the row is still kept
    if roll < 0.008:
        return _Movie(False, title, None)
    return _Movie(False, title, genres)


def _plain_title(rng: random.Random) -> str:
    return f"{rng.choice(ADJECTIVES)} {rng.choice(NOUNS)} ({rng.randint(1920, 2024)})"


def _genre_text(genres: tuple[str, ...], rng: random.Random, messy: bool) -> str:
    """``Action|Comedy``, or when messy the same genres after cleaning: ``ACTION | comedy|action``."""
    if not messy:
        return "|".join(genres)
    parts = [rng.choice((g, g.upper(), g.lower(), f" {g} ", g.swapcase())) for g in genres]
    if rng.random() < 0.3:
        parts.append(genres[0].lower())  # repeated value, kept once by the cleaning
    return "|".join(parts)


def _render(movie: _Movie, rng: random.Random, messy: bool) -> str:
    """A row with NUMBER where its number goes; messy renderings clean to the same cells."""
    if movie.missing_id:
        identifier = _field(rng.choice(NA_TOKENS), rng, pad=messy)
    else:
        identifier = (" " * rng.randint(1, 2) if messy else "") + NUMBER + (" " if messy else "")
    title = rng.choice(NA_TOKENS) if movie.title is None else movie.title
    genres = rng.choice(NA_TOKENS) if movie.genres is None else _genre_text(movie.genres, rng, messy)
    return f"{identifier},{_field(title, rng, pad=messy)},{_field(genres, rng, pad=messy)}\n"


def _wrong_width(rng: random.Random) -> str:
    title, genres = _plain_title(rng), "|".join(_genres(rng))
    return rng.choice(
        (
            f"{NUMBER},{title.replace(' (', ', The (')},{genres}\n",  # unquoted comma: 4 fields
            f"{NUMBER},{title}\n",  # genres missing: 2 fields
            f"{NUMBER},{_field(title, rng, pad=False)},{genres},\n",  # trailing delimiter: 4 fields
            f"{NUMBER},{title},{genres},extra,{rng.randint(1920, 2024)}\n",  # 5 fields
        )
    )


def _template(rng: random.Random) -> _Template:
    """One block of rows; each good row gets its own offset, duplicates reuse an earlier one."""
    template = _Template([], [], [], [])
    good: list[tuple[int, _Movie, str]] = []  # offset, movie, text
    offset = 0
    while len(template.offsets) < BLOCK_ROWS:
        roll = rng.random()
        if good and roll < P_EXACT_DUPLICATE:
            row_offset, _, text = rng.choice(good[-200:])
            counts = (1, 0, 0, 1)
        elif good and roll < P_EXACT_DUPLICATE + P_CLEANED_DUPLICATE:
            row_offset, movie, _ = rng.choice(good[-200:])
            text, counts = _render(movie, rng, messy=True), (1, 0, 0, 1)
        elif roll < P_EXACT_DUPLICATE + P_CLEANED_DUPLICATE + P_WRONG_WIDTH:
            row_offset, text, counts = offset, _wrong_width(rng), (1, 0, 1, 0)
            offset += 1
        else:
            movie = _movie(rng)
            row_offset, text, counts = offset, _render(movie, rng, messy=rng.random() < 0.08), (1, 0, 0, 0)
            good.append((row_offset, movie, text))
            offset += 1
        if rng.random() < P_EMPTY_AFTER:
            text += rng.choice(EMPTY_LINES)
            counts = (counts[0] + 1, counts[1] + 1, counts[2], counts[3])
        prefix, suffix = text.split(NUMBER)
        template.prefixes.append(prefix)
        template.offsets.append(row_offset)
        template.suffixes.append(suffix)
        template.counts.append(counts)
    return template


def _block(template: _Template, first_id: int, rows: int = BLOCK_ROWS) -> str:
    ids = map(str, map(first_id.__add__, template.offsets[:rows]))
    rows_of_pieces = zip(template.prefixes[:rows], ids, template.suffixes[:rows], strict=True)
    return "".join(chain.from_iterable(rows_of_pieces))


def generate(out: Path, size: int, seed: int = DEFAULT_SEED) -> Expected:
    """Write a file of at most ``size`` bytes (the header and whole rows) to ``out`` and its
    expected accounting beside it; returns that accounting."""
    rng = random.Random(seed)
    templates = [_template(rng) for _ in range(TEMPLATES)]
    totals = [tuple(map(sum, zip(*t.counts, strict=True))) for t in templates]
    expected = Expected(size=size, seed=seed)
    header = HEADER.encode()
    if size < len(header):
        raise ValueError(f"size {size} is smaller than the header")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(out.name + ".partial")
    with partial.open("wb") as sink:
        sink.write(header)
        written, block_index = len(header), 0
        while True:
            choice = rng.randrange(TEMPLATES)
            template, first_id = templates[choice], 1 + block_index * BLOCK_ROWS
            data = _block(template, first_id).encode()
            if written + len(data) > size:
                break
            sink.write(data)
            written += len(data)
            expected.add(*totals[choice])
            block_index += 1
        # The last block, cut at the last whole row that fits.
        rows, room = 0, size - written
        pieces = zip(template.prefixes, template.offsets, template.suffixes, strict=True)
        for prefix, offset, suffix in pieces:
            length = len(prefix.encode()) + len(str(first_id + offset)) + len(suffix.encode())
            if length > room:
                break
            room -= length
            rows += 1
        data = _block(template, first_id, rows).encode()
        sink.write(data)
        written += len(data)
        for counts in template.counts[:rows]:
            expected.add(*counts)
    expected.bytes = written
    partial.replace(out)
    expected_path(out).write_text(json.dumps(asdict(expected), indent=2) + "\n", encoding="utf-8")
    return expected


def expected_path(csv_path: Path) -> Path:
    return csv_path.with_name(csv_path.name + ".expected.json")


def read_expected(csv_path: Path) -> Expected | None:
    """The generator's accounting for ``csv_path``, when it was generated here."""
    path = expected_path(csv_path)
    if not path.is_file():
        return None
    return Expected(**json.loads(path.read_text(encoding="utf-8")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.generate",
        description="Write a deterministic, messy movies CSV of a given size (and its expected row "
        "accounting in <out>.expected.json).",
    )
    parser.add_argument("--size", default="100MB", help="decimal size: 200KB, 50MB, 1GB (default 100MB)")
    parser.add_argument("--out", type=Path, help="the CSV to write (default bench/out/movies-<size>.csv)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help=f"default {DEFAULT_SEED}")
    args = parser.parse_args(argv)
    try:
        size = parse_size(args.size)
    except ValueError as exc:
        parser.error(str(exc))
    out = args.out or Path("bench/out") / f"movies-{size_label(size)}.csv"
    started = time.perf_counter()
    expected = generate(out, size, args.seed)
    seconds = time.perf_counter() - started
    print(
        f"wrote {out}: {expected.bytes:,} bytes, {expected.rows_in:,} records "
        f"({expected.rows_duplicate:,} duplicate, {expected.rows_empty:,} empty, "
        f"{expected.rows_rejected:,} wrong width) in {seconds:.1f} s "
        f"({expected.bytes / 1e6 / max(seconds, 1e-9):.0f} MB/s), seed {args.seed}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
