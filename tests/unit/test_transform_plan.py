"""Transform files and their plan: which tables each reads, the run order, cycles, and which
transforms a new file of a dataset sets off."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.errors import UserInputError
from pipeline.settings import PACKAGED_TRANSFORMS
from pipeline.transform.dag import downstream_of, plan, reading
from pipeline.transform.sql import discover, parse_transform, reference_tables


def write(folder: Path, **files: str) -> Path:
    folder.mkdir(exist_ok=True)
    for name, sql in files.items():
        (folder / f"{name}.sql").write_text(sql)
    return folder


@pytest.mark.parametrize(
    ("files", "order"),
    [
        ({"a": "SELECT * FROM movies"}, ["a"]),
        ({"b": "SELECT * FROM movies", "a": "SELECT * FROM movies"}, ["a", "b"]),
        ({"a": "SELECT * FROM c", "c": "SELECT * FROM movies"}, ["c", "a"]),
        (
            {"a": "SELECT * FROM b JOIN c ON b.x = c.x", "b": "SELECT * FROM c", "c": "SELECT 1 AS x FROM t"},
            ["c", "b", "a"],
        ),
        ({"x": "WITH m AS (SELECT * FROM movies) SELECT * FROM m"}, ["x"]),
    ],
)
def test_plan_runs_each_transform_after_what_it_reads(
    tmp_path: Path, files: dict[str, str], order: list[str]
) -> None:
    steps = plan(discover(write(tmp_path / "t", **files)))
    assert [step.name for step in steps] == order


def test_inputs_are_split_by_kind(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "t",
        summary="SELECT * FROM base JOIN regions ON base.r = regions.r JOIN sales ON sales.r = base.r",
        base="SELECT * FROM sales",
    )
    (step_base, step_summary) = plan(discover(folder), references={"regions"})
    assert (step_base.upstream, step_base.references, step_base.catalog) == ((), (), ("sales",))
    assert (step_summary.upstream, step_summary.references, step_summary.catalog) == (
        ("base",),
        ("regions",),
        ("sales",),
    )


@pytest.mark.parametrize(
    ("files", "references", "message"),
    [
        (
            {"a": "SELECT * FROM b", "b": "SELECT * FROM a"},
            (),
            "transforms read each other in a cycle: a -> b -> a",
        ),
        ({"a": "SELECT * FROM b", "b": "SELECT * FROM c", "c": "SELECT * FROM b"}, (), "cycle: b -> c -> b"),
        ({"movies": "SELECT * FROM movies"}, (), "output 'movies' has the name of a table it reads"),
        (
            {"regions": "SELECT * FROM sales"},
            ("regions",),
            "output 'regions' has the name of a reference table",
        ),
    ],
)
def test_plan_errors_are_one_clear_line(tmp_path: Path, files, references, message: str) -> None:
    with pytest.raises(UserInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        plan(discover(write(tmp_path / "t", **files)), references)


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELEC * FROM movies", "not valid SQL"),
        ("SELECT 1", "the query reads no table"),
    ],
)
def test_bad_transform_file(tmp_path: Path, sql: str, message: str) -> None:
    path = tmp_path / "bad.sql"
    path.write_text(sql)
    with pytest.raises(UserInputError, match=message):
        parse_transform(path)


def test_two_files_making_one_output_are_refused(tmp_path: Path) -> None:
    write(tmp_path / "t", **{"Per Genre": "SELECT * FROM m", "per_genre": "SELECT * FROM m"})
    with pytest.raises(UserInputError, match="both make output 'per_genre'"):
        discover(tmp_path / "t")


def test_a_dataset_sets_off_its_readers_and_everything_downstream(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "t",
        per_genre="SELECT * FROM movies",
        classes="SELECT * FROM movies",
        per_class="SELECT * FROM classes",
        ratings_avg="SELECT * FROM ratings",
        joined="SELECT * FROM per_class AS p JOIN ratings_avg AS r ON p.x = r.x",
    )
    steps = plan(discover(folder))
    assert [s.name for s in reading(steps, "movies")] == ["classes", "per_genre", "per_class", "joined"]
    assert [s.name for s in reading(steps, "ratings")] == ["ratings_avg", "joined"]
    assert [s.name for s in reading(steps, "nothing")] == []
    assert [s.name for s in downstream_of(steps, ["per_class"])] == ["per_class", "joined"]


def test_the_shipped_transforms_plan_cleanly() -> None:
    references = reference_tables(PACKAGED_TRANSFORMS)
    steps = plan(discover(PACKAGED_TRANSFORMS), references)
    names = [step.name for step in steps]
    assert set(names) == {
        "genre_classification",
        "genres_by_decade",
        "movies_per_genre",
        "movies_per_year",
        "movies_per_genre_class",
    }
    assert names.index("genre_classification") < names.index("movies_per_genre_class")
    assert set(references) == {"genre_classes"}
    assert all(step.catalog in {("movies",), ()} for step in steps)


@pytest.mark.parametrize(
    ("sql", "found"),
    [
        ("SELECT 1 FROM t; COPY t TO '/tmp/x.csv'", "SELECT, COPY"),
        ("INSTALL httpfs", "LOAD"),
        ("ATTACH 'x.db'", "ATTACH"),
        ("CREATE TABLE x AS SELECT * FROM t", "CREATE"),
    ],
)
def test_a_transform_is_one_select(tmp_path: Path, sql: str, found: str) -> None:
    path = tmp_path / "bad.sql"
    path.write_text(sql)
    with pytest.raises(UserInputError, match=f"a transform is one SELECT query, found {found}"):
        parse_transform(path)


@pytest.mark.parametrize(
    "source",
    [
        "read_json('/etc/passwd')",  # an unrestricted parse reads it: "Malformed JSON in file ..."
        "read_csv('/etc/hostname')",  # exists
        "read_csv('/etc/no-such-file-here')",  # does not: the answer must not tell them apart
        "read_csv('https://example.com/data.csv')",  # would try to install httpfs
        "read_parquet('s3://some-bucket/x.parquet')",
        "glob('/etc/*')",
    ],
)
def test_validating_a_transform_reads_no_file_and_installs_nothing(tmp_path: Path, source: str) -> None:
    folder = write(tmp_path / "t", sneaky=f"SELECT * FROM movies, {source}")
    with pytest.raises(UserInputError) as raised:
        discover(folder)
    message = str(raised.value)
    assert message.startswith(f"{folder / 'sneaky.sql'}: a transform reads tables by name")
    assert "never files or URLs (Permission Error: Cannot access file" in message
    for leak in ("Malformed JSON", "No files found", "install", "httpfs", "root:"):
        assert leak not in message


@pytest.mark.slow
def test_planning_through_the_cli_goes_through_the_sandbox_too(tmp_path: Path) -> None:
    from tests.conftest import cli

    folder = write(tmp_path / "t", sneaky="SELECT * FROM movies, read_json('/etc/passwd')")
    planned = cli("transform", "--dry-run", cwd=tmp_path, env={"CSVPIPE_TRANSFORMS_DIR": str(folder)})
    assert planned.returncode == 1
    assert "Traceback" not in planned.stderr and "Malformed JSON" not in planned.stderr
    assert planned.stderr.startswith(f"error: {folder / 'sneaky.sql'}: a transform reads tables by name")


def test_the_sandbox_still_names_the_tables_of_an_ordinary_transform(tmp_path: Path) -> None:
    transform = parse_transform(
        write(tmp_path / "t", ok="SELECT g.x FROM movies m JOIN genres g ON m.id = g.id") / "ok.sql"
    )
    assert transform.tables == frozenset({"movies", "genres"})
