"""The dashboard as a user sees it: a real stack (``csvpipe up --detach``) with the sample run
through it, ``csvpipe dashboard`` serving the app on 127.0.0.1, and Debian's Chromium (headless,
driven by Playwright, never a downloaded browser) reading the rendered Vega charts. Each page is
saved as a screenshot in tests/e2e/artifacts/ (git-ignored; docs/screenshots/ holds copies).

Without Chromium on PATH these tests skip with one line (tests/conftest.py), and fail under CI=true.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    REPO,
    SAMPLE,
    SAMPLE_GENRE_COUNTS,
    UserStack,
    chromium_path,
    cli,
    free_port,
    running_stack,
)
from tests.functional.final_data import WESTERNS

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ARTIFACTS = REPO / "tests" / "e2e" / "artifacts"
VIEWPORT = {"width": 1400, "height": 1100}
BAR = re.compile(r"^Movies: (\d+); Genre: (.+)$")
PAGES = [
    # (url path, title, an element only that page has once its data is drawn)
    ("", "Overview", '[data-testid="stVegaLiteChart"] [aria-roledescription="bar"]'),
    ("genres", "Genres", '[aria-roledescription="arc mark"]'),
    ("trends", "Trends", '[aria-roledescription="rect mark"]'),
    ("data", "Data", '[data-testid="stDownloadButton"]'),
    ("pipeline", "Pipeline", '[data-testid="stGraphVizChart"] svg'),
]


def wait_until_served(url: str, process: subprocess.Popen[bytes], log: Path, seconds: float = 60) -> None:
    """Poll Streamlit's health endpoint; the deadline keeps a broken start from hanging."""
    deadline = time.monotonic() + seconds
    while True:
        assert process.poll() is None, f"the dashboard exited ({process.returncode}):\n{log.read_text()}"
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError):
            pass
        assert time.monotonic() < deadline, (
            f"the dashboard did not start within {seconds} s:\n{log.read_text()}"
        )
        time.sleep(0.2)  # polling another process; bounded by the deadline


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UserStack]:
    """A user's running stack with the sample through every stage."""
    with running_stack(tmp_path_factory.mktemp("browser-user")) as user:
        ran = cli("run", str(SAMPLE), cwd=user.home, env=user.env)
        assert ran.returncode == 0, ran.stdout + ran.stderr
        yield user


@pytest.fixture(scope="module")
def dashboard(stack: UserStack) -> Iterator[str]:
    """``csvpipe dashboard --port N`` in its own process group, stopped with it at the end."""
    port = free_port()
    log = stack.home / "dashboard.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CSVPIPE_", "AWS_"))}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pipeline.cli", "dashboard", "--port", str(port)],
            cwd=stack.home,
            env={**env, **stack.env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # csvpipe starts streamlit as a child: stop both together
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_served(url, process, log)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGINT)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    assert executable is not None, "tests/conftest.py skips (CI=true: fails) browser tests without it"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def page(browser: Any, dashboard: str) -> Iterator[Any]:
    """One tab for the module, as a user keeps one open: pages change by the sidebar's links."""
    context = browser.new_context(viewport=VIEWPORT)
    outside: list[str] = []
    context.route(re.compile(r"^(?!https?://127\.0\.0\.1[:/]).*"), lambda route: _refuse(route, outside))
    tab = context.new_page()
    tab.set_default_timeout(30_000)
    tab.goto(dashboard)
    yield tab
    context.close()
    assert not outside, f"the dashboard reached beyond 127.0.0.1: {outside}"


def _refuse(route: Any, outside: list[str]) -> None:
    """Tests stay on 127.0.0.1: any other request is refused and reported."""
    if not route.request.url.startswith(("data:", "blob:")):
        outside.append(route.request.url)
    route.abort()


SETTLED = """() => !document.querySelector(
    '[data-stale="true"], [data-testid="stSkeleton"], [data-testid="stStatusWidget"]'
)"""


def settled(tab: Any) -> None:
    """Wait until the app's run has finished: not running, no placeholder, nothing stale."""
    tab.wait_for_function(SETTLED)


def plotted_bars(tab: Any) -> dict[str, int]:
    """Genre and count of each bar of the Overview's chart, from the aria labels Vega renders."""
    labels = tab.eval_on_selector_all(
        '[data-testid="stVegaLiteChart"] [aria-roledescription="bar"]',
        "bars => bars.map(bar => bar.getAttribute('aria-label'))",
    )
    found = {}
    for label in labels:
        match = BAR.match(label or "")
        assert match, f"unexpected bar label {label!r}"
        found[match[2]] = int(match[1])
    return found


def test_the_genre_chart_shows_the_sample(page: Any) -> None:
    page.wait_for_selector('[data-testid="stVegaLiteChart"] [aria-roledescription="bar"]')
    assert plotted_bars(page) == SAMPLE_GENRE_COUNTS
    chart = '[data-testid="stVegaLiteChart"]'
    # The axis reads top to bottom by count (ties by name), genres capitalised ...
    axis = page.eval_on_selector_all(
        f'{chart} [aria-roledescription="axis"] text', "t => t.map(e => e.textContent)"
    )
    genres = [g.capitalize() for g in sorted(SAMPLE_GENRE_COUNTS, key=lambda g: (-SAMPLE_GENRE_COUNTS[g], g))]
    assert [text for text in axis if text in genres] == genres
    # ... and each bar carries its value as a label.
    values = page.eval_on_selector_all(
        f'{chart} [aria-roledescription="text mark"]', "t => t.map(e => e.textContent)"
    )
    assert sorted(map(int, values), reverse=True) == sorted(SAMPLE_GENRE_COUNTS.values(), reverse=True)
    tiles = page.eval_on_selector_all('[data-testid="stMetricValue"]', "t => t.map(e => e.textContent)")
    assert tiles[:3] == ["30", "7", "1995"]


@pytest.mark.parametrize(("path", "title", "drawn"), PAGES, ids=[title for _, title, _ in PAGES])
def test_every_page_renders_and_is_saved_as_a_screenshot(
    page: Any, path: str, title: str, drawn: str
) -> None:
    page.locator('[data-testid="stSidebarNav"] a', has_text=title).click()
    page.wait_for_url(re.compile(rf"/{path}$"))
    page.get_by_role("heading", name=title, level=1).wait_for()
    page.wait_for_selector(drawn)
    settled(page)
    assert page.query_selector('[data-testid="stException"]') is None
    assert page.query_selector('[data-testid="stAlertContentError"]') is None
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{title.lower()}.png"), full_page=True)


def test_new_data_appears_without_a_reload(page: Any, stack: UserStack, tmp_path: Path) -> None:
    """Runs last: it adds three westerns (other years, a rejected row) to the sample's dataset."""
    page.locator('[data-testid="stSidebarNav"] a', has_text="Overview").click()
    page.wait_for_url(re.compile(r"/$"))
    page.wait_for_selector('[data-testid="stVegaLiteChart"] [aria-roledescription="bar"]')
    settled(page)
    page.evaluate("window.__loaded_once = true")  # gone if the page were reloaded
    westerns = tmp_path / "westerns.csv"
    westerns.write_bytes(WESTERNS)
    ran = cli("run", "--dataset", "movies", str(westerns), cwd=stack.home, env=stack.env)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    # The app's watcher lists the buckets every few seconds and reruns on a change.
    page.wait_for_selector('[aria-label="Movies: 3; Genre: western"]', timeout=30_000)
    assert plotted_bars(page) == {**SAMPLE_GENRE_COUNTS, "western": 3, "drama": 8, "action": 7}
    assert page.evaluate("window.__loaded_once === true")
