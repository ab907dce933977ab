"""Each page of the dashboard in Streamlit's AppTest, against the real moto server, on final data
made by the real pipeline stages (see final_data.py): tiles, charts and their data, filters,
search, the lineage of runs, and new data showing up on the next run of the app."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from dashboards import APP_PATH, charts
from emulators.aws_emulator import AwsEmulator
from pipeline.aws import Clients
from pipeline.provision import provision
from pipeline.settings import Settings
from tests.conftest import SAMPLE, SAMPLE_GENRE_COUNTS, make_settings
from tests.functional.final_data import WESTERNS, produce

# Every test here takes a second or more on a 2-core machine: left out of the quick tier.
pytestmark = pytest.mark.slow

PAGES = ("overview", "genres", "trends", "table", "lineage")


def unique_settings(emulator: AwsEmulator, home: Path, name: str) -> Settings:
    return make_settings(
        home / "data",
        emulator.port,
        raw_bucket=f"raw-{name}",
        processed_bucket=f"processed-{name}",
        final_bucket=f"final-{name}",
        queue_name=f"events-{name}",
        glue_database=f"db_{name.replace('-', '_')}",
    )


@pytest.fixture(scope="module")
def sample(emulator: AwsEmulator, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The sample, run through every stage once for the module."""
    settings = unique_settings(emulator, tmp_path_factory.mktemp("sample"), "dash-sample")
    produce(settings, [("movies/movies.csv", SAMPLE.read_bytes())])
    return settings


