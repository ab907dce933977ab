"""Trends: movies per release year and per decade, by genre."""

from __future__ import annotations

import streamlit as st

from dashboards import charts, data, state

context = state.current()
st.title("Trends")
if context.movies is None:
    state.no_data(context)
    st.stop()
counts = data.genre_counts(context.movies, context.filters)
years = data.per_year(context.movies, context.filters)
if counts.empty or years.empty:
    state.nothing_matches()
    st.stop()

st.subheader("Movies per year, by genre")
st.altair_chart(charts.year_bars(years, list(data.top_genres(counts)["genre"])), width="stretch")
if len(counts) > data.TOP_GENRES:
    st.caption(f"The {data.TOP_GENRES} most frequent genres have a colour each; the others are grouped.")

st.subheader("Movies per decade, by genre")
decades = data.per_decade(context.movies, context.filters)
st.altair_chart(charts.decade_heatmap(decades, list(counts["genre"])), width="stretch")
st.caption(
    "Each movie counts once in each of its genres; movies without a year are left out. "
    f"Source: {context.where}, `{data.MOVIES_OUTPUT}`."
)
