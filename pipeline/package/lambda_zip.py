"""What goes into the preprocessing Lambda's deployment zip, for which runtime, and the limits
it must meet: pure rules, no file or network access (``pipeline.package.build`` does that).

Why apart: the choices are where packaging goes wrong (a CLI module in the zip, a wheel for the
wrong glibc, a package over Lambda's 250 MB), and each is a small function a test can table.

The zip holds, at its root:

* the ``pipeline`` modules the handler imports, found by following its ``import`` statements
  from ``pipeline.preprocess.handler`` (so the CLI, dashboards and emulators stay out), and the
  packaged rules (``pipeline/rules/*.toml``);
* the third-party distributions those modules import (DuckDB, boto3) and what they require, as
  wheels for the target: CPython ``python_version``, ``manylinux_2_X`` for the architecture, with
  X at most the glibc of the runtime's Amazon Linux (2.26 for python3.11 on Amazon Linux 2,
  2.34 for python3.12 and later on Amazon Linux 2023);
* ``csvpipe-package.json``: the target, the handler and the versions inside.

Entries are sorted, dated 1980-01-01 and carry fixed permissions, so the same inputs give the
same bytes. No ``__pycache__``: compiled files depend on the Python version and change the bytes.
"""

from __future__ import annotations

import ast
import json
import re
import sys
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from pipeline.errors import UserInputError
from pipeline.package.exceptions import PackageError

HANDLER = "pipeline.preprocess.handler.handler"
HANDLER_MODULE = HANDLER.rpartition(".")[0]
LOCAL_PACKAGE = "pipeline"
PACKAGE_DATA = ("rules/*.toml",)  # inside the pipeline package: the default cleaning rules
MANIFEST = "csvpipe-package.json"

MIB = 1024 * 1024
UNZIPPED_LIMIT = 250 * MIB  # Lambda: 262,144,000 bytes unzipped, code and layers together
DIRECT_UPLOAD_LIMIT = 50 * MIB  # Lambda: a bigger zip must be uploaded through S3

# Lambda's architecture name -> the machine name in wheel tags.
ARCHITECTURES = {"x86_64": "x86_64", "arm64": "aarch64"}
DEFAULT_ARCHITECTURE = "x86_64"  # Lambda's default when a function names none
# Lambda Python runtimes csvpipe can use (it needs 3.11+) -> glibc of their Amazon Linux.
RUNTIME_GLIBC = {"3.11": (2, 26), "3.12": (2, 34), "3.13": (2, 34), "3.14": (2, 34)}
DEFAULT_PYTHON = "3.12"
OLDEST_MANYLINUX_GLIBC_MINOR = 17  # manylinux2014; older wheels are matched through it by pip
# Legacy manylinux names -> the glibc they stand for (PEP 600).
LEGACY_MANYLINUX = {"manylinux2014": (2, 17), "manylinux2010": (2, 12), "manylinux1": (2, 5)}

# Top-level names that must never be in the zip: the CLI's, the dashboard's and the emulator's.
NEVER_PACKAGED = frozenset(
    {"typer", "rich", "click", "streamlit", "altair", "moto", "emulators", "dashboards", "pytest"}
)
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # the earliest date a zip can hold


@dataclass(frozen=True)
class Target:
    """A Lambda runtime and architecture to build for."""

    arch: str
    python_version: str

    @property
    def machine(self) -> str:
        return ARCHITECTURES[self.arch]

    @property
    def runtime(self) -> str:
        return f"python{self.python_version}"

    @property
    def glibc(self) -> tuple[int, int]:
        return RUNTIME_GLIBC[self.python_version]

    def platform_tags(self) -> list[str]:
        """The manylinux platforms a wheel may have to load on this runtime, newest first:
        ``manylinux_2_<glibc>`` down to ``manylinux_2_17``, then ``manylinux2014`` (which pip
        widens to manylinux2010 and manylinux1)."""
        major, minor = self.glibc
        tags = [
            f"manylinux_{major}_{n}_{self.machine}"
            for n in range(minor, OLDEST_MANYLINUX_GLIBC_MINOR - 1, -1)
        ]
        return [*tags, f"manylinux2014_{self.machine}"]


def target(arch: str, python_version: str) -> Target:
    """A validated target, or one line saying which values are possible."""
    if arch not in ARCHITECTURES:
        raise UserInputError(f"unknown architecture {arch!r}: choose {' or '.join(ARCHITECTURES)}")
    if python_version not in RUNTIME_GLIBC:
        raise UserInputError(
            f"unsupported Python version {python_version!r}: csvpipe's handler runs on the Lambda "
            f"runtimes {', '.join('python' + v for v in RUNTIME_GLIBC)}"
        )
    return Target(arch, python_version)


