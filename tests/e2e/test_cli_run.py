"""The main job as a user runs it: ``csvpipe run`` on the sample, then status, the dashboard's
logic in Streamlit's AppTest, and down, all through the real CLI and a real local stack."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pytest
from streamlit.testing.v1 import AppTest

from dashboards import APP_PATH
from pipeline.aws import Clients
from tests.conftest import SAMPLE, SAMPLE_GENRE_COUNTS, cli, free_port, make_settings

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A user's folder and environment with its own port; the stack is stopped at the end."""
    home = tmp_path_factory.mktemp("user")
    env = {"CSVPIPE_EMULATOR_PORT": str(free_port())}
    yield home, env
    cli("down", cwd=home, env=env)


@pytest.fixture(scope="module")
def first_run(workspace: tuple[Path, dict[str, str]]):
    home, env = workspace
    return cli("run", str(SAMPLE), cwd=home, env=env)


def test_run_prints_exact_genre_counts(first_run) -> None:
    assert first_run.returncode == 0, first_run.stderr + first_run.stdout
    out = first_run.stdout
    assert "local stack started" in out
    assert "rows: 30 in, 30 out, 0 rejected, 0 empty, 0 duplicate" in out
    assert "table: csvpipe.movies (create): movie_id bigint, title string, genre string, year bigint" in out
    assert "s3://csv-final-data-bucket/movies_per_genre/movies_per_genre.csv (7 rows)" in out
    table = out[out.index("movies_per_genre  (s3://") :]
    table = table[: table.index("\n\n")] if "\n\n" in table else table
    printed = {
        cells[1].strip(): cells[2].strip()
        for cells in (line.split("│") for line in table.splitlines())
        if len(cells) == 4 and cells[1].strip() != "genre"
    }
    assert printed == {genre: str(count) for genre, count in SAMPLE_GENRE_COUNTS.items()}
    assert "1 file(s) went through every stage" in out


def test_final_bucket_holds_exact_counts_and_manifest(workspace, first_run) -> None:
    home, env = workspace
    settings = make_settings(home / "data", int(env["CSVPIPE_EMULATOR_PORT"]))
    s3 = Clients(settings).s3
    body = (
        s3.get_object(Bucket="csv-final-data-bucket", Key="movies_per_genre/movies_per_genre.csv")["Body"]
        .read()
        .decode()
    )
    rows = [line.split(",") for line in body.splitlines()]
    assert rows[0] == ["genre", "movies"]
    assert {g: int(n) for g, n in rows[1:]} == SAMPLE_GENRE_COUNTS
    assert s3.head_object(Bucket="csv-final-data-bucket", Key="movies_per_genre/manifest.json")


def test_running_the_same_file_again_changes_nothing(workspace, first_run) -> None:
    home, env = workspace
    again = cli("run", str(SAMPLE), cwd=home, env=env)
    assert again.returncode == 0, again.stderr
    assert "local stack started" not in again.stdout  # reused the running stack
    assert "table: csvpipe.movies (unchanged)" in again.stdout
    settings = make_settings(home / "data", int(env["CSVPIPE_EMULATOR_PORT"]))
    body = (
        Clients(settings)
        .s3.get_object(Bucket="csv-final-data-bucket", Key="movies_per_genre/movies_per_genre.csv")["Body"]
        .read()
    )
    assert {
        g: int(n) for g, n in (line.split(",") for line in body.decode().splitlines()[1:])
    } == SAMPLE_GENRE_COUNTS


def test_status_shows_the_stack_and_the_run(workspace, first_run) -> None:
    home, env = workspace
    status = cli("status", cwd=home, env=env)
    assert status.returncode == 0, status.stderr
    assert "local stack: running" in status.stdout
    assert "movies/movies.csv" in status.stdout


