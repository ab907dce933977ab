"""One truth per run, through the real CLI and a real local stack with transforms of the user's
own: a file whose transform cannot read it fails in ``run`` (summary and exit code), in
``status`` and on the dashboard's pipeline page alike; a dataset no transform reads says so;
settings the running stack ignores are named, with the command that applies them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboards import APP_PATH
from pipeline.aws import Clients
from tests.conftest import cli, free_port, make_settings

pytestmark = pytest.mark.slow

FILM_GENRES = "SELECT genre, count(*) AS films\nFROM films\nGROUP BY genre\nORDER BY genre\n"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A user's folder with a transform of their own, its stack started with those transforms
    by the first ``run``; stopped at the end."""
    home = tmp_path_factory.mktemp("user")
    transforms = home / "transforms"
    transforms.mkdir()
    (transforms / "film_genres.sql").write_text(FILM_GENRES)
    env = {"CSVPIPE_EMULATOR_PORT": str(free_port()), "CSVPIPE_TRANSFORMS_DIR": str(transforms)}
    yield home, env
    cli("down", cwd=home, env=env)


@pytest.fixture(scope="module")
def broken_run(workspace: tuple[Path, dict[str, str]]):
    """A film list whose column is ``genres``, where the user's transform reads ``genre``."""
    home, env = workspace
    films = home / "films.csv"
    films.write_text("movieId,title,genres\n1,Heat (1995),Crime\n2,Up (2009),Animation\n")
    return cli("run", str(films), cwd=home, env=env)


def test_a_transform_that_cannot_read_the_file_fails_its_run_with_one_clear_line(broken_run) -> None:
    out = broken_run.stdout
    assert broken_run.returncode == 1, out + broken_run.stderr
    assert "\nFAILED " in out and "films.csv  (s3://csv-raw-data-bucket/films/films.csv" in out
    assert (
        '  error: transform failed: film_genres.sql, line 3: Binder Error: Referenced column "genre" '
        "not found in FROM clause! (column genre: no such column; table csvpipe.films has movie_id, "
        "title, genres)"
    ) in out
    assert "1 of 1 file(s) failed" in out
    assert "went through every stage" not in out
    assert "warning:" not in out  # the stack runs with this command's settings
    assert "Traceback" not in out + broken_run.stderr


def test_status_shows_the_file_failed_at_its_transform(workspace, broken_run) -> None:
    home, env = workspace
    status = cli("status", cwd=home, env=env)
    assert status.returncode == 0, status.stderr
    (row,) = [line for line in status.stdout.splitlines() if "films/films.csv" in line and "│" in line]
    assert row.split("│")[2].strip() == "failed at transform"
    assert (
        "films/films.csv: failed at transform: film_genres.sql, line 3: "
        'Binder Error: Referenced column "genre"' in status.stdout
    )
    assert "warning:" not in status.stdout


def test_the_dashboards_pipeline_page_agrees(workspace, broken_run, monkeypatch) -> None:
    _home, env = workspace
    monkeypatch.setenv("CSVPIPE_EMULATOR_PORT", env["CSVPIPE_EMULATOR_PORT"])
    app = AppTest.from_file(str(APP_PATH), default_timeout=30).run()
    app.switch_page("views/lineage.py").run()
    assert not app.exception, app.exception
    rows = app.dataframe[0].value.to_dict("records")
    (films,) = [row for row in rows if row["raw"].endswith("/films/films.csv")]
    assert films["status"] == "failed at transform"
    assert films["error"].startswith('film_genres.sql, line 3: Binder Error: Referenced column "genre"')


def test_transform_on_demand_fails_with_the_same_line_and_no_traceback(workspace, broken_run) -> None:
    home, env = workspace
    ran = cli("transform", cwd=home, env=env)
    assert ran.returncode == 1
    assert ran.stdout.strip().splitlines()[-1] == (
        'FAILED  film_genres: film_genres.sql, line 3: Binder Error: Referenced column "genre" not found '
        "in FROM clause! (column genre: no such column; table csvpipe.films has movie_id, title, "
        "genres)"
    )
    assert "Traceback" not in ran.stdout + ran.stderr


