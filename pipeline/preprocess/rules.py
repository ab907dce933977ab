"""Cleaning rules per dataset: sensible defaults that need no configuration, overridable by a
small declarative file ``<rules_dir>/<dataset>.toml``.

    # rules/movies.toml
    na_tokens = ["", "NA", "N/A", "null", "-"]   # cells that mean "no value" (case-insensitive)
    dedupe = true                               # drop exact duplicate rows
    multi_value_columns = ["genre", "genres"]   # values like "Action|Comedy": split, lower-cased
    multi_value_separator = "|"
    year_from = "title"                         # no year column? take it from "Toy Story (1995)"
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from pipeline.errors import ConfigError


@dataclass(frozen=True)
class Rules:
    na_tokens: tuple[str, ...] = ("", "NA", "N/A", "null", "-")
    dedupe: bool = True
    multi_value_columns: tuple[str, ...] = ("genre", "genres")
    multi_value_separator: str = "|"
    year_from: str | None = "title"

    @property
    def na_set(self) -> frozenset[str]:
        return frozenset(token.strip().casefold() for token in self.na_tokens)


_KINDS = {
    "na_tokens": list,
    "dedupe": bool,
    "multi_value_columns": list,
    "multi_value_separator": str,
    "year_from": str,
}


def parse_rules(document: dict[str, Any], source: str) -> Rules:
    unknown = sorted(set(document) - {f.name for f in fields(Rules)})
    if unknown:
        raise ConfigError(f"{source}: unknown rule(s) {', '.join(unknown)}; known: {', '.join(_KINDS)}")
    values: dict[str, Any] = {}
    for name, value in document.items():
        kind = _KINDS[name]
        if not isinstance(value, kind) or (kind is list and not all(isinstance(v, str) for v in value)):
            wanted = "a list of strings" if kind is list else kind.__name__
            raise ConfigError(f"{source}: rule {name!r} must be {wanted}, got {value!r}")
        values[name] = tuple(value) if kind is list else value
    if values.get("multi_value_separator", "|") == "":
        raise ConfigError(f"{source}: rule 'multi_value_separator' must not be empty")
    return Rules(**values)


def load_rules(rules_dir: Path | None, dataset: str) -> Rules:
    """The dataset's rules: its file when there is one, else the defaults."""
    if rules_dir is None:
        return Rules()
    path = rules_dir / f"{dataset}.toml"
    if not path.is_file():
        return Rules()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from None
    return parse_rules(document, str(path))
