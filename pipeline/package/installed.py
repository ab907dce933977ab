"""The distributions installed in the running Python environment, read through
``importlib.metadata``.

Why: two things need "this distribution and everything it requires, as installed here": the
offline build of the Lambda package for this machine (``--from-installed``) and the local Lambda
runtime, which puts only awslambdaric and its requirements next to a package's code.
"""

from __future__ import annotations

import importlib.metadata as metadata
import sys
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from pipeline.package.exceptions import PackageError


def closure(names: Iterable[str]) -> list[metadata.Distribution]:
    """The installed distributions ``names`` and all they require, recursively: markers are
    evaluated for this interpreter, extras are not followed. Sorted by name."""
    found: dict[str, metadata.Distribution] = {}
    todo = list(names)
    while todo:
        name = todo.pop()
        key = canonicalize_name(name)
        if key in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            raise PackageError(f"{name} is not installed in {sys.prefix}: pip install {name}") from None
        found[key] = dist
        for text in dist.requires or []:
            try:
                requirement = Requirement(text)
            except InvalidRequirement:
                raise PackageError(f"{dist.metadata['Name']}: cannot read its requirement {text!r}") from None
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return [found[key] for key in sorted(found)]


def files(dist: metadata.Distribution) -> list[tuple[PurePosixPath, Path]]:
    """(path inside site-packages, file on disk) of every file the distribution installed
    there; files it put elsewhere (scripts in ``bin/``) are left out."""
    listed = dist.files
    if listed is None:
        raise PackageError(f"{dist.metadata['Name']}: its installed files are not listed (no RECORD)")
    result = []
    for item in listed:
        relative = PurePosixPath(str(item))
        if relative.parts and relative.parts[0] == "..":
            continue
        result.append((relative, Path(str(dist.locate_file(item)))))
    return result


def top_level(dist: metadata.Distribution) -> set[str]:
    """The top-level names (packages, modules, extension files, dist-info) the distribution put
    in site-packages; ``__pycache__`` is not one."""
    return {relative.parts[0] for relative, _ in files(dist) if relative.parts[0] != "__pycache__"}


def site_dir(dist: metadata.Distribution) -> Path:
    """The site-packages folder the distribution is installed in."""
    return Path(str(dist.locate_file("")))


def distributions_of_imports(roots: Iterable[str]) -> dict[str, str]:
    """Top-level import name -> the installed distribution that provides it."""
    provided = metadata.packages_distributions()
    result = {}
    for root in sorted(roots):
        names = provided.get(root)
        if not names:
            raise PackageError(f"the handler imports {root!r}, which no installed distribution provides")
        result[root] = names[0]
    return result


def version(name: str) -> str:
    return metadata.version(name)