def host_arch(machine: str) -> str | None:
    """Lambda's name for this machine's architecture (``platform.machine()``), if it has one."""
    return {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}.get(machine.lower())


def installed_target(
    system: str, machine: str, python: str, arch: str | None, python_version: str | None
) -> Target:
    """The target of a package built from this environment's installed distributions: only this
    machine's architecture and Python can be, and only on Linux."""
    if system != "Linux":
        raise UserInputError(
            f"--from-installed needs Linux: the distributions installed here are {system} builds, "
            "Lambda runs Linux; build from PyPI or --wheelhouse instead"
        )
    here = host_arch(machine)
    if here is None:
        raise UserInputError(f"--from-installed: Lambda has no {machine} architecture")
    if arch is not None and arch != here:
        raise UserInputError(
            f"--from-installed builds for this machine ({here}), not {arch}: drop --from-installed "
            "to get the wheels from PyPI or --wheelhouse"
        )
    if python_version is not None and python_version != python:
        raise UserInputError(
            f"--from-installed builds for this Python ({python}), not {python_version}: drop "
            "--from-installed to get the wheels from PyPI or --wheelhouse"
        )
    return target(here, python)


def zip_name(function: str, version: str, goal: Target) -> str:
    return f"{function}-{version}-{goal.runtime}-{goal.arch}.zip"


# ---- which pipeline modules the handler needs ------------------------------------------------


