"""The dashboard's charts as Altair (Vega-Lite) specifications, built from shaped data frames.

Why one module: every chart shares the same readable labels (genres capitalised, axis titles
in words, value labels on bars) and colour-blind-safe colours: the Okabe-Ito palette for
genres (each genre keeps its colour across charts, the smaller ones grouped as "other genres"
in grey) and the viridis scale for counts. These functions only build specifications; the
pages hand them to ``st.altair_chart``.
"""

from __future__ import annotations

from collections.abc import Sequence

import altair as alt
import pandas as pd

from dashboards.data import OTHER

OKABE_ITO = ("#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7")
"""Okabe & Ito's colour-blind-safe hues (their black left out: it reads as text)."""
OTHER_COLOUR = "#999999"
BAR_COLOUR = "#0072B2"
CAPITALISED = "upper(slice(datum.label, 0, 1)) + slice(datum.label, 1)"
"""A Vega expression: "action" is shown as "Action" (the data keeps the lower-case value)."""
FEW_YEARS = 12
ROW_PIXELS = 34
AXIS_PIXELS = 70
"""A chart with a genre axis is this tall per genre, plus the x axis and its title."""


def genre_colours(genres: Sequence[str]) -> alt.Scale:
    """A colour per genre, in the given order (most frequent first), grey for "other genres"."""
    named = [g for g in genres if g != OTHER]
    domain = [*named, *([OTHER] if OTHER in genres else [])]
    colours = [OKABE_ITO[i % len(OKABE_ITO)] for i in range(len(named))]
    return alt.Scale(domain=domain, range=[*colours, *([OTHER_COLOUR] if OTHER in genres else [])])


def genre_bars(counts: pd.DataFrame) -> alt.LayerChart:
    """Movies per genre as horizontal bars, sorted by count, each labelled with its value."""
    frame = counts[["genre", "movies"]]
    bars = (
        alt.Chart(frame)
        .mark_bar(color=BAR_COLOUR)
        .encode(
            x=alt.X("movies:Q", title="Movies", axis=alt.Axis(tickMinStep=1, format="d")),
            y=alt.Y(
                "genre:N", sort="-x", title="Genre", axis=alt.Axis(labelExpr=CAPITALISED, labelLimit=200)
            ),
            tooltip=[alt.Tooltip("genre:N", title="Genre"), alt.Tooltip("movies:Q", title="Movies")],
        )
    )
    labels = bars.mark_text(align="left", baseline="middle", dx=4, fontSize=13).encode(text="movies:Q")
    return (bars + labels).properties(height=AXIS_PIXELS + ROW_PIXELS * len(frame))


def genre_donut(shares: pd.DataFrame) -> alt.LayerChart:
    """Each genre's share of movie-genre pairs as a donut, the share written on slices of 5 % or
    more (the legend and the tooltip name every slice)."""
    order = list(shares["genre"])
    frame = shares.assign(rank=range(len(shares)))
    base = alt.Chart(frame).encode(
        theta=alt.Theta("movies:Q", stack=True),
        order=alt.Order("rank:Q"),
        tooltip=[
            alt.Tooltip("genre:N", title="Genre"),
            alt.Tooltip("movies:Q", title="Movies"),
            alt.Tooltip("share:Q", title="Share", format=".1%"),
        ],
    )
    arcs = base.mark_arc(innerRadius=70, outerRadius=130, stroke="#FFFFFF").encode(
        color=alt.Color(
            "genre:N",
            scale=genre_colours(order),
            sort=order,
            title="Genre",
            legend=alt.Legend(labelExpr=CAPITALISED, orient="right"),
        )
    )
    labels = (
        base.transform_calculate(label="datum.share >= 0.05 ? format(datum.share, '.0%') : ''")
        .mark_text(radius=100, fontSize=12, fontWeight="bold", color="#000000")
        .encode(text="label:N")
    )
    return (arcs + labels).properties(height=300)


def year_bars(per_year: pd.DataFrame, genres: Sequence[str]) -> alt.Chart:
    """Movies per year, stacked by genre (a movie counts once in each of its genres); bars keep a
    readable width when there are few years."""
    low, high = int(per_year["year"].min()), int(per_year["year"].max())
    every_year = list(range(low, high + 1))  # years without movies keep their place on the axis
    few = len(every_year) <= FEW_YEARS
    return (
        alt.Chart(per_year)
        .mark_bar(**({"size": 48} if few else {}))
        .encode(
            x=alt.X(
                "year:O",
                title="Year",
                scale=alt.Scale(domain=every_year),
                axis=alt.Axis(labelAngle=0, labelOverlap="greedy"),
            ),
            y=alt.Y("sum(movies):Q", title="Movies (per genre)", axis=alt.Axis(tickMinStep=1, format="d")),
            color=alt.Color(
                "genre:N",
                scale=genre_colours(genres),
                sort=list(genres),
                title="Genre",
                legend=alt.Legend(labelExpr=CAPITALISED),
            ),
            order=alt.Order("movies:Q", sort="descending"),
            tooltip=[
                alt.Tooltip("year:O", title="Year"),
                alt.Tooltip("genre:N", title="Genre"),
                alt.Tooltip("movies:Q", title="Movies"),
            ],
        )
        .properties(height=320)
    )


def decade_heatmap(per_decade: pd.DataFrame, genres: Sequence[str]) -> alt.LayerChart:
    """Movies per decade and genre as a grid of counts, darker for more (viridis)."""
    base = alt.Chart(per_decade).encode(
        x=alt.X("decade_label:O", title="Decade", sort=alt.SortField("decade"), axis=alt.Axis(labelAngle=0)),
        y=alt.Y("genre:N", title="Genre", sort=list(genres), axis=alt.Axis(labelExpr=CAPITALISED)),
    )
    cells = base.mark_rect().encode(
        color=alt.Color("movies:Q", title="Movies", scale=alt.Scale(scheme="viridis", reverse=True)),
        tooltip=[
            alt.Tooltip("decade_label:O", title="Decade"),
            alt.Tooltip("genre:N", title="Genre"),
            alt.Tooltip("movies:Q", title="Movies"),
        ],
    )
    top = int(per_decade["movies"].max()) if len(per_decade) else 0
    numbers = base.mark_text(fontSize=12).encode(
        text="movies:Q",
        color=alt.condition(f"datum.movies > {top / 2}", alt.value("#FFFFFF"), alt.value("#000000")),
    )
    return (cells + numbers).properties(height=AXIS_PIXELS + ROW_PIXELS * per_decade["genre"].nunique())
