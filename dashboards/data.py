"""Pure shaping of the final data for the dashboard: filters, counts, shares, lineage.

Why here and pure: every chart is computed from the per-movie output (``genre_classification``:
movie_id, title, year, genre with ``|``-joined lower-case genres, genre_class) so that the
sidebar's filters apply to all of them; and these functions take and return plain data frames
and dicts, so they are tested table-driven, without Streamlit or a bucket.

Counting rule, as in the SQL transforms: a movie counts once in each of its genres
(``action|comedy`` adds one to action and one to comedy); movies without a genre are left out
of genre counts, movies without a year out of year counts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd

from pipeline.runs import outcome

MOVIES_OUTPUT = "genre_classification"
MOVIE_COLUMNS = ("movie_id", "title", "year", "genre", "genre_class")
GENRE_SEPARATOR = "|"
OTHER = "other genres"
TOP_GENRES = 7
"""Charts that colour by genre show this many genres and group the rest: Okabe-Ito has 7 hues."""


@dataclass(frozen=True)
class Filters:
    """The sidebar's filters. ``years`` is an inclusive range, None for all years (movies
    without a year included); ``genres`` empty means every genre."""

    years: tuple[int, int] | None = None
    genres: tuple[str, ...] = ()


class NotMovieData(ValueError):
    """The per-movie output lacks columns the dashboard needs."""


def movies_frame(raw: pd.DataFrame) -> pd.DataFrame:
    """The per-movie output as read from its CSV, typed: year a nullable integer, genre lower-case
    text with ``|`` between genres (None when there is none)."""
    missing = [c for c in ("movie_id", "title", "year", "genre") if c not in raw.columns]
    if missing:
        raise NotMovieData(f"{MOVIES_OUTPUT} has no column(s) {', '.join(missing)}")
    movies = raw.copy()
    movies["year"] = pd.to_numeric(movies["year"], errors="coerce").astype("Int64")
    genres = movies["genre"].astype("string").str.strip().str.lower()
    movies["genre"] = genres.mask(genres == "", pd.NA)
    if "genre_class" not in movies.columns:
        movies["genre_class"] = pd.NA
    return movies


def genre_rows(movies: pd.DataFrame) -> pd.DataFrame:
    """One row per movie and genre (movie_id, title, year, genre); movies without a genre dropped."""
    rows = movies[["movie_id", "title", "year", "genre"]].dropna(subset=["genre"]).copy()
    rows["genre"] = rows["genre"].str.split(GENRE_SEPARATOR)
    rows = rows.explode("genre")
    rows["genre"] = rows["genre"].str.strip()
    return rows[rows["genre"] != ""].drop_duplicates(["movie_id", "genre"]).reset_index(drop=True)


def genres_by_count(movies: pd.DataFrame) -> list[str]:
    """Every genre of the data, the most frequent first (ties by name): the filter's options and
    the order colours are given in."""
    counts = genre_rows(movies)["genre"].value_counts()
    return sorted(counts.index, key=lambda genre: (-int(counts[genre]), genre))


def year_bounds(movies: pd.DataFrame) -> tuple[int, int] | None:
    years = movies["year"].dropna()
    return None if years.empty else (int(years.min()), int(years.max()))


def apply_filters(movies: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    """The movies inside the year range that have at least one of the chosen genres."""
    keep = pd.Series(True, index=movies.index)
    if filters.years is not None:
        low, high = filters.years
        keep &= movies["year"].between(low, high).fillna(False).astype(bool)
    if filters.genres:
        chosen = set(filters.genres)
        keep &= movies["genre"].map(
            lambda value: not pd.isna(value) and bool(chosen & set(str(value).split(GENRE_SEPARATOR)))
        )
    return movies[keep].reset_index(drop=True)


def filtered_genre_rows(movies: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    """Movie-genre rows of the filtered movies, only of the chosen genres."""
    rows = genre_rows(apply_filters(movies, filters))
    if filters.genres:
        rows = rows[rows["genre"].isin(filters.genres)]
    return rows.reset_index(drop=True)


def genre_counts(movies: pd.DataFrame, filters: Filters = Filters()) -> pd.DataFrame:
    """Movies per genre (genre, movies, share of all movie-genre pairs), most first, ties by name:
    the tutorial's main visual, and ``movies_per_genre`` when nothing is filtered."""
    rows = filtered_genre_rows(movies, filters)
    counts = rows.groupby("genre").size().rename("movies").reset_index()
    counts = counts.sort_values(["movies", "genre"], ascending=[False, True], ignore_index=True)
    counts["movies"] = counts["movies"].astype("int64")
    total = counts["movies"].sum()
    counts["share"] = (counts["movies"] / total).round(4) if total else 0.0
    return counts


