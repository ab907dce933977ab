"""The QuickSight stand-in: a Streamlit app over the final bucket, started by ``csvpipe dashboard``.

Pages: Overview (tiles and the main visual), Genres, Trends, Data (the final outputs as a
searchable table with CSV download) and Pipeline (each file's lineage from its run records).
Settings come from the ``CSVPIPE_*`` environment the command passes, so the app reads the same
profile as the pipeline. This script runs first on every interaction: it reads the buckets and
draws the sidebar's filters (see ``dashboards.state``), then runs the chosen page.
"""

from __future__ import annotations

import streamlit as st

from dashboards import state
from pipeline.settings import load_settings

# No Material icons: the browser shows a page's icon as the favicon, and a Material favicon is
# fetched from Google's font servers; the dashboard must work offline (an emoji favicon is inline).
st.set_page_config(page_title="csvpipe dashboard", page_icon="🎬", layout="wide")
st.set_option("client.toolbarMode", "viewer")  # a dashboard to read: no "Deploy", no developer menu

PAGES = [
    st.Page("views/overview.py", title="Overview", default=True),
    st.Page("views/genres.py", title="Genres", url_path="genres"),
    st.Page("views/trends.py", title="Trends", url_path="trends"),
    st.Page("views/table.py", title="Data", url_path="data"),
    st.Page("views/lineage.py", title="Pipeline", url_path="pipeline"),
]

navigation = st.navigation(PAGES)
state.prepare(load_settings())
navigation.run()
