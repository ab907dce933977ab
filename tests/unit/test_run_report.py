"""``csvpipe run``'s per-file summary as printed (pipeline.report.print_file), from plain run
records, and the comparison of a command's settings with the running stack's."""

from __future__ import annotations

import io
from pathlib import Path

from rich.console import Console

from pipeline.follow import FileProgress
from pipeline.ingest.upload import Uploaded
from pipeline.report import print_file
from pipeline.settings import PACKAGED_TRANSFORMS, load_settings
from pipeline.stack_settings import differences, mismatch_line, recorded

UPLOAD = Uploaded(Path("movies.csv"), "raw", "movies/movies.csv", "e", 10)
ROWS = {"in": 3, "out": 3, "rejected": 0, "empty": 0, "duplicate": 0}
OK = {"status": "ok"}


def printed(item: FileProgress, read: set[str] | None = None, transforms: Path | None = None) -> list[str]:
    out = io.StringIO()
    print_file(Console(file=out, width=400, markup=False, highlight=False), item, read, transforms)
    return out.getvalue().splitlines()


def test_the_summary_names_the_rules_that_applied() -> None:
    pre = {"status": "ok", "dataset": "movies", "rows": ROWS, "rules": "movies.toml"}
    lines = printed(FileProgress(UPLOAD, {"preprocess": pre, "crawl": OK, "transform": OK}))
    assert "  rules: movies.toml" in lines
    assert lines.index("  rules: movies.toml") < lines.index(
        "  rows: 3 in, 3 out, 0 rejected, 0 empty, 0 duplicate"
    )


def test_a_record_without_rules_prints_no_rules_line() -> None:
    pre = {"status": "ok", "dataset": "movies", "rows": ROWS}
    lines = printed(FileProgress(UPLOAD, {"preprocess": pre, "crawl": OK, "transform": OK}))
    assert lines[1].startswith("ok movies.csv")
    assert not any(line.strip().startswith("rules:") for line in lines)


def test_a_dataset_no_transform_reads_gets_one_line_on_how_to_start_one() -> None:
    pre = {"status": "ok", "dataset": "notes", "rows": ROWS}
    item = FileProgress(UPLOAD, {"preprocess": pre, "crawl": OK, "transform": OK})
    (line,) = [line for line in printed(item, {"movies"}, PACKAGED_TRANSFORMS) if "outputs: none" in line]
    assert line == (
        "  outputs: none: no transform reads dataset notes; write one as <name>.sql (e.g. SELECT "
        "count(*) AS n FROM notes) in a folder of your own (e.g. transforms/) and restart the stack "
        "with it: `csvpipe down && csvpipe --set transforms_dir=transforms up --detach`; "
        "see docs/runs-and-status.md"
    )
    # Read by a transform, failed, or not through every stage yet: nothing said.
    assert not any("outputs: none" in line for line in printed(item, {"notes"}, PACKAGED_TRANSFORMS))
    assert not any("outputs: none" in line for line in printed(item, None, PACKAGED_TRANSFORMS))
    failed = FileProgress(UPLOAD, {"preprocess": pre, "crawl": {"status": "failed", "error": "x"}})
    assert not any("outputs: none" in line for line in printed(failed, {"movies"}, PACKAGED_TRANSFORMS))


def test_settings_that_differ_from_the_stacks_are_named_with_the_restart_command(tmp_path: Path) -> None:
    stack = load_settings(environ={"CSVPIPE_DASHBOARD_PORT": "8501"}, config_path=None)
    mine = load_settings(
        environ={"CSVPIPE_DASHBOARD_PORT": "9999", "CSVPIPE_LAMBDA_MEMORY_MB": "1024"},
        overrides={"rules_dir": str(tmp_path / "my rules")},
        config_path=None,
    )
    found = differences(recorded(stack), mine)
    assert [d.name for d in found] == ["lambda_memory_mb", "rules_dir"]  # not the dashboard's port
    assert mismatch_line(found).endswith(
        f"to apply them, restart it: `csvpipe down && csvpipe --set lambda_memory_mb=1024 "
        f"--set 'rules_dir={(tmp_path / 'my rules').resolve()}' up --detach`"
    )
    assert differences(recorded(stack), stack) == []
    assert differences({}, mine) == []  # a stack that recorded nothing: nothing to say
    assert "aws_secret_access_key" not in recorded(stack)
