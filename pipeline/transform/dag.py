"""Pure ordering of transforms: which tables each reads, which transforms feed which, and the
order that runs every transform after the ones it reads.

Why a plan: ``csvpipe transform --dry-run`` prints it, the job runner follows it, and the Glue
job script for AWS is generated from it, so the three never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from pipeline.errors import UserInputError
from pipeline.transform.sql import Transform


@dataclass(frozen=True)
class Step:
    """One transform in the order, with its inputs by kind."""

    transform: Transform
    upstream: tuple[str, ...]  # outputs of other transforms
    references: tuple[str, ...]  # reference CSV tables
    catalog: tuple[str, ...]  # catalog tables (datasets)

    @property
    def name(self) -> str:
        return self.transform.name


def plan(transforms: list[Transform], references: Iterable[str] = ()) -> list[Step]:
    """Every transform after the transforms it reads, ties broken by name. Raises
    UserInputError for a cycle, or an output that shadows a reference table."""
    by_name = {t.name: t for t in transforms}
    reference_names = frozenset(references)
    for name in sorted(by_name.keys() & reference_names):
        raise UserInputError(f"{by_name[name].path}: output {name!r} has the name of a reference table")
    steps = {
        t.name: Step(
            transform=t,
            upstream=tuple(sorted(n for n in t.tables if n in by_name and n != t.name)),
            references=tuple(sorted(n for n in t.tables if n in reference_names)),
            catalog=tuple(sorted(n for n in t.tables if n not in by_name and n not in reference_names)),
        )
        for t in transforms
    }
    for t in transforms:
        if t.name in t.tables:
            raise UserInputError(
                f"{t.path}: output {t.name!r} has the name of a table it reads; rename the file"
            )

    ordered: list[Step] = []
    done: set[str] = set()
    while len(ordered) < len(steps):
        ready = sorted(n for n, s in steps.items() if n not in done and set(s.upstream) <= done)
        if not ready:
            raise UserInputError(f"transforms read each other in a cycle: {_cycle(steps, done)}")
        for name in ready:
            ordered.append(steps[name])
            done.add(name)
    return ordered


def _cycle(steps: dict[str, Step], done: set[str]) -> str:
    """One cycle among the transforms not yet ordered, as ``a -> b -> a``."""
    start = min(n for n in steps if n not in done)
    path = [start]
    while True:
        following = min(n for n in steps[path[-1]].upstream if n not in done)
        if following in path:
            loop = [*path[path.index(following) :], following]
            return " -> ".join(loop)
        path.append(following)


def downstream_of(steps: list[Step], first: Iterable[str]) -> list[Step]:
    """The steps named in ``first`` and every step that reads their outputs, directly or not,
    in plan order."""
    chosen = set(first)
    for step in steps:  # plan order: a step's upstream comes before it
        if set(step.upstream) & chosen:
            chosen.add(step.name)
    return [step for step in steps if step.name in chosen]


def reading(steps: list[Step], dataset: str) -> list[Step]:
    """The steps that read catalog table ``dataset``, and everything downstream of them."""
    return downstream_of(steps, [step.name for step in steps if dataset in step.catalog])
