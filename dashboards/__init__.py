"""The Streamlit dashboard that stands in for QuickSight.

``serve_command`` and ``serve_environment`` are how anything starts it (``csvpipe dashboard``,
the local stack, the browser tests): the app rebuilds the caller's settings from the
``CSVPIPE_*`` environment, so it reads the same profile and buckets as the pipeline.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from pipeline.settings import Settings

APP_PATH = Path(__file__).with_name("app.py")


def serve_command(settings: Settings, port: int | None = None) -> list[str]:
    """The command line that serves the dashboard on ``dashboard_host``:``port`` (default the
    ``dashboard_port`` setting), headless, without usage statistics, file watching or the
    "Deploy" button."""
    return [
        sys.executable,
        "-m",
        "streamlit",
        "run",
        str(APP_PATH),
        "--server.address",
        settings.dashboard_host,
        "--server.port",
        str(port or settings.dashboard_port),
        "--server.headless",
        "true",
        "--server.fileWatcherType",
        "none",
        "--browser.gatherUsageStats",
        "false",
        "--client.toolbarMode",
        "viewer",
    ]


def serve_environment(settings: Settings) -> dict[str, str]:
    """The process environment with ``settings`` as ``CSVPIPE_*`` variables."""
    return {**os.environ, **settings.as_env()}