def test_a_dataset_no_transform_reads_says_so_and_how_to_start_one(workspace, broken_run) -> None:
    home, env = workspace
    notes = home / "notes.csv"
    notes.write_text("day,note\n2026-12-01,first\n")
    result = cli("run", str(notes), cwd=home, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    transforms = env["CSVPIPE_TRANSFORMS_DIR"]
    assert (
        "  outputs: none: no transform reads dataset notes; write one as <name>.sql "
        f"(e.g. SELECT count(*) AS n FROM notes) in {transforms}; see docs/runs-and-status.md"
    ) in result.stdout
    assert result.stdout.rstrip().endswith("1 file(s) went through every stage")


def test_settings_the_running_stack_ignores_are_named_with_how_to_apply_them(
    workspace, broken_run, tmp_path: Path
) -> None:
    home, env = workspace
    other = tmp_path / "other-transforms"
    other.mkdir()
    (other / "film_count.sql").write_text("SELECT count(*) AS films FROM films\n")
    sample = home / "films.csv"
    changed = {**env, "CSVPIPE_LAMBDA_TIMEOUT": "45"}
    result = cli("--set", f"transforms_dir={other}", "run", str(sample), cwd=home, env=changed)
    warnings = [line for line in result.stdout.splitlines() if line.startswith("warning:")]
    assert warnings == [
        "warning: the running stack keeps the settings it started with and ignores this command's: "
        f"lambda_timeout is 45 here, 30 in the stack; transforms_dir is {other.resolve()} here, "
        f"{Path(env['CSVPIPE_TRANSFORMS_DIR']).resolve()} in the stack; to apply them, restart it: "
        "`csvpipe down && csvpipe --set lambda_timeout=45 "
        f"--set transforms_dir={other.resolve()} up --detach`"
    ]
    # The stack ran its own transforms, as the warning says: the user's film_genres, failing.
    assert "film_genres.sql" in result.stdout and result.returncode == 1
    status = cli("--set", f"transforms_dir={other}", "status", cwd=home, env=env)
    assert "warning: the running stack keeps the settings it started with" in status.stdout


def test_a_file_that_does_not_fit_its_tables_types_fails_transform_in_one_line(workspace, broken_run) -> None:
    """A processed file the crawler has not seen yet, whose movie_id is not a bigint: DuckDB's
    conversion error used to reach the terminal as an internal error with a traceback."""
    home, env = workspace
    settings = make_settings(home / "data", int(env["CSVPIPE_EMULATOR_PORT"]))
    Clients(settings).s3.put_object(
        Bucket=settings.processed_bucket,
        Key="films/late.csv",
        Body=b"movie_id,title,genres,year\n3,Alien,horror,1979\nx4,Brazil,comedy,1985\n",
    )
    ran = cli("transform", "film_genres", cwd=home, env=env)
    assert ran.returncode == 1
    assert ran.stdout.strip().splitlines()[-1] == (
        'FAILED  film_genres: film_genres.sql: table csvpipe.films, column movie_id: value "x4" does not '
        "fit the catalog's type bigint (line 3 of late.csv); `csvpipe crawl films` widens the column "
        "(with crawler_schema_change = update), or pin its type in the dataset's rules "
        "([columns.movie_id] type = ...)"
    )
    assert ran.stderr == ""


def test_a_run_record_that_is_not_json_shows_as_a_failure_not_a_traceback(workspace, broken_run) -> None:
    home, env = workspace
    settings = make_settings(home / "data", int(env["CSVPIPE_EMULATOR_PORT"]))
    s3 = Clients(settings).s3
    preprocess = b'{"status": "ok", "source": {"bucket": "raw", "key": "odd/odd.csv"}, "rows": {"in": 1}}'
    s3.put_object(Bucket=settings.processed_bucket, Key="_runs/0dd/preprocess.json", Body=preprocess)
    s3.put_object(Bucket=settings.processed_bucket, Key="_runs/0dd/crawl.json", Body=b'{"status": "ok", "ta')
    status = cli("status", cwd=home, env=env)
    assert status.returncode == 0, status.stderr
    (row,) = [line for line in status.stdout.splitlines() if "odd/odd.csv" in line and "│" in line]
    assert row.split("│")[2].strip() == "failed at crawl"
    assert (
        f"odd/odd.csv: failed at crawl: s3://{settings.processed_bucket}/_runs/0dd/crawl.json is not a "
        "JSON run record"
    ) in status.stdout
    assert "Traceback" not in status.stdout + status.stderr
