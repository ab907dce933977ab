"""A function's code for the local Lambda: the deployment zip unpacked to a task root, and a
runtime folder holding only AWS's runtime interface client.

Why: on Lambda the handler imports from the package's folder (``/var/task``) and the runtime's
own folder, nothing else. Running a package locally the same way catches a module or a
dependency missing from the zip before AWS does. The runtime folder is made of symbolic links to
the installed files of ``awslambdaric`` and its requirements, so nothing is copied and nothing
else of this environment (csvpipe, typer, moto, its own DuckDB) can be imported by accident.
"""

from __future__ import annotations

import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

from pipeline.errors import UserInputError
from pipeline.package import installed

RUNTIME_CLIENT = "awslambdaric"


@dataclass(frozen=True)
class CodeDirs:
    task_root: Path
    runtime_dir: Path


def prepare_code(code: Path, work_dir: Path) -> CodeDirs:
    """Unpack ``code`` (a zip, or a folder used as it is) and build the runtime folder, both under
    ``work_dir``."""
    if code.is_dir():
        task_root = code.resolve()
    elif code.is_file():
        task_root = work_dir / "task"
        _extract(code, task_root)
    else:
        raise UserInputError(f"{code}: no such file or folder (expected a Lambda deployment zip)")
    runtime_dir = work_dir / "runtime"
    runtime_dir.mkdir(parents=True)
    link_runtime_client(runtime_dir)
    return CodeDirs(task_root, runtime_dir)


def _extract(archive: Path, target: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as package:
            package.extractall(target)  # extractall drops absolute paths and '..' parts
    except zipfile.BadZipFile:
        raise UserInputError(f"{archive}: not a zip file (expected a Lambda deployment zip)") from None
    except OSError as exc:
        raise UserInputError(f"{archive}: cannot be unpacked ({exc.strerror or exc})") from None


def link_runtime_client(runtime_dir: Path) -> list[str]:
    """Link the top-level files of awslambdaric and of every distribution it requires into
    ``runtime_dir``; the names linked."""
    linked = []
    for dist in installed.closure([RUNTIME_CLIENT]):
        site = installed.site_dir(dist)
        for name in sorted(installed.top_level(dist)):
            link = runtime_dir / name
            if not link.exists():
                os.symlink(site / name, link, target_is_directory=(site / name).is_dir())
                linked.append(name)
    return linked