def top_genres(counts: pd.DataFrame, top: int = TOP_GENRES) -> pd.DataFrame:
    """``counts`` with the genres after the first ``top`` summed into one "other genres" row,
    for charts that colour by genre (one colour each for at most ``top`` genres)."""
    if len(counts) <= top:
        return counts.reset_index(drop=True)
    head, rest = counts.iloc[:top], counts.iloc[top:]
    other = pd.DataFrame(
        {"genre": [OTHER], "movies": [int(rest["movies"].sum())], "share": [rest["share"].sum()]}
    )
    return pd.concat([head, other], ignore_index=True)


def _grouped(rows: pd.DataFrame, keep: Sequence[str]) -> pd.Series:
    """Each row's genre, or "other genres" when it is not among ``keep``."""
    return rows["genre"].where(rows["genre"].isin(keep), OTHER)


def per_year(movies: pd.DataFrame, filters: Filters = Filters(), top: int = TOP_GENRES) -> pd.DataFrame:
    """Movies per year and genre (year, genre, movies), the smaller genres grouped as "other"."""
    rows = filtered_genre_rows(movies, filters).dropna(subset=["year"])
    keep = list(genre_counts(movies, filters)["genre"])[:top]
    rows = rows.assign(genre=_grouped(rows, keep))
    out = rows.groupby(["year", "genre"]).size().rename("movies").reset_index()
    out["year"] = out["year"].astype("int64")
    return out.sort_values(["year", "movies", "genre"], ascending=[True, False, True], ignore_index=True)


def decade_label(decade: int) -> str:
    return f"{decade}s"


