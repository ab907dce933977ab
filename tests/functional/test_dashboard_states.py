"""The dashboard's empty and unreachable states, in Streamlit's AppTest against the emulator."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from dashboards import APP_PATH
from pipeline.aws import Clients
from pipeline.settings import Settings
from tests.conftest import free_port

# Every test here takes a second or more on a 2-core machine: left out of the quick tier.
pytestmark = pytest.mark.slow


def run_app(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> AppTest:
    for name, value in settings.as_env().items():
        monkeypatch.setenv(name, value)
    return AppTest.from_file(str(APP_PATH), default_timeout=30).run()


def test_empty_state_before_any_data(monkeypatch: pytest.MonkeyPatch, clients: Clients) -> None:
    app = run_app(monkeypatch, clients.settings)
    assert not app.exception
    assert "No data yet" in app.info[0].value
    assert not app.get("vega_lite_chart")


def test_unreachable_emulator_is_a_clear_message(monkeypatch: pytest.MonkeyPatch, settings: Settings) -> None:
    from pipeline.settings import replace

    dead = replace(settings, endpoint_url=f"http://127.0.0.1:{free_port()}")
    app = run_app(monkeypatch, dead)
    assert not app.exception
    assert "Is the stack running?" in app.error[0].value
