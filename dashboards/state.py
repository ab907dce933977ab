"""What every page of the dashboard shares, prepared once per run by ``app.py``: the settings,
a snapshot of the buckets, the per-movie data, the sidebar's filters, and a watcher that reruns
the app when the buckets change.

Why: Streamlit runs the main script, then the chosen page, on every interaction. Reading the
buckets here, with downloads cached by ETag, keeps pages to presentation; the watcher (a
fragment that lists the buckets every few seconds) brings new data in without a reload.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from dashboards import data, source
from pipeline import layout
from pipeline.aws import client
from pipeline.settings import Settings

REFRESH_SECONDS = 5
_CONTEXT_KEY = "_csvpipe_context"


@dataclass(frozen=True)
class Context:
    """Everything a page needs for one run of the app."""

    settings: Settings
    s3: Any
    snapshot: source.Snapshot
    movies: pd.DataFrame | None
    """The per-movie output, typed; None before it exists."""
    filters: data.Filters

    @property
    def where(self) -> str:
        return f"s3://{self.settings.final_bucket} · profile {self.settings.profile}"

    def read_output(self, output: str) -> pd.DataFrame | None:
        """A final output's CSV as a data frame, None when it does not exist."""
        obj = self.snapshot.get(layout.final_data_key(output))
        if obj is None:
            return None
        return _csv(self.settings.endpoint_url, self.settings.final_bucket, obj.key, obj.etag, self)

    def run_records(self) -> dict[str, dict[str, dict[str, Any]]]:
        """``{run: {stage: record}}`` of the newest runs."""
        bucket = self.settings.processed_bucket
        return {
            run: {
                stage: _json(self.settings.endpoint_url, bucket, obj.key, obj.etag, self)
                for stage, obj in stages.items()
            }
            for run, stages in self.snapshot.run_records().items()
        }


@st.cache_resource(show_spinner=False)
def _client(endpoint: str | None, region: str, profile: str, key_id: str | None, _settings: Settings) -> Any:
    """One S3 client per endpoint and identity for the server's lifetime (boto3 clients are
    thread-safe)."""
    return client(_settings, "s3")


# Keyed by endpoint, bucket, key and ETag: a changed object is a new entry, an unchanged one is
# never downloaded twice; the TTL bounds how long replaced versions stay in memory.
@st.cache_data(ttl=600, max_entries=64, show_spinner=False)
def _csv(endpoint: str | None, bucket: str, key: str, etag: str, _ctx: Context) -> pd.DataFrame | None:
    body = source.read_bytes(_ctx.s3, _ctx.settings, bucket, key)
    return None if body is None else source.parse_csv(body)


@st.cache_data(ttl=600, max_entries=2048, show_spinner=False)
def _json(endpoint: str | None, bucket: str, key: str, etag: str, _ctx: Context) -> dict[str, Any]:
    body = source.read_bytes(_ctx.s3, _ctx.settings, bucket, key)
    return {} if body is None else source.parse_json(body)


def s3_client(settings: Settings) -> Any:
    return _client(
        settings.endpoint_url, settings.region, settings.profile, settings.aws_access_key_id, settings
    )


def watch(settings: Settings, signature: tuple[Any, ...] | None) -> None:
    """Rerun the whole app when the buckets' listing differs from ``signature`` (None when they
    could not be read): new data, a finished run, or the stack coming back."""

    @st.fragment(run_every=REFRESH_SECONDS)
    def _watch() -> None:
        try:
            current: tuple[Any, ...] | None = source.take_snapshot(s3_client(settings), settings).signature
        except source.Unavailable:
            current = None
        if current != signature:
            st.rerun()

    _watch()


def _filters(movies: pd.DataFrame) -> data.Filters:
    """The sidebar's filter widgets; their state survives page changes and new data."""
    bounds = data.year_bounds(movies)
    years: tuple[int, int] | None = None
    if bounds is not None and bounds[0] < bounds[1]:
        low, high = bounds
        # A range left at its full width follows the data (new years included); a narrowed one
        # is kept, within the new bounds.
        before = st.session_state.get("_years_bounds")
        chosen = tuple(st.session_state.get("years", bounds))
        if chosen == before or before is None:
            chosen = bounds
        st.session_state["years"] = (max(low, min(chosen[0], high)), min(high, max(chosen[1], low)))
        st.session_state["_years_bounds"] = bounds
        picked = st.sidebar.slider("Years", low, high, key="years", help="Release years to include.")
        years = None if tuple(picked) == bounds else (int(picked[0]), int(picked[1]))
    elif bounds is not None:
        st.sidebar.caption(f"Year: {bounds[0]} (the only year in the data)")
    options = data.genres_by_count(movies)
    st.session_state["genres"] = [g for g in st.session_state.get("genres", []) if g in options]
    genres = st.sidebar.multiselect(
        "Genres",
        options,
        key="genres",
        format_func=str.capitalize,
        placeholder="All genres",
        help="Show only movies of these genres; none chosen shows every genre.",
    )
    return data.Filters(years=years, genres=tuple(genres))


def prepare(settings: Settings) -> Context:
    """Read the buckets and draw the sidebar; on an unreachable endpoint, say so and stop."""
    s3 = s3_client(settings)
    try:
        snapshot = source.take_snapshot(s3, settings)
    except source.Unavailable as exc:
        st.error(str(exc))
        watch(settings, None)
        st.stop()
    context = Context(settings, s3, snapshot, None, data.Filters())
    try:
        raw = context.read_output(data.MOVIES_OUTPUT)
        movies = None if raw is None or raw.empty else data.movies_frame(raw)
    except source.Unavailable as exc:
        st.error(str(exc))
        watch(settings, None)
        st.stop()
    except data.NotMovieData as exc:
        st.warning(f"{exc}: the charts need the per-movie output; the Data and Pipeline pages still work.")
        movies = None
    filters = _filters(movies) if movies is not None else data.Filters()
    st.sidebar.caption(f"Data: {context.where}. Checks for new data every {REFRESH_SECONDS} s.")
    watch(settings, snapshot.signature)
    context = Context(settings, s3, snapshot, movies, filters)
    st.session_state[_CONTEXT_KEY] = context
    return context


def current() -> Context:
    """The context ``app.py`` prepared for this run."""
    return st.session_state[_CONTEXT_KEY]


def no_data(context: Context) -> None:
    """The empty state of the chart pages: what to run to get data."""
    st.info(
        f"No data yet: the charts are computed from the `{data.MOVIES_OUTPUT}` output in "
        f"s3://{context.settings.final_bucket}. Run `csvpipe run data/samples/movies.csv`; "
        f"this page updates itself within {REFRESH_SECONDS} s of the data arriving."
    )


def nothing_matches() -> None:
    st.info("No movies match the filters: widen the year range or choose other genres in the sidebar.")