def test_dashboard_shows_movies_per_genre(workspace, first_run, monkeypatch) -> None:
    _home, env = workspace
    monkeypatch.setenv("CSVPIPE_EMULATOR_PORT", env["CSVPIPE_EMULATOR_PORT"])
    app = AppTest.from_file(str(APP_PATH), default_timeout=30).run()
    assert not app.exception, app.exception
    assert app.metric[0].value == "30"
    table = app.dataframe[0].value
    assert dict(zip(table["genre"], table["movies"], strict=True)) == SAMPLE_GENRE_COUNTS
    (chart,) = app.get("vega_lite_chart")
    bars = json.loads(chart.proto.spec)["layer"][0]
    assert bars["mark"]["type"] == "bar"
    # Horizontal: genres on the y axis, sorted by count, counts along x.
    assert bars["encoding"]["y"]["field"] == "genre" and bars["encoding"]["y"]["sort"] == "-x"
    assert bars["encoding"]["x"]["field"] == "movies"
    (dataset,) = chart.proto.datasets
    plotted = pa.ipc.open_stream(dataset.data.data).read_all().to_pydict()
    assert dict(zip(plotted["genre"], plotted["movies"], strict=True)) == SAMPLE_GENRE_COUNTS


def test_bad_csv_fails_the_run_with_a_clear_reason(workspace, first_run, tmp_path: Path) -> None:
    home, env = workspace
    bad = tmp_path / "broken.csv"
    bad.write_bytes(b"\x00\x01\x02binary")
    result = cli("run", str(bad), cwd=home, env=env)
    assert result.returncode == 1
    assert "preprocess failed: broken/broken.csv: binary content" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr


def test_port_in_use_is_one_clear_line(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("up", cwd=tmp_path, env={"CSVPIPE_EMULATOR_PORT": str(port)})
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [
        f"error: port {port} on 127.0.0.1 is already in use: stop what uses it, or choose another "
        "with CSVPIPE_EMULATOR_PORT=<port> (or --set emulator_port=<port>)"
    ]


def test_up_status_down(tmp_path: Path) -> None:
    dashboard_port = free_port()
    env = {"CSVPIPE_EMULATOR_PORT": str(free_port()), "CSVPIPE_DASHBOARD_PORT": str(dashboard_port)}
    try:
        started = cli("up", "--detach", cwd=tmp_path, env=env)
        assert started.returncode == 0, started.stderr
        assert "local stack running" in started.stdout
        assert f"dashboard: http://127.0.0.1:{dashboard_port}" in started.stdout
        health = f"http://127.0.0.1:{dashboard_port}/_stcore/health"
        deadline = time.monotonic() + 60
        while not answers(health):
            assert time.monotonic() < deadline, "the stack's dashboard did not answer within 60 s"
            time.sleep(0.2)  # Streamlit starts in another process; bounded by the deadline
        twice = cli("up", cwd=tmp_path, env=env)
        assert twice.returncode == 1 and "already running" in twice.stderr
        status = cli("status", cwd=tmp_path, env=env)
        assert "local stack: running" in status.stdout and "no runs yet" in status.stdout
        assert f"dashboard http://127.0.0.1:{dashboard_port}" in status.stdout
    finally:
        stopped = cli("down", cwd=tmp_path, env=env)
    assert stopped.stdout.strip() == "local stack stopped"
    assert not answers(health)  # stopped with the stack
    assert "not running" in cli("status", cwd=tmp_path, env=env).stdout
    assert cli("down", cwd=tmp_path, env=env).stdout.strip() == "no local stack is running"


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except OSError:
        return False


def test_foreground_up_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    port, dashboard_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CSVPIPE_", "AWS_"))},
        "CSVPIPE_EMULATOR_PORT": str(port),
        "CSVPIPE_DASHBOARD_PORT": str(dashboard_port),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "up"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = process.stdout.readline()  # blocks until the stack prints its ready line
        assert ready.startswith(f"local stack ready at http://127.0.0.1:{port}"), ready
        state = json.loads((tmp_path / "data" / ".csvpipe" / "stack.json").read_text())
        process.send_signal(signal.SIGINT)
        # Read on from the same buffered stream: communicate() would skip what readline() has
        # already buffered (the dashboard line, when it came in the same read). The watchdog
        # bounds the reads should the stack not stop.
        watchdog = threading.Timer(60, process.kill)
        watchdog.start()
        try:
            out, err = process.stdout.read(), process.stderr.read()
            process.wait()
        finally:
            watchdog.cancel()
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert out.strip().splitlines() == [
        f"dashboard: http://127.0.0.1:{dashboard_port}",
        "local stack stopped",
    ]
    assert not (tmp_path / "data" / ".csvpipe" / "stack.json").exists()
    for pid in (state["emulator_pid"], state["dashboard_pid"]):
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_rejected_rows_are_shown_by_the_rejects_command(workspace, first_run, tmp_path: Path) -> None:
    home, env = workspace
    messy = tmp_path / "messy_movies.csv"
    messy.write_bytes(
        "movieId;title;genres\r\n"
        "1;Heat (1995);Action|CRIME\r\n"
        "1;Heat (1995);action|crime\r\n"
        "\r\n"
        "2;Up (2009)\r\n"
        "3;Amélie (2001);Comedy|Romance\r\n".encode("cp1252")
    )
    result = cli("run", str(messy), cwd=home, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    # A dataset without rules keeps both Heat rows (no de-duplication, genres left as written).
    assert "rows: 5 in, 3 out, 1 rejected, 1 empty, 0 duplicate" in result.stdout
    assert "rejects: s3://csv-processed-data-bucket/_rejects/messy_movies/messy_movies.csv" in result.stdout

    shown = cli("rejects", str(messy), cwd=home, env=env)
    assert shown.returncode == 0, shown.stderr
    (row,) = [line for line in shown.stdout.splitlines() if "expected 3 fields" in line]
    assert [cell.strip() for cell in row.split("│")[1:4]] == [
        "5",
        "expected 3 fields, found 2",
        "2;Up (2009)",
    ]

    listed = cli("rejects", cwd=home, env=env)
    assert "messy_movies/messy_movies.csv" in listed.stdout
    none = cli("rejects", "movies/movies.csv", cwd=home, env=env)
    assert none.stdout.strip() == "no rejected rows for s3://csv-raw-data-bucket/movies/movies.csv"


def test_a_file_predicted_to_exceed_a_limit_is_warned_before_upload(
    workspace, first_run, tmp_path: Path
) -> None:
    home, env = workspace
    big = tmp_path / "catalogue.csv"
    rows = "".join(f"{i},Film {i} ({1950 + i % 70}),Drama|Comedy\n" for i in range(1, 150_000))
    big.write_text("movieId,title,genres\n" + rows, encoding="utf-8")
    assert big.stat().st_size > 4 * 1024 * 1024
    result = cli("--set", "lambda_ephemeral_mb=8", "run", str(big), cwd=home, env=env)
    assert result.returncode == 0, result.stderr + result.stdout
    out = result.stdout
    warning = out.index("warning: catalogue.csv needs about")
    assert "over the Lambda's ephemeral storage of 8 MB; raise it with --set lambda_ephemeral_mb=" in out
    assert warning < out.index("uploaded ")
    assert "rows: 149999 in, 149999 out, 0 rejected, 0 empty, 0 duplicate" in out


def test_transform_on_demand_runs_a_transform_and_its_dependants(workspace, first_run) -> None:
    home, env = workspace
    planned = cli("transform", "genre_classification", "--dry-run", cwd=home, env=env)
    assert planned.returncode == 0, planned.stderr
    rows = [line for line in planned.stdout.splitlines() if line.startswith("│")]
    assert [row.split("│")[2].strip() for row in rows] == ["genre_classification", "movies_per_genre_class"]

    ran = cli("transform", "genre_classification", cwd=home, env=env)
    assert ran.returncode == 0, ran.stderr + ran.stdout
    assert (
        "ok      genre_classification: 30 rows -> s3://csv-final-data-bucket/genre_classification/"
        in ran.stdout
    )
    assert "ok      movies_per_genre_class: 6 rows" in ran.stdout
    assert "movies_per_genre:" not in ran.stdout

    unknown = cli("transform", "nope", cwd=home, env=env)
    assert unknown.returncode == 1
    assert unknown.stderr.startswith(
        "error: no transform named nope; the transforms are: genre_classification"
    )