@pytest.fixture(scope="module")
def mixed(emulator: AwsEmulator, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """The sample, three westerns of other years with a rejected row, and a binary file."""
    settings = unique_settings(emulator, tmp_path_factory.mktemp("mixed"), "dash-mixed")
    produce(
        settings,
        [
            ("movies/movies.csv", SAMPLE.read_bytes()),
            ("movies/westerns.csv", WESTERNS),
            ("broken/broken.csv", b"\x00\x01\x02binary"),
        ],
    )
    return settings


@pytest.fixture(scope="module")
def empty(emulator: AwsEmulator, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Buckets created, nothing uploaded yet."""
    settings = unique_settings(emulator, tmp_path_factory.mktemp("empty"), "dash-empty")
    provision(Clients(settings))
    return settings


def open_app(monkeypatch: pytest.MonkeyPatch, settings: Settings, page: str = "overview") -> AppTest:
    """The app as ``csvpipe dashboard`` starts it (settings from CSVPIPE_*), on ``page``."""
    for name, value in settings.as_env().items():
        monkeypatch.setenv(name, value)
    app = AppTest.from_file(str(APP_PATH), default_timeout=30).run()
    if page != "overview":
        app.switch_page(f"views/{page}.py").run()
    assert not app.exception, app.exception
    return app


def charts_of(app: AppTest) -> list[tuple[dict[str, Any], dict[str, list[Any]]]]:
    """Each Vega-Lite chart on the page: (spec, the data it plots)."""
    found = []
    for chart in app.get("vega_lite_chart"):
        (dataset,) = chart.proto.datasets
        found.append(
            (json.loads(chart.proto.spec), pa.ipc.open_stream(dataset.data.data).read_all().to_pydict())
        )
    return found


def pairs(plotted: dict[str, list[Any]], key: str = "genre", value: str = "movies") -> dict[Any, Any]:
    return dict(zip(plotted[key], plotted[value], strict=True))


def test_overview_shows_tiles_and_the_main_visual(monkeypatch: pytest.MonkeyPatch, sample: Settings) -> None:
    app = open_app(monkeypatch, sample)
    tiles = {metric.label: metric.value for metric in app.metric}
    assert {k: v for k, v in tiles.items() if k != "Last update (UTC)"} == {
        "Movies": "30",
        "Genres": "7",
        "Years covered": "1995",
    }
    assert re.fullmatch(r"\d\d [A-Z][a-z]{2} \d\d:\d\d", tiles["Last update (UTC)"])
    ((spec, plotted),) = charts_of(app)
    bars, labels = spec["layer"]
    assert bars["mark"]["type"] == "bar" and labels["mark"]["type"] == "text"
    assert bars["encoding"]["y"]["field"] == "genre" and bars["encoding"]["y"]["sort"] == "-x"
    assert pairs(plotted) == SAMPLE_GENRE_COUNTS
    assert list(plotted["movies"]) == sorted(plotted["movies"], reverse=True)
    table = app.dataframe[0].value
    assert pairs({c: list(table[c]) for c in table.columns}) == SAMPLE_GENRE_COUNTS


def test_genres_page_has_bars_donut_and_table(monkeypatch: pytest.MonkeyPatch, sample: Settings) -> None:
    app = open_app(monkeypatch, sample, "genres")
    assert app.title[0].value == "Genres"
    (_, bars), (donut_spec, donut) = charts_of(app)
    assert pairs(bars) == SAMPLE_GENRE_COUNTS
    arcs = donut_spec["layer"][0]
    assert arcs["mark"]["type"] == "arc" and arcs["mark"]["innerRadius"] > 0
    assert pairs(donut) == SAMPLE_GENRE_COUNTS
    assert sum(donut["share"]) == pytest.approx(1.0, abs=1e-3)
    assert arcs["encoding"]["color"]["scale"]["range"] == list(charts.OKABE_ITO)
    table = app.dataframe[0].value
    assert list(table.columns) == ["genre", "movies", "share"]
    assert dict(zip(table["genre"], table["share"], strict=True))["comedy"] == pytest.approx(7 / 30, abs=1e-4)


def test_trends_page_per_year_and_per_decade(monkeypatch: pytest.MonkeyPatch, sample: Settings) -> None:
    app = open_app(monkeypatch, sample, "trends")
    (year_spec, years), (decade_spec, decades) = charts_of(app)
    assert (
        year_spec["encoding"]["x"]["field"] == "year" and year_spec["encoding"]["color"]["field"] == "genre"
    )
    assert set(years["year"]) == {1995} and pairs(years) == SAMPLE_GENRE_COUNTS
    assert decade_spec["layer"][0]["mark"]["type"] == "rect"
    assert set(decades["decade_label"]) == {"1990s"} and pairs(decades) == SAMPLE_GENRE_COUNTS


def test_data_page_searches_sorts_and_offers_csv(monkeypatch: pytest.MonkeyPatch, sample: Settings) -> None:
    app = open_app(monkeypatch, sample, "table")
    assert app.selectbox(key="output").value == "genre_classification"
    assert len(app.dataframe[0].value) == 30
    assert app.caption[0].value.startswith("30 of 30 rows")
    app.text_input(key="search").input("toy STORY").run()
    (row,) = app.dataframe[0].value.to_dict("records")
    assert row["title"] == "Toy Story (1995)" and row["genre_class"] == "action & adventure"
    assert app.caption[0].value.startswith("1 of 30 rows")
    app.text_input(key="search").input("").run()
    app.selectbox(key="output").select("movies_per_genre").run()
    table = app.dataframe[0].value
    assert pairs({c: list(table[c]) for c in table.columns}) == SAMPLE_GENRE_COUNTS
    (download,) = app.get("download_button")
    assert download.proto.label == "Download CSV"


def test_filters_apply_to_every_chart(monkeypatch: pytest.MonkeyPatch, sample: Settings) -> None:
    app = open_app(monkeypatch, sample)
    app.sidebar.multiselect(key="genres").set_value(["action", "comedy"]).run()
    expected = {"action": 6, "comedy": 7}
    assert app.metric[0].value == "13" and app.metric[1].value == "2"
    assert pairs(charts_of(app)[0][1]) == expected
    app.switch_page("views/genres.py").run()
    assert [pairs(plotted) for _, plotted in charts_of(app)] == [expected, expected]
    app.switch_page("views/trends.py").run()
    assert [pairs(plotted) for _, plotted in charts_of(app)] == [expected, expected]
    app.switch_page("views/table.py").run()
    shown = app.dataframe[0].value
    assert len(shown) == 13 and set(shown["genre"]) == {"action", "comedy"}


def test_year_range_filters_and_trends_span_the_years(
    monkeypatch: pytest.MonkeyPatch, mixed: Settings
) -> None:
    app = open_app(monkeypatch, mixed, "trends")
    years = charts_of(app)[0][1]
    assert sorted(set(years["year"])) == [1992, 1993, 1995, 2003]
    slider = app.sidebar.slider(key="years")
    assert (slider.min, slider.max) == (1992, 2003)
    slider.set_value((1992, 1999)).run()
    ((_, years), (_, decades)) = charts_of(app)
    assert sorted(set(years["year"])) == [1992, 1993, 1995]
    assert pairs(decades) == {**SAMPLE_GENRE_COUNTS, "western": 2, "drama": 8, "action": 7}
    app.switch_page("views/overview.py").run()
    assert app.metric[0].value == "32" and app.metric[2].value == "1992 to 1995"


def test_pipeline_page_shows_each_file_newest_first(monkeypatch: pytest.MonkeyPatch, mixed: Settings) -> None:
    app = open_app(monkeypatch, mixed, "lineage")
    runs = app.dataframe[0].value
    assert list(runs["raw"]) == [
        f"s3://{mixed.raw_bucket}/broken/broken.csv",
        f"s3://{mixed.raw_bucket}/movies/westerns.csv",
        f"s3://{mixed.raw_bucket}/movies/movies.csv",
    ]
    broken, westerns, sample = runs.to_dict("records")
    assert broken["status"] == "failed at preprocess" and "binary content" in broken["error"]
    assert (westerns["rows_in"], westerns["rows_out"], westerns["rejected"]) == (4, 3, 1)
    assert westerns["rejects"] == f"s3://{mixed.processed_bucket}/_rejects/movies/westerns.csv"
    assert westerns["status"] == "ok" and westerns["table"].endswith("(update)")
    assert sample["status"] == "ok" and sample["table"] == f"{mixed.glue_database}.movies (create)"
    assert "movies_per_genre (7 rows)" in sample["outputs"]
    assert all(sample[f"{stage}_s"] >= 0 for stage in ("preprocess", "crawl", "transform"))
    (graph,) = app.get("graphviz_chart")
    assert "raw -> processed" in graph.proto.spec and "binary content" in graph.proto.spec
    app.selectbox(key="run").select(sample["run"]).run()
    (graph,) = app.get("graphviz_chart")
    assert "transform -> out" in graph.proto.spec and "movies_per_genre" in graph.proto.spec


@pytest.mark.parametrize("page", PAGES)
def test_every_page_has_an_empty_state(monkeypatch: pytest.MonkeyPatch, empty: Settings, page: str) -> None:
    app = open_app(monkeypatch, empty, page)
    expected = "No runs yet" if page == "lineage" else "No data yet"
    assert expected in app.info[0].value
    assert not app.get("vega_lite_chart") and not app.dataframe


def test_new_and_replaced_data_show_on_the_next_run(
    monkeypatch: pytest.MonkeyPatch, settings: Settings
) -> None:
    """The watcher reruns the app when the bucket's listing changes (checked in the browser test);
    here: a rerun shows new data and never a cached copy of a replaced object."""
    provision(Clients(settings))
    app = open_app(monkeypatch, settings)
    assert "No data yet" in app.info[0].value
    produce(settings, [("movies/movies.csv", SAMPLE.read_bytes())])
    app.run()
    assert pairs(charts_of(app)[0][1]) == SAMPLE_GENRE_COUNTS
    produce(settings, [("movies/westerns.csv", WESTERNS)])
    app.run()
    assert pairs(charts_of(app)[0][1]) == {**SAMPLE_GENRE_COUNTS, "western": 3, "drama": 8, "action": 7}
    assert app.metric[0].value == "33" and app.sidebar.slider(key="years").value == (1992, 2003)
    # A year range left at its full width widens with the data; a narrowed one stays.
    produce(settings, [("movies/classic.csv", b"movieId,title,genre\n201,Rio Bravo (1959),Western\n")])
    app.run()
    assert app.metric[0].value == "34" and app.sidebar.slider(key="years").value == (1959, 2003)
    app.sidebar.slider(key="years").set_value((1990, 2003)).run()
    produce(settings, [("movies/new.csv", b"movieId,title,genre\n202,Dune (2021),Adventure\n")])
    app.run()
    assert app.sidebar.slider(key="years").value == (1990, 2003) and app.metric[0].value == "33"


def test_a_missing_bucket_is_a_clear_message(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    app = open_app(monkeypatch, settings)  # nothing provisioned: the buckets do not exist
    (error,) = app.error
    assert f"The bucket s3://{settings.final_bucket} does not exist" in error.value
    assert "csvpipe up --detach" in error.value
