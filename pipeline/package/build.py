"""Builds the preprocessing Lambda's deployment zip: reads the handler's modules, gets the
dependencies, writes the zip. The choices are made in ``lambda_zip``; this module does the I/O.

Dependencies come from one of three places:

* the package index (``pip install --platform ... --only-binary=:all:``), for any target: PyPI
  unless the user's pip configuration names another index; needs the network;
* a wheelhouse folder (the same pip command with ``--no-index --find-links DIR``): offline, for
  any target whose wheels are in the folder;
* the distributions installed in this Python environment (``from_installed``): offline, for this
  machine's architecture and Python only, and only on Linux.

Third-party versions are pinned to those installed here, the ones the tests ran with.
"""

from __future__ import annotations

import importlib.metadata as metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import pipeline
from pipeline.errors import UserInputError
from pipeline.package import installed
from pipeline.package import lambda_zip as rules
from pipeline.package.exceptions import PackageError

FUNCTION = "csvpipe-preprocess"
PIP_TIMEOUT = 900.0


@dataclass(frozen=True)
class Built:
    """One zip written, and what a user wants to know about it."""

    path: Path
    target: rules.Target
    source: str
    zipped_bytes: int
    unzipped_bytes: int
    files: int
    modules: int
    distributions: dict[str, str]
    warnings: list[str]


def _find_module(root: Path) -> Callable[[str], rules.ModuleSource | None]:
    """A reader of ``pipeline`` modules under ``root`` (the folder holding the package)."""

    def find(name: str) -> rules.ModuleSource | None:
        base = root.joinpath(*name.split("."))
        for path, is_package in ((base / "__init__.py", True), (base.with_suffix(".py"), False)):
            if path.is_file():
                relative = PurePosixPath(path.relative_to(root).as_posix())
                return rules.ModuleSource(relative, path.read_text(encoding="utf-8"), is_package)
        return None

    return find


def handler_files() -> tuple[dict[PurePosixPath, Path], set[str]]:
    """The handler's own files (modules it imports, packaged rules) and the top-level names of the
    third-party modules it imports."""
    package_dir = Path(pipeline.__file__).resolve().parent
    root = package_dir.parent
    modules, external = rules.module_closure(rules.HANDLER_MODULE, _find_module(root))
    files = {path: root / path for path in modules.values()}
    for pattern in rules.PACKAGE_DATA:
        for path in sorted(package_dir.glob(pattern)):
            files[PurePosixPath(path.relative_to(root).as_posix())] = path
    return files, external


def requirements_for(external: set[str]) -> dict[str, str]:
    """Distribution name -> installed version, for each third-party import of the handler."""
    banned = sorted(external & rules.NEVER_PACKAGED)
    if banned:
        raise PackageError(
            f"the handler's modules import {', '.join(banned)}, which must not be in the Lambda package"
        )
    names = set(installed.distributions_of_imports(external).values())
    return {name: installed.version(name) for name in sorted(names)}


