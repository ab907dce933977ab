"""The Streamlit dashboard that stands in for QuickSight."""

from pathlib import Path

APP_PATH = Path(__file__).with_name("app.py")