def per_decade(movies: pd.DataFrame, filters: Filters = Filters()) -> pd.DataFrame:
    """Movies per decade and genre (decade, decade_label, genre, movies): ``genres_by_decade``
    when nothing is filtered."""
    rows = filtered_genre_rows(movies, filters).dropna(subset=["year"])
    rows = rows.assign(decade=(rows["year"].astype("int64") // 10) * 10)
    out = rows.groupby(["decade", "genre"]).size().rename("movies").reset_index()
    out["decade_label"] = out["decade"].map(decade_label)
    out = out.sort_values(["decade", "movies", "genre"], ascending=[True, False, True], ignore_index=True)
    return out[["decade", "decade_label", "genre", "movies"]]


@dataclass(frozen=True)
class Overview:
    """The Overview page's tiles."""

    movies: int
    genres: int
    years: str
    last_update: str


def years_text(bounds: tuple[int, int] | None) -> str:
    if bounds is None:
        return "-"
    low, high = bounds
    return str(low) if low == high else f"{low} to {high}"


def when_text(moment: datetime | None) -> str:
    """Short enough for a tile: ``26 Nov 01:46`` (UTC, as S3 reports it)."""
    return "-" if moment is None else moment.strftime("%d %b %H:%M")


def overview(movies: pd.DataFrame, filters: Filters, last_update: datetime | None) -> Overview:
    shown = apply_filters(movies, filters)
    genres = filtered_genre_rows(movies, filters)["genre"].nunique()
    return Overview(len(shown), int(genres), years_text(year_bounds(shown)), when_text(last_update))


def search_rows(frame: pd.DataFrame, text: str) -> pd.DataFrame:
    """Rows where any cell contains ``text``, ignoring case; every row for blank text."""
    needle = text.strip().lower()
    if not needle:
        return frame
    cells = frame.astype("string").fillna("")
    hit = cells.apply(lambda column: column.str.lower().str.contains(needle, regex=False)).any(axis=1)
    return frame[hit].reset_index(drop=True)


def filter_output(frame: pd.DataFrame, filters: Filters) -> pd.DataFrame:
    """Any final output filtered by the columns it has: ``year`` by the year range, ``decade`` by
    decades overlapping it, ``genre`` (one or ``|``-joined) by the chosen genres."""
    keep = pd.Series(True, index=frame.index)
    if filters.years is not None:
        low, high = filters.years
        if "year" in frame.columns:
            keep &= (
                pd.to_numeric(frame["year"], errors="coerce").between(low, high).fillna(False).astype(bool)
            )
        elif "decade" in frame.columns:
            decade = pd.to_numeric(frame["decade"], errors="coerce")
            keep &= ((decade + 9 >= low) & (decade <= high)).fillna(False).astype(bool)
    if filters.genres and "genre" in frame.columns:
        chosen = set(filters.genres)
        keep &= frame["genre"].map(
            lambda value: not pd.isna(value) and bool(chosen & set(str(value).lower().split(GENRE_SEPARATOR)))
        )
    return frame[keep].reset_index(drop=True)


# --- Lineage: run records -> one row per raw object version ---------------------------------

LINEAGE_COLUMNS = (
    "started",
    "status",
    "raw",
    "rows_in",
    "rows_out",
    "rejected",
    "empty",
    "duplicate",
    "processed",
    "table",
    "outputs",
    "preprocess_s",
    "crawl_s",
    "transform_s",
    "error",
    "rejects",
    "run",
)
"""The Pipeline page's table, in reading order: the file, its rows, where they went, timings."""


def _uri(location: Mapping[str, Any] | None) -> str:
    if not location:
        return ""
    return f"s3://{location.get('bucket')}/{location.get('key')}"


def run_status(records: Mapping[str, Mapping[str, Any]]) -> tuple[str, str]:
    """(status, error) of one run from its stage records: ``ok`` after the transform stage,
    ``failed at <stage>``, ``retrying`` while Lambda retries, or ``running``. The rule is
    ``pipeline.runs.outcome``'s, the one ``csvpipe run`` and ``csvpipe status`` apply too."""
    result = outcome(records)
    return result.label, result.error


def _started(records: Mapping[str, Mapping[str, Any]]) -> str:
    """The run's first timestamp, ``2026-11-26T01:46:37.384Z`` shown as ``2026-11-26 01:46:37``."""
    times = [str(r.get("started_at") or r.get("at") or "") for r in records.values()]
    first = min((t for t in times if t), default="")
    return first.replace("T", " ")[:19]


def rows_text(count: Any) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def _updated(records: Mapping[str, Mapping[str, Any]]) -> str:
    times = [str(r.get("started_at") or r.get("at") or "") for r in records.values()]
    return max((t for t in times if t), default="")


def lineage_row(run: str, records: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One raw object version's way through the stages, from its run records."""
    pre = records.get("preprocess") or {}
    crawl = records.get("crawl") or {}
    transform = records.get("transform") or {}
    invoke = records.get("invoke") or {}
    rows = pre.get("rows") or {}
    status, error = run_status(records)
    table = ""
    if crawl.get("table"):
        table = f"{crawl.get('database')}.{crawl['table']} ({crawl.get('action')})"
    outputs = [f"{o['output']} ({rows_text(o.get('rows'))})" for o in transform.get("outputs", [])]
    return {
        "started": _started(records),
        "status": status,
        "raw": _uri(pre.get("source") or invoke.get("source")),
        "processed": _uri(pre.get("output")),
        "table": table,
        "outputs": ", ".join(outputs),
        "rows_in": rows.get("in"),
        "rows_out": rows.get("out"),
        "rejected": rows.get("rejected"),
        "empty": rows.get("empty"),
        "duplicate": rows.get("duplicate"),
        "rejects": _uri(pre.get("rejects")),
        "preprocess_s": pre.get("seconds"),
        "crawl_s": crawl.get("seconds"),
        "transform_s": transform.get("seconds"),
        "error": error,
        "run": run,
    }


def lineage(runs: Mapping[str, Mapping[str, Mapping[str, Any]]]) -> pd.DataFrame:
    """Every run as a lineage row, the newest first (by its latest stage record)."""
    ordered = sorted(runs.items(), key=lambda item: (_updated(item[1]), item[0]), reverse=True)
    rows = [lineage_row(run, records) for run, records in ordered]
    frame = pd.DataFrame(rows, columns=list(LINEAGE_COLUMNS))
    for column in ("rows_in", "rows_out", "rejected", "empty", "duplicate"):
        frame[column] = frame[column].astype("Int64")
    for column in ("preprocess_s", "crawl_s", "transform_s"):
        frame[column] = frame[column].astype("Float64")
    return frame


def _dot_text(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _node(name: str, lines: Iterable[str], fill: str) -> str:
    label = "\\n".join(_dot_text(line) for line in lines if line)
    return f'  {name} [label="{label}", fillcolor="{fill}"];'


OK_FILL, FAILED_FILL, PENDING_FILL = "#DCEBF7", "#F9D9C6", "#EEEEEE"


def lineage_dot(records: Mapping[str, Mapping[str, Any]]) -> str:
    """A Graphviz (DOT) picture of one run: raw -> processed -> table -> outputs, with row counts,
    seconds per stage, rejects and the failing stage's error."""
    pre = records.get("preprocess") or {}
    crawl = records.get("crawl") or {}
    transform = records.get("transform") or {}
    invoke = records.get("invoke") or {}
    rows = pre.get("rows") or {}
    status, error = run_status(records)
    failed_at = status.removeprefix("failed at ") if status.startswith("failed") else None
    short = error if len(error) <= 90 else error[:87] + "..."

    def fill(stage: str, record: Mapping[str, Any]) -> str:
        if failed_at == stage:
            return FAILED_FILL
        return OK_FILL if record else PENDING_FILL

    lines = [
        "digraph lineage {",
        "  rankdir=LR;",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=11];',
        '  edge [fontname="Helvetica", fontsize=10];',
        _node(
            "raw",
            ["raw", _uri(pre.get("source") or invoke.get("source")), rows_text(rows["in"]) if rows else ""],
            FAILED_FILL if failed_at == "invoke" else OK_FILL,
        ),
        _node(
            "processed",
            [
                "processed",
                _uri(pre.get("output")),
                f"{rows_text(rows['out'])}, {rows['rejected']} rejected" if rows else "",
                short if failed_at == "preprocess" else "",
            ],
            fill("preprocess", pre),
        ),
        _node(
            "table",
            [
                "table",
                f"{crawl.get('database')}.{crawl.get('table')}" if crawl.get("table") else "",
                f"{rows_text(crawl.get('record_count'))} ({crawl.get('action')})"
                if crawl.get("table")
                else "",
                short if failed_at == "crawl" else "",
            ],
            fill("crawl", crawl),
        ),
        f'  raw -> processed [label="preprocess {_seconds(pre)}"];',
        f'  processed -> table [label="crawl {_seconds(crawl)}"];',
    ]
    if rows.get("rejected"):
        rejected = ["rejects", _uri(pre.get("rejects")), rows_text(rows["rejected"])]
        lines.append(_node("rejects", rejected, FAILED_FILL))
        lines.append('  processed -> rejects [style=dashed, label="rejected"];')
    if transform:
        # The transform stage as a node of its own: one run feeds several outputs.
        stage = ["transform", _seconds(transform), short if failed_at == "transform" else ""]
        lines.append(
            _node("transform", stage, fill("transform", transform)).replace("];", ", shape=ellipse];")
        )
        lines.append("  table -> transform;")
    for index, output in enumerate(transform.get("outputs", [])):
        lines.append(_node(f"out{index}", [output["output"], rows_text(output.get("rows"))], OK_FILL))
        lines.append(f"  transform -> out{index};")
    lines.append("}")
    return "\n".join(lines)


def _seconds(record: Mapping[str, Any]) -> str:
    seconds = record.get("seconds")
    return "" if seconds is None else f"{float(seconds):.2f} s"