def imported_names(source: str, module: str, is_package: bool) -> set[str]:
    """Absolute names of every module ``source`` imports, anywhere in it (a lazy import inside a
    function still has to be in the zip). ``from a import b`` gives ``a`` and ``a.b``: ``b`` may
    be a module; the caller keeps the names that are."""
    package = module if is_package else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(ast.parse(source, filename=module)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                if node.level - 1 >= len(parts):
                    raise PackageError(f"{module}: relative import beyond the top-level package")
                base_parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


@dataclass(frozen=True)
class ModuleSource:
    path: PurePosixPath  # inside the zip, e.g. pipeline/preprocess/handler.py
    source: str
    is_package: bool


def module_closure(
    start: str, find: Callable[[str], ModuleSource | None], local: str = LOCAL_PACKAGE
) -> tuple[dict[str, PurePosixPath], set[str]]:
    """Follow imports from module ``start``: (every local module needed -> its path, the
    top-level names of the non-standard-library modules they import). ``find`` reads a local
    module, or returns None when the name is not a module (an attribute imported by name)."""
    needed: dict[str, PurePosixPath] = {}
    external: set[str] = set()
    todo = [start]
    while todo:
        name = todo.pop()
        if name in needed:
            continue
        top = name.split(".")[0]
        if top != local:
            if top not in sys.stdlib_module_names and top != "__future__":
                external.add(top)
            continue
        found = find(name)
        if found is None:
            if name == start:
                raise PackageError(f"{start}: no such module in the {local} package")
            continue
        needed[name] = found.path
        # Importing a.b.c runs a/__init__ and a/b/__init__ first.
        parts = name.split(".")
        todo.extend(".".join(parts[:n]) for n in range(1, len(parts)))
        todo.extend(imported_names(found.source, name, found.is_package))
    return needed, external


# ---- what goes in the zip -----------------------------------------------------------------------


def keep(path: PurePosixPath) -> bool:
    """Whether an installed file belongs in the zip: no compiled caches, no console scripts."""
    parts = path.parts
    if not parts or parts[0] in {"..", "bin"}:
        return False
    return "__pycache__" not in parts and path.suffix not in {".pyc", ".pyo"}


def never_packaged(paths: Iterable[PurePosixPath]) -> list[str]:
    """Top-level names among ``paths`` that must not be in the zip (the CLI's, the emulator's)."""
    tops = {path.parts[0] for path in paths}
    tops |= {top.split("-")[0].lower() for top in tops if top.endswith(".dist-info")}
    return sorted(top for top in tops if top.removesuffix(".py") in NEVER_PACKAGED)


def zip_entry(name: str, executable: bool) -> zipfile.ZipInfo:
    """A zip entry that does not depend on when or by whom the file was made."""
    info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # Unix, so the permissions below are honoured
    info.external_attr = ((0o100755 if executable else 0o100644) & 0xFFFF) << 16
    return info


def check_unzipped(unzipped: int) -> None:
    """Lambda refuses code over 250 MB unzipped: fail before writing anything."""
    if unzipped > UNZIPPED_LIMIT:
        raise PackageError(
            f"the package would be {megabytes(unzipped)} unzipped, over Lambda's limit of "
            f"{megabytes(UNZIPPED_LIMIT)} ({UNZIPPED_LIMIT:,} bytes): leave dependencies out or use "
            "a container image"
        )


def zipped_warnings(zipped: int) -> list[str]:
    """A zip over 50 MB can be deployed, but only through S3."""
    if zipped > DIRECT_UPLOAD_LIMIT:
        return [
            f"the zip is {megabytes(zipped)}, over the {megabytes(DIRECT_UPLOAD_LIMIT)} of a direct "
            "upload: deploy it through S3 (aws lambda update-function-code --s3-bucket ... --s3-key ...)"
        ]
    return []


def megabytes(size: int) -> str:
    return f"{size / MIB:.1f} MB"


# ---- pip ----------------------------------------------------------------------------------------


def pip_arguments(
    goal: Target, requirements: Iterable[str], target_dir: str, wheelhouse: str | None = None
) -> list[str]:
    """``pip install`` arguments that fetch wheels for the target, never this machine's: binary
    wheels only, for CPython ``python_version`` on the runtime's manylinux platforms."""
    arguments = [
        "install",
        "--target",
        target_dir,
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        goal.python_version,
        *(item for tag in goal.platform_tags() for item in ("--platform", tag)),
        "--no-compile",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
    ]
    if wheelhouse is not None:
        arguments += ["--no-index", "--find-links", wheelhouse]
    return [*arguments, *sorted(requirements)]


def pip_failure(goal: Target, output: str) -> str:
    """One line out of pip's output: its ERROR lines (without the list of every version it saw),
    else its last line."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    errors = [
        re.sub(r" \(from versions: [^)]*\)", "", line.removeprefix("ERROR: "))
        for line in lines
        if line.startswith("ERROR:")
    ]
    detail = "; ".join(errors) if errors else (lines[-1] if lines else "no output")
    return (
        f"pip could not install the dependencies for {goal.runtime} {goal.arch} "
        f"({goal.platform_tags()[0]} or older wheels): {detail}"
    )


# ---- wheels taken from this environment -------------------------------------------------------


def platform_glibc(platform: str, machine: str) -> tuple[int, int] | None:
    """The glibc a wheel platform tag needs on ``machine``; None when it does not run there
    (another machine, macOS, Windows, musl, or a plain ``linux_*`` build)."""
    if not platform.endswith(f"_{machine}"):
        return None
    name = platform.removesuffix(f"_{machine}")
    if name in LEGACY_MANYLINUX:
        return LEGACY_MANYLINUX[name]
    parts = name.split("_")
    if len(parts) == 3 and parts[0] == "manylinux" and parts[1].isdigit() and parts[2].isdigit():
        return int(parts[1]), int(parts[2])
    return None


def wheel_problem(name: str, version: str, tags: list[str], goal: Target) -> str | None:
    """Why an installed distribution (its WHEEL ``Tag`` lines) may not load on the target, or
    None. Pure-Python wheels (``-any``) always do."""
    platforms = [tag.split("-")[-1] for tag in tags]
    if not platforms or any(platform == "any" for platform in platforms):
        return None
    needs = [glibc for platform in platforms for glibc in [platform_glibc(platform, goal.machine)] if glibc]
    if not needs:
        return (
            f"{name} {version} is installed as a {', '.join(sorted(set(platforms)))} build, not a "
            f"manylinux wheel: it may not load on Lambda"
        )
    oldest = min(needs)
    if oldest > goal.glibc:
        return (
            f"{name} {version} needs glibc {oldest[0]}.{oldest[1]}, the {goal.runtime} runtime has "
            f"{goal.glibc[0]}.{goal.glibc[1]}: it runs here but may not load on AWS (build for a newer "
            "--python-version from PyPI)"
        )
    return None


# ---- the manifest -------------------------------------------------------------------------------


def manifest(
    goal: Target, source: str, csvpipe_version: str, distributions: dict[str, str]
) -> dict[str, Any]:
    return {
        "handler": HANDLER,
        "runtime": goal.runtime,
        "architecture": goal.arch,
        "platform": f"{goal.platform_tags()[0]} or older",
        "dependencies_from": source,
        "csvpipe": csvpipe_version,
        "distributions": dict(sorted(distributions.items())),
    }


def manifest_bytes(document: dict[str, Any]) -> bytes:
    return (json.dumps(document, indent=2, sort_keys=True) + "\n").encode()


def runnable_here(document: dict[str, Any], system: str, python: str, arch: str | None) -> str | None:
    """Why a package cannot run on this machine's local Lambda runtime, or None."""
    runtime, architecture = document.get("runtime"), document.get("architecture")
    if system != "Linux":
        return f"it holds Linux builds for {runtime} {architecture}, this machine runs {system}"
    if runtime != f"python{python}" or architecture != arch:
        return (
            f"it is built for {runtime} {architecture}, this machine runs python{python} {arch}: "
            "build one for here with `csvpipe package lambda --from-installed`"
        )
    return None
