"""The documentation: a short README, and a site under docs/ that MkDocs builds with --strict
(any warning, such as a broken link or a page left out of the nav, fails the build)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import REPO

README_MAX_LINES = 150
RUN_COMMAND = (
    "python3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/csvpipe run data/samples/movies.csv"
)
TEST_COMMAND = "python3 -m venv .venv && .venv/bin/pip install -q -e '.[test]' && .venv/bin/python -m pytest"
DOCS = REPO / "docs"


def nav_pages(nav: list) -> set[str]:
    pages: set[str] = set()
    for entry in nav:
        value = next(iter(entry.values())) if isinstance(entry, dict) else entry
        if isinstance(value, list):
            pages |= nav_pages(value)
        else:
            pages.add(value)
    return pages


@pytest.mark.slow
def test_the_site_builds_strictly(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=REPO,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "stages" / "preprocessing" / "index.html").is_file()


def test_every_docs_page_is_in_the_nav_and_every_nav_entry_exists() -> None:
    config = yaml.load((REPO / "mkdocs.yml").read_text(), Loader=yaml.BaseLoader)
    in_nav = nav_pages(config["nav"])
    on_disk = {str(path.relative_to(DOCS)) for path in DOCS.rglob("*.md")}
    assert on_disk - in_nav == set(), "pages missing from mkdocs.yml's nav"
    assert in_nav - on_disk == set(), "nav entries without a page"


def test_the_readme_is_short_and_keeps_the_two_commands_at_the_top() -> None:
    lines = (REPO / "README.md").read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines: move details to docs/"
    top = "\n".join(lines[:20])
    assert RUN_COMMAND in top
    assert TEST_COMMAND in top


def test_the_readme_test_command_is_what_ci_runs() -> None:
    ci = (REPO / ".ci" / "run").read_text()
    assert ci.rstrip().endswith(TEST_COMMAND)
    assert "export CI=true" in ci  # so the browser, Spark and MiniStack tests fail rather than skip


def test_the_readmes_links_point_at_files_that_exist() -> None:
    targets = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", (REPO / "README.md").read_text())
    local = [target for target in targets if not target.startswith(("http://", "https://"))]
    assert len(local) >= 10, local  # the README is mostly links into docs/
    assert [target for target in local if not (REPO / target).exists()] == []