def _pip_install(goal: rules.Target, pins: dict[str, str], into: Path, wheelhouse: Path | None) -> None:
    arguments = rules.pip_arguments(
        goal,
        [f"{name}=={version}" for name, version in pins.items()],
        str(into),
        str(wheelhouse) if wheelhouse is not None else None,
    )
    try:
        done = subprocess.run(
            [sys.executable, "-m", "pip", *arguments],
            capture_output=True,
            text=True,
            timeout=PIP_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise PackageError(f"pip did not finish within {PIP_TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        raise PackageError(rules.pip_failure(goal, done.stderr + done.stdout))


def _files_under(folder: Path) -> dict[PurePosixPath, Path]:
    found = {}
    for path in sorted(folder.rglob("*")):
        relative = PurePosixPath(path.relative_to(folder).as_posix())
        if path.is_file() and rules.keep(relative):
            found[relative] = path
    return found


def _versions_under(folder: Path) -> dict[str, str]:
    return {dist.metadata["Name"]: dist.version for dist in metadata.distributions(path=[str(folder)])}


def _installed_files(
    goal: rules.Target, pins: dict[str, str]
) -> tuple[dict[PurePosixPath, Path], dict[str, str], list[str]]:
    """The files of the pinned distributions and their requirements, as installed here."""
    files: dict[PurePosixPath, Path] = {}
    versions: dict[str, str] = {}
    warnings: list[str] = []
    for dist in installed.closure(list(pins)):
        name = dist.metadata["Name"]
        versions[name] = dist.version
        tags = [
            line.split(":", 1)[1].strip()
            for line in (dist.read_text("WHEEL") or "").splitlines()
            if line.startswith("Tag:")
        ]
        problem = rules.wheel_problem(name, dist.version, tags, goal)
        if problem:
            warnings.append(problem)
        for relative, path in installed.files(dist):
            if rules.keep(relative) and path.is_file():
                files.setdefault(relative, path)
    return files, versions, warnings


def write_zip(path: Path, files: dict[PurePosixPath, Path], manifest: bytes) -> None:
    """Entries sorted, with fixed dates and permissions: the same files give the same bytes."""
    partial = path.with_name(path.name + ".part")
    try:
        with zipfile.ZipFile(partial, "w") as archive:
            entries: dict[str, Path | None] = {str(name): source for name, source in files.items()}
            entries[rules.MANIFEST] = None
            for name in sorted(entries):
                source = entries[name]
                if source is None:
                    archive.writestr(rules.zip_entry(name, executable=False), manifest)
                    continue
                info = rules.zip_entry(name, executable=os.access(source, os.X_OK))
                with source.open("rb") as reader, archive.open(info, "w") as writer:
                    shutil.copyfileobj(reader, writer, 1024 * 1024)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def build_lambda_zip(
    goal: rules.Target, out_dir: Path, *, wheelhouse: Path | None = None, from_installed: bool = False
) -> Built:
    """Build the zip for ``goal`` in ``out_dir``; raises PackageError when it cannot be built or
    would be over Lambda's limit."""
    if wheelhouse is not None and not wheelhouse.is_dir():
        raise PackageError(f"{wheelhouse}: no such folder (--wheelhouse needs a folder of .whl files)")
    own, external = handler_files()
    pins = requirements_for(external)
    with tempfile.TemporaryDirectory(prefix="csvpipe-package-") as staging:
        if from_installed:
            deps, versions, warnings = _installed_files(goal, pins)
            source = "installed"
        else:
            _pip_install(goal, pins, Path(staging), wheelhouse)
            deps, versions, warnings = _files_under(Path(staging)), _versions_under(Path(staging)), []
            source = "wheelhouse" if wheelhouse is not None else "index"
        files = {**deps, **own}
        banned = rules.never_packaged(files)
        if banned:
            raise PackageError(f"the package would contain {', '.join(banned)}: it must not")
        manifest = rules.manifest_bytes(rules.manifest(goal, source, pipeline.__version__, versions))
        unzipped = sum(path.stat().st_size for path in files.values()) + len(manifest)
        rules.check_unzipped(unzipped)
        out_dir.mkdir(parents=True, exist_ok=True)
        path = out_dir / rules.zip_name(FUNCTION, pipeline.__version__, goal)
        write_zip(path, files, manifest)
    zipped = path.stat().st_size
    return Built(
        path=path,
        target=goal,
        source=source,
        zipped_bytes=zipped,
        unzipped_bytes=unzipped,
        files=len(files) + 1,
        modules=sum(1 for name in own if name.suffix == ".py"),
        distributions=dict(sorted(versions.items())),
        warnings=warnings + rules.zipped_warnings(zipped),
    )


def host_target(arch: str | None, python_version: str | None) -> rules.Target:
    """The target of a ``from_installed`` build: this machine and this Python."""
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    return rules.installed_target(platform.system(), platform.machine(), python, arch, python_version)


def read_manifest(package: Path) -> dict[str, object] | None:
    """The csvpipe manifest inside a zip, or None when it has none (a zip built otherwise)."""
    try:
        with zipfile.ZipFile(package) as archive:
            return json.loads(archive.read(rules.MANIFEST))
    except KeyError:
        return None
    except FileNotFoundError:
        raise UserInputError(f"{package}: no such file") from None
    except (zipfile.BadZipFile, IsADirectoryError):
        raise UserInputError(f"{package}: not a zip file (expected a Lambda deployment zip)") from None
    except ValueError:
        raise UserInputError(f"{package}: its {rules.MANIFEST} is not valid JSON") from None
