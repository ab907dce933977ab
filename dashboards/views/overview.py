"""Overview: the data at a glance (movies, genres, years covered, last update) and the
tutorial's main visual, movies per genre."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, data, state

context = state.current()
st.title("Overview")
if context.movies is None:
    state.no_data(context)
    st.stop()

tiles = data.overview(context.movies, context.filters, context.snapshot.last_update())
movies, genres, years, updated = st.columns(4)
movies.metric("Movies", tiles.movies, border=True)
genres.metric("Genres", tiles.genres, border=True)
years.metric("Years covered", tiles.years, border=True)
updated.metric("Last update (UTC)", tiles.last_update, border=True, help="When an output was last published.")

counts = data.genre_counts(context.movies, context.filters)
st.subheader("Movies per genre")
if counts.empty:
    state.nothing_matches()
    st.stop()
st.altair_chart(charts.genre_bars(counts), width="stretch")
with st.expander("The numbers behind the chart"):
    st.dataframe(counts[["genre", "movies"]], hide_index=True, width="stretch")
st.caption(f"Each movie counts once in each of its genres. Source: {context.where}, `{data.MOVIES_OUTPUT}`.")
