"""Pipeline: each uploaded file's way through the stages, newest first, from the run records in
the processed bucket (``_runs/<run>/<stage>.json``): raw -> processed -> table -> outputs, with
row counts, rejects, seconds per stage and errors."""

from __future__ import annotations

import json

import streamlit as st

from dashboards import data, state

context = state.current()
st.title("Pipeline")
records = context.run_records()
if not records:
    st.info(
        f"No runs yet in s3://{context.settings.processed_bucket}/_runs/: upload a file with "
        "`csvpipe run data/samples/movies.csv`; this page updates itself."
    )
    st.stop()

rows = data.lineage(records)
failed = int(rows["status"].str.startswith("failed").sum())
st.caption(f"{len(rows)} run(s), {failed} failed. One run per version of a raw object, the newest first.")
st.dataframe(
    rows,
    hide_index=True,
    width="stretch",
    column_config={
        "started": st.column_config.TextColumn("Started (UTC)"),
        "status": st.column_config.TextColumn("Status"),
        "raw": st.column_config.TextColumn("Raw object"),
        "processed": st.column_config.TextColumn("Processed"),
        "table": st.column_config.TextColumn("Table"),
        "outputs": st.column_config.TextColumn("Outputs"),
        "rows_in": st.column_config.NumberColumn("Rows in"),
        "rows_out": st.column_config.NumberColumn("Rows out"),
        "rejected": st.column_config.NumberColumn("Rejected"),
        "empty": st.column_config.NumberColumn("Empty"),
        "duplicate": st.column_config.NumberColumn("Duplicate"),
        "rejects": st.column_config.TextColumn("Rejects file"),
        "preprocess_s": st.column_config.NumberColumn("Preprocess", format="%.2f s"),
        "crawl_s": st.column_config.NumberColumn("Crawl", format="%.2f s"),
        "transform_s": st.column_config.NumberColumn("Transform", format="%.2f s"),
        "error": st.column_config.TextColumn("Error"),
        "run": st.column_config.TextColumn("Run id"),
    },
)

st.subheader("Lineage of one run")
labels = {row.run: f"{row.raw or row.run} · {row.status} · {row.started}" for row in rows.itertuples()}
run = st.selectbox("Run", list(labels), format_func=labels.get, key="run")
st.graphviz_chart(data.lineage_dot(records[run]), width="stretch")
with st.expander("Run records"):
    for stage, record in records[run].items():
        st.markdown(f"`s3://{context.settings.processed_bucket}/_runs/{run}/{stage}.json`")
        st.code(json.dumps(record, indent=2, sort_keys=True), language="json")
