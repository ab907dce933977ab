"""Genres: movies per genre as sorted horizontal bars with value labels, each genre's share as a
donut, and the table behind both."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, data, state

context = state.current()
st.title("Genres")
if context.movies is None:
    state.no_data(context)
    st.stop()
counts = data.genre_counts(context.movies, context.filters)
if counts.empty:
    state.nothing_matches()
    st.stop()

bars, donut = st.columns([3, 2])
with bars:
    st.subheader("Movies per genre")
    st.altair_chart(charts.genre_bars(counts), width="stretch")
with donut:
    st.subheader("Share of genres")
    st.altair_chart(charts.genre_donut(data.top_genres(counts)), width="stretch")

st.subheader("The numbers")
st.dataframe(
    counts,
    hide_index=True,
    width="stretch",
    column_config={
        "genre": st.column_config.TextColumn("Genre"),
        "movies": st.column_config.NumberColumn("Movies", format="%d"),
        "share": st.column_config.NumberColumn("Share", format="percent"),
    },
)
st.caption(
    "Each movie counts once in each of its genres, so shares are of movie-genre pairs. "
    f"Source: {context.where}, `{data.MOVIES_OUTPUT}`."
)
