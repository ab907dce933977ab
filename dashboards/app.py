"""The QuickSight stand-in: movies per genre as a horizontal bar chart, read from the final
bucket. Start it with ``csvpipe dashboard``; settings come from the ``CSVPIPE_*`` environment
that command passes, so the app reads the same profile as the pipeline."""

from __future__ import annotations

import altair as alt
import streamlit as st

from dashboards.data import Unavailable, read_output
from pipeline.aws import client
from pipeline.settings import load_settings

GENRE_OUTPUT = "movies_per_genre"

st.set_page_config(page_title="csvpipe dashboard", layout="wide")
st.title("Movies per genre")

settings = load_settings()
try:
    frame = read_output(client(settings, "s3"), settings.final_bucket, GENRE_OUTPUT)
except Unavailable as exc:
    st.error(f"{exc}. Is the stack running? Start it with `csvpipe up --detach`.")
    st.stop()

if frame is None:
    st.info("No data yet: run `csvpipe run data/samples/movies.csv`, then refresh this page.")
    st.stop()

st.caption(f"s3://{settings.final_bucket}/{GENRE_OUTPUT}  ·  profile {settings.profile}")
st.metric("Movies", int(frame["movies"].sum()))
bars = (
    alt.Chart(frame)
    .mark_bar(color="#0072B2")
    .encode(
        x=alt.X("movies:Q", title="Movies"),
        y=alt.Y("genre:N", sort="-x", title="Genre"),
        tooltip=["genre", "movies"],
    )
)
labels = bars.mark_text(align="left", dx=3, color="black").encode(text="movies:Q")
st.altair_chart(bars + labels, width="stretch")
st.dataframe(frame, hide_index=True, width="stretch")
