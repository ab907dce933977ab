"""Data: any final output as a searchable, sortable table (click a column's header to sort),
with the rows shown downloadable as CSV."""

from __future__ import annotations

import streamlit as st

from dashboards import data, state

context = state.current()
st.title("Data")
outputs = context.snapshot.outputs()
if not outputs:
    state.no_data(context)
    st.stop()

default = outputs.index(data.MOVIES_OUTPUT) if data.MOVIES_OUTPUT in outputs else 0
pick, search = st.columns([1, 2])
output = pick.selectbox(
    "Output", outputs, index=default, key="output", help="A final output of the transforms."
)
text = search.text_input("Search", key="search", placeholder="Text in any column, e.g. toy story")
frame = context.read_output(output)
if frame is None:
    st.info(f"{output} was removed from s3://{context.settings.final_bucket}; pick another output.")
    st.stop()

shown = data.search_rows(data.filter_output(frame, context.filters), text)
st.dataframe(shown, hide_index=True, width="stretch")
st.caption(
    f"{len(shown)} of {len(frame)} rows of s3://{context.settings.final_bucket}/{output}/{output}.csv; "
    "the sidebar's filters apply to its year, decade and genre columns."
)
st.download_button(
    "Download CSV",
    shown.to_csv(index=False).encode(),
    file_name=f"{output}.csv",
    mime="text/csv",
    on_click="ignore",
)
