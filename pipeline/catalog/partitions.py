"""Pure partition layout: which folders under a dataset become the table's partition keys.

Why: ``csvpipe run`` and the Lambda keep the raw key's folders (raw ``movies/year=2024/a.csv``
becomes processed ``movies/year=2024/a.csv``, see pipeline.layout.processed_key), so a user's
Hive-style folders reach the processed bucket, where query engines expect them as partitions.

- ``csvpipe`` mode: ``key=value`` folders are partition keys when every file of the dataset sits
  under the same keys in the same order; other folders are just where files live (no partition).
  Key types are inferred from the values (``year=2024`` -> bigint, ``dt=2024-05-01`` -> date).
- ``glue-compatible`` mode, as AWS's crawler does: every folder level is a partition key, named
  by its ``key=`` when every folder at that level has the same one, else ``partition_0``,
  ``partition_1``, …; keys are string (Glue guide, "How does a crawler determine when to create
  partitions?").

A layout that is not one table (files at different depths, different keys) is a CatalogError
that says which files disagree, never a guess.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import unquote

from pipeline.catalog.exceptions import PartitionLayoutError
from pipeline.catalog.infer import DATE, INTEGER, Mode, profile_values

_HIVE_FOLDER = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)")


@dataclass(frozen=True)
class PartitionKey:
    name: str
    type: str


@dataclass(frozen=True)
class PartitionLayout:
    keys: tuple[PartitionKey, ...]
    # Each file's partition values, keyed by its path relative to the dataset's folder.
    values: dict[str, tuple[str, ...]]


def _folders(key: str) -> tuple[str, ...]:
    return PurePosixPath(key).parts[:-1]


def _hive(folder: str) -> tuple[str, str] | None:
    match = _HIVE_FOLDER.fullmatch(folder)
    return (match[1], unquote(match[2])) if match else None


def _key_type(values: Sequence[str], mode: Mode) -> str:
    if mode == "glue-compatible":
        return "string"
    kinds = profile_values(values).kinds
    if kinds == {INTEGER}:
        return "bigint"
    if kinds == {DATE}:
        return "date"
    return "string"


def partition_layout(dataset: str, keys: Sequence[str], mode: Mode) -> PartitionLayout:
    """The partition keys of a dataset whose files are ``keys`` (relative to its folder)."""
    if mode == "glue-compatible":
        return _glue_layout(dataset, keys)
    return _csvpipe_layout(dataset, keys)


def _csvpipe_layout(dataset: str, keys: Sequence[str]) -> PartitionLayout:
    if not any(_hive(folder) for key in keys for folder in _folders(key)):
        return PartitionLayout((), {key: () for key in keys})
    names: tuple[str, ...] | None = None
    first = ""
    values: dict[str, tuple[str, ...]] = {}
    for key in keys:
        parsed = [_hive(folder) for folder in _folders(key)]
        if not all(parsed):
            raise PartitionLayoutError(
                f"dataset {dataset!r} mixes key=value folders with others ({key}): put every file "
                "under the same key=value folders (or none)"
            )
        pairs = [pair for pair in parsed if pair]
        these = tuple(name for name, _ in pairs)
        if names is None:
            names, first = these, key
        elif these != names:
            raise PartitionLayoutError(
                f"dataset {dataset!r} has files under different partition folders ({first} and {key}): "
                "put every file under the same key=value folders, in the same order"
            )
        values[key] = tuple(value for _, value in pairs)
    assert names is not None
    if len(set(names)) != len(names):
        raise PartitionLayoutError(f"dataset {dataset!r} repeats a partition key in {first}")
    columns = list(zip(*values.values(), strict=True))
    return PartitionLayout(
        tuple(
            PartitionKey(name, _key_type(column, "csvpipe"))
            for name, column in zip(names, columns, strict=True)
        ),
        values,
    )


def _glue_layout(dataset: str, keys: Sequence[str]) -> PartitionLayout:
    depths = {len(_folders(key)) for key in keys}
    if len(depths) > 1:
        shallow = min(keys, key=lambda k: len(_folders(k)))
        deep = max(keys, key=lambda k: len(_folders(k)))
        raise PartitionLayoutError(
            f"dataset {dataset!r} has files at different folder depths ({shallow} and {deep}): AWS Glue's "
            "crawler would not make one table of them; keep every file at the same depth"
        )
    depth = depths.pop() if depths else 0
    names = []
    for level in range(depth):
        parsed = [_hive(_folders(key)[level]) for key in keys]
        hive_names = {pair[0] if pair else None for pair in parsed}
        if len(hive_names) == 1 and None not in hive_names:
            names.append(hive_names.pop())
        else:
            names.append(f"partition_{level}")
    values = {}
    for key in keys:
        row = []
        for level, folder in enumerate(_folders(key)):
            pair = _hive(folder)
            row.append(pair[1] if pair and pair[0] == names[level] else folder)
        values[key] = tuple(row)
    return PartitionLayout(tuple(PartitionKey(str(name), "string") for name in names), values)


def check_key_names(dataset: str, layout: PartitionLayout, columns: Sequence[str]) -> None:
    """A partition key may not share a name with a column: Glue would register both, and
    Athena then rejects the table (duplicate columns)."""
    lowered = {name.lower() for name in columns}
    for key in layout.keys:
        if key.name.lower() in lowered:
            raise PartitionLayoutError(
                f"dataset {dataset!r}: the folder key {key.name!r} is also a column of its files; "
                f"rename the folders (e.g. {key.name}_part=...) or the column"
            )
