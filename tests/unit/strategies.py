"""Hypothesis strategies for messy CSV documents: delimiters, quotes, line endings, NA tokens
and typed cells, with the rules they are cleaned by. Shared by the accounting property and the
fast path's differential test."""

from __future__ import annotations

from hypothesis import strategies as st

from pipeline.preprocess.rules import ColumnRule, Rules

TOKENS = ["a", "Toy Story (1995)", "1", "x1", "2024-01-31", "NA", "-", " ", '"', '""', ",", ";", "\t", "|"]
LINE_ENDS = ["\n", "\r\n", "\r"]
RULES = Rules(columns=(ColumnRule("id", "int"), ColumnRule("day", "date", "null")))

cells = st.lists(st.sampled_from(TOKENS), max_size=4).map("".join)
lines = st.lists(cells, min_size=0, max_size=5).map(",".join)
documents = st.tuples(
    st.sampled_from(["id,title,day", "id;title;day", "title", '"id","ti,tle"', ""]),
    st.lists(lines, max_size=25),
    st.sampled_from(LINE_ENDS),
).map(lambda parts: parts[2].join([parts[0], *parts[1]]))
