"""Unit tests of the dashboard's pure shaping (dashboards.data) and chart specs (dashboards.charts):
table-driven, on small frames written out here."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest

from dashboards import APP_PATH, charts, data, serve_command, serve_environment
from dashboards.data import Filters
from pipeline.settings import load_settings

MOVIES = data.movies_frame(
    pd.DataFrame(
        {
            "movie_id": [1, 2, 3, 4, 5, 6],
            "title": ["Heat", "Up", "Amélie", "Alien", "Nameless", "Undated"],
            "year": [1995, 2009, 2001, 1979, 1995, None],
            "genre": ["action|crime", "children|comedy", "comedy|romance", "horror", None, "Drama"],
            "genre_class": [
                "action & adventure",
                "family",
                "comedy",
                "horror & thriller",
                "unknown",
                "drama",
            ],
        }
    )
)


def counts_of(frame: pd.DataFrame) -> dict[str, int]:
    return dict(zip(frame["genre"], frame["movies"], strict=True))


def test_movies_frame_types_years_and_normalises_genres() -> None:
    raw = pd.DataFrame(
        {"movie_id": [1, 2], "title": ["a", "b"], "year": ["1995", "n/a"], "genre": [" Action ", ""]}
    )
    movies = data.movies_frame(raw)
    assert movies["year"].dtype == "Int64" and movies["year"].isna().tolist() == [False, True]
    assert movies["genre"].tolist()[0] == "action" and pd.isna(movies["genre"].tolist()[1])
    assert "genre_class" in movies.columns


def test_movies_frame_names_missing_columns() -> None:
    with pytest.raises(data.NotMovieData, match="no column\\(s\\) year, genre"):
        data.movies_frame(pd.DataFrame({"movie_id": [1], "title": ["a"]}))


def test_genre_rows_explode_each_movie_once_per_genre() -> None:
    rows = data.genre_rows(MOVIES)
    assert sorted(zip(rows["movie_id"], rows["genre"], strict=True)) == [
        (1, "action"),
        (1, "crime"),
        (2, "children"),
        (2, "comedy"),
        (3, "comedy"),
        (3, "romance"),
        (4, "horror"),
        (6, "drama"),
    ]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (
            Filters(),
            {"comedy": 2, "action": 1, "children": 1, "crime": 1, "drama": 1, "horror": 1, "romance": 1},
        ),
        (Filters(years=(1990, 2002)), {"action": 1, "comedy": 1, "crime": 1, "romance": 1}),
        (Filters(genres=("comedy",)), {"comedy": 2}),
        (Filters(genres=("comedy", "crime")), {"comedy": 2, "crime": 1}),
        (Filters(years=(2005, 2010), genres=("comedy",)), {"comedy": 1}),
        (Filters(years=(1960, 1970)), {}),
        (Filters(genres=("western",)), {}),
    ],
    ids=["all", "years", "one-genre", "two-genres", "both", "no-year-matches", "unknown-genre"],
)
def test_genre_counts_apply_the_filters(filters: Filters, expected: dict[str, int]) -> None:
    counts = data.genre_counts(MOVIES, filters)
    assert counts_of(counts) == expected
    # Most first, ties by name; shares of the pairs shown.
    assert list(counts["genre"]) == sorted(expected, key=lambda g: (-expected[g], g))
    if expected:
        assert counts["share"].sum() == pytest.approx(1.0, abs=1e-3)


@pytest.mark.parametrize(
    ("filters", "movie_ids"),
    [
        (Filters(), [1, 2, 3, 4, 5, 6]),
        (Filters(years=(1995, 2001)), [1, 3, 5]),  # movies without a year drop out of a narrowed range
        (Filters(genres=("comedy",)), [2, 3]),
        (Filters(genres=("crime", "horror")), [1, 4]),
    ],
)
def test_apply_filters_keeps_movies_with_any_chosen_genre(filters: Filters, movie_ids: list[int]) -> None:
    assert data.apply_filters(MOVIES, filters)["movie_id"].tolist() == movie_ids


def test_genres_by_count_and_year_bounds() -> None:
    assert data.genres_by_count(MOVIES) == [
        "comedy",
        "action",
        "children",
        "crime",
        "drama",
        "horror",
        "romance",
    ]
    assert data.year_bounds(MOVIES) == (1979, 2009)
    assert data.year_bounds(MOVIES[MOVIES["year"].isna()]) is None


@pytest.mark.parametrize(
    ("genres", "top", "expected"),
    [
        (["a", "b"], 2, ["a", "b"]),
        (["a", "b", "c"], 2, ["a", "b", data.OTHER]),
        (["a", "b", "c", "d"], 3, ["a", "b", "c", data.OTHER]),
    ],
)
def test_top_genres_groups_the_rest(genres: list[str], top: int, expected: list[str]) -> None:
    counts = pd.DataFrame({"genre": genres, "movies": range(len(genres), 0, -1), "share": 0.25})
    grouped = data.top_genres(counts, top)
    assert list(grouped["genre"]) == expected
    assert grouped["movies"].sum() == counts["movies"].sum()


def test_per_year_and_per_decade() -> None:
    years = data.per_year(MOVIES)
    assert list(zip(years["year"], years["genre"], years["movies"], strict=True))[:3] == [
        (1979, "horror", 1),
        (1995, "action", 1),
        (1995, "crime", 1),
    ]
    grouped = data.per_year(MOVIES, top=1)
    assert set(grouped["genre"]) == {"comedy", data.OTHER}
    decades = data.per_decade(MOVIES, Filters(genres=("comedy",)))
    assert decades.to_dict("records") == [
        {"decade": 2000, "decade_label": "2000s", "genre": "comedy", "movies": 2},
    ]


@pytest.mark.parametrize(
    ("filters", "movies", "genres", "years"),
    [
        (Filters(), 6, 7, "1979 to 2009"),
        (Filters(years=(1995, 1995)), 2, 2, "1995"),
        (Filters(genres=("horror",)), 1, 1, "1979"),
        (Filters(genres=("western",)), 0, 0, "-"),
    ],
)
def test_overview_tiles(filters: Filters, movies: int, genres: int, years: str) -> None:
    moment = datetime(2026, 11, 26, 1, 46, 37, tzinfo=UTC)
    tiles = data.overview(MOVIES, filters, moment)
    assert (tiles.movies, tiles.genres, tiles.years, tiles.last_update) == (
        movies,
        genres,
        years,
        "26 Nov 01:46",
    )
    assert data.overview(MOVIES, filters, None).last_update == "-"


@pytest.mark.parametrize(
    ("text", "titles"),
    [
        ("", ["Heat", "Up", "Amélie", "Alien", "Nameless", "Undated"]),
        ("  ", ["Heat", "Up", "Amélie", "Alien", "Nameless", "Undated"]),
        ("AMÉ", ["Amélie"]),
        ("comedy", ["Up", "Amélie"]),
        ("2009", ["Up"]),
        ("a|b", []),  # text, not a pattern
    ],
)
def test_search_rows_matches_any_cell_ignoring_case(text: str, titles: list[str]) -> None:
    assert data.search_rows(MOVIES, text)["title"].tolist() == titles


@pytest.mark.parametrize(
    ("frame", "filters", "kept"),
    [
        (pd.DataFrame({"year": [1990, 1995, 2000]}), Filters(years=(1994, 1999)), [1]),
        (pd.DataFrame({"decade": [1980, 1990, 2000]}), Filters(years=(1995, 2001)), [1, 2]),
        (pd.DataFrame({"genre": ["action", "comedy", "action|comedy"]}), Filters(genres=("action",)), [0, 2]),
        (pd.DataFrame({"genre_class": ["x"], "movies": [3]}), Filters(years=(1, 2), genres=("a",)), [0]),
    ],
    ids=["year", "decade", "genre", "no-filterable-column"],
)
def test_filter_output_uses_the_columns_an_output_has(
    frame: pd.DataFrame, filters: Filters, kept: list[int]
) -> None:
    assert data.filter_output(frame.assign(row=range(len(frame))), filters)["row"].tolist() == kept


# --- lineage ---------------------------------------------------------------------------------

PRE_OK = {
    "status": "ok",
    "started_at": "2026-11-26T01:46:37.384Z",
    "seconds": 0.05,
    "source": {"bucket": "raw", "key": "movies/a.csv"},
    "output": {"bucket": "processed", "key": "movies/a.csv"},
    "rejects": {"bucket": "processed", "key": "_rejects/movies/a.csv"},
    "rows": {"in": 5, "out": 3, "rejected": 1, "empty": 1, "duplicate": 0},
}
CRAWL_OK = {
    "status": "ok",
    "started_at": "2026-11-26T01:46:37.500Z",
    "seconds": 0.07,
    "database": "csvpipe",
    "table": "movies",
    "action": "create",
    "record_count": 3,
}
TRANSFORM_OK = {
    "status": "ok",
    "started_at": "2026-11-26T01:46:37.600Z",
    "seconds": 0.11,
    "outputs": [{"output": "movies_per_genre", "rows": 7, "seconds": 0.03}, {"output": "one", "rows": 1}],
}


@pytest.mark.parametrize(
    ("records", "status", "error"),
    [
        ({"preprocess": PRE_OK, "crawl": CRAWL_OK, "transform": TRANSFORM_OK}, "ok", ""),
        ({"preprocess": PRE_OK}, "running", ""),
        (
            {"preprocess": {"status": "failed", "error": "x.csv: binary content"}},
            "failed at preprocess",
            "x.csv: binary content",
        ),
        (
            {"preprocess": PRE_OK, "crawl": {"status": "failed", "error": "no data"}},
            "failed at crawl",
            "no data",
        ),
        (
            {
                "preprocess": PRE_OK,
                "crawl": CRAWL_OK,
                "transform": {"status": "failed", "errors": [{"transform": "t", "error": "t.sql: bad"}]},
            },
            "failed at transform",
            "t.sql: bad",
        ),
        (
            {"invoke": {"will_retry": True, "error_type": "Timeout", "error": "slow"}},
            "retrying",
            "Timeout: slow (will be retried)",
        ),
        (
            {"invoke": {"will_retry": False, "error_type": "Boom", "error": "x"}},
            "failed at invoke",
            "Boom: x (sent to the dead-letter queue: see `csvpipe dlq list`)",
        ),
    ],
    ids=["ok", "running", "preprocess", "crawl", "transform", "retrying", "dead-letter"],
)
def test_run_status(records: dict, status: str, error: str) -> None:
    assert data.run_status(records) == (status, error)


def test_lineage_rows_newest_first_with_counts_and_timings() -> None:
    older = {"preprocess": {**PRE_OK, "started_at": "2026-11-25T10:00:00.000Z"}}
    newer = {"preprocess": PRE_OK, "crawl": CRAWL_OK, "transform": TRANSFORM_OK}
    frame = data.lineage({"old": older, "new": newer})
    assert frame["run"].tolist() == ["new", "old"]
    assert list(frame.columns) == list(data.LINEAGE_COLUMNS)
    row = frame.iloc[0].to_dict()
    assert row["started"] == "2026-11-26 01:46:37"
    assert row["raw"] == "s3://raw/movies/a.csv" and row["processed"] == "s3://processed/movies/a.csv"
    assert row["table"] == "csvpipe.movies (create)"
    assert row["outputs"] == "movies_per_genre (7 rows), one (1 row)"
    assert (row["rows_in"], row["rows_out"], row["rejected"], row["empty"], row["duplicate"]) == (
        5,
        3,
        1,
        1,
        0,
    )
    assert row["rejects"] == "s3://processed/_rejects/movies/a.csv"
    assert (row["preprocess_s"], row["crawl_s"], row["transform_s"]) == (0.05, 0.07, 0.11)
    assert frame.iloc[1]["status"] == "running"


def test_lineage_dot_draws_the_stages_and_the_failure() -> None:
    dot = data.lineage_dot({"preprocess": PRE_OK, "crawl": CRAWL_OK, "transform": TRANSFORM_OK})
    assert dot.startswith("digraph lineage {") and dot.endswith("}")
    for edge in (
        "raw -> processed",
        "processed -> table",
        "table -> transform",
        "transform -> out0",
        "transform -> out1",
    ):
        assert edge in dot
    assert "processed -> rejects" in dot and "s3://processed/_rejects/movies/a.csv" in dot
    assert 'label="preprocess 0.05 s"' in dot and "movies_per_genre\\n7 rows" in dot

    failed = data.lineage_dot(
        {"preprocess": {"status": "failed", "error": 'x.csv: a "quoted" reason', "source": PRE_OK["source"]}}
    )
    assert 'a \\"quoted\\" reason' in failed and data.FAILED_FILL in failed
    assert "transform" not in failed


# --- charts ----------------------------------------------------------------------------------


def test_genre_colours_follow_okabe_ito_and_grey_for_other() -> None:
    scale = charts.genre_colours(["comedy", "drama", data.OTHER]).to_dict()
    assert scale["domain"] == ["comedy", "drama", data.OTHER]
    assert scale["range"] == [charts.OKABE_ITO[0], charts.OKABE_ITO[1], charts.OTHER_COLOUR]


def test_genre_bars_are_horizontal_sorted_and_labelled() -> None:
    counts = data.genre_counts(MOVIES)
    spec = charts.genre_bars(counts).to_dict()
    bars, labels = spec["layer"]
    assert bars["mark"]["type"] == "bar" and labels["mark"]["type"] == "text"
    assert bars["encoding"]["y"] == {**bars["encoding"]["y"], "field": "genre", "sort": "-x"}
    assert bars["encoding"]["x"]["field"] == "movies" and labels["encoding"]["text"]["field"] == "movies"
    assert spec["height"] == charts.AXIS_PIXELS + charts.ROW_PIXELS * len(counts)


def test_serve_command_and_environment_carry_the_settings() -> None:
    settings = load_settings(environ={"CSVPIPE_EMULATOR_PORT": "4600", "CSVPIPE_DASHBOARD_PORT": "8600"})
    command = serve_command(settings)
    assert command[1:5] == ["-m", "streamlit", "run", str(APP_PATH)]
    options = dict(zip(command[5::2], command[6::2], strict=True))
    assert options["--server.address"] == "127.0.0.1" and options["--server.port"] == "8600"
    assert options["--server.headless"] == "true" and options["--browser.gatherUsageStats"] == "false"
    assert (
        dict(zip(serve_command(settings, 9000)[5::2], serve_command(settings, 9000)[6::2], strict=True))[
            "--server.port"
        ]
        == "9000"
    )
    env = serve_environment(settings)
    assert env["CSVPIPE_ENDPOINT_URL"] == "http://127.0.0.1:4600" and env["CSVPIPE_PROFILE"] == "local"
