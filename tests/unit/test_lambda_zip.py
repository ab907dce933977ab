"""Unit tests of pipeline.package.lambda_zip: what goes into the Lambda zip, for which target,
and Lambda's limits, as pure functions."""

from __future__ import annotations

import re
from pathlib import PurePosixPath

import pytest

from pipeline.errors import UserInputError
from pipeline.package import lambda_zip as z
from pipeline.package.exceptions import PackageError


@pytest.mark.parametrize(
    ("arch", "python", "first", "count"),
    [
        ("x86_64", "3.11", "manylinux_2_26_x86_64", 10 + 1),  # Amazon Linux 2
        ("x86_64", "3.12", "manylinux_2_34_x86_64", 18 + 1),  # Amazon Linux 2023
        ("arm64", "3.13", "manylinux_2_34_aarch64", 18 + 1),
    ],
)
def test_platform_tags_run_from_the_runtimes_glibc_down_to_manylinux2014(
    arch: str, python: str, first: str, count: int
) -> None:
    tags = z.target(arch, python).platform_tags()
    assert tags[0] == first
    assert tags[-2:] == [f"manylinux_2_17_{z.ARCHITECTURES[arch]}", f"manylinux2014_{z.ARCHITECTURES[arch]}"]
    assert len(tags) == count


@pytest.mark.parametrize(
    ("arch", "python", "message"),
    [
        ("sparc", "3.12", "unknown architecture 'sparc': choose x86_64 or arm64"),
        ("aarch64", "3.12", "unknown architecture 'aarch64'"),
        ("x86_64", "3.10", "unsupported Python version '3.10'"),
        ("arm64", "3.9", "python3.11, python3.12"),
    ],
)
def test_unknown_targets_are_one_line(arch: str, python: str, message: str) -> None:
    with pytest.raises(UserInputError, match=re.escape(message)):
        z.target(arch, python)


@pytest.mark.parametrize(
    ("system", "machine", "arch", "python_version", "expected"),
    [
        ("Linux", "x86_64", None, None, z.Target("x86_64", "3.12")),
        ("Linux", "aarch64", "arm64", "3.12", z.Target("arm64", "3.12")),
        ("Linux", "x86_64", "arm64", None, "builds for this machine (x86_64), not arm64"),
        ("Linux", "x86_64", None, "3.13", "builds for this Python (3.12), not 3.13"),
        ("Darwin", "arm64", None, None, "--from-installed needs Linux"),
        ("Linux", "riscv64", None, None, "Lambda has no riscv64 architecture"),
    ],
)
def test_installed_target_is_this_machine_only(
    system: str, machine: str, arch: str | None, python_version: str | None, expected: object
) -> None:
    if isinstance(expected, z.Target):
        assert z.installed_target(system, machine, "3.12", arch, python_version) == expected
    else:
        with pytest.raises(UserInputError, match=re.escape(str(expected))):
            z.installed_target(system, machine, "3.12", arch, python_version)


def test_zip_name_says_runtime_and_architecture() -> None:
    name = z.zip_name("csvpipe-preprocess", "0.1.0", z.Target("arm64", "3.12"))
    assert name == "csvpipe-preprocess-0.1.0-python3.12-arm64.zip"


@pytest.mark.parametrize(
    ("source", "module", "is_package", "expected"),
    [
        ("import os, boto3.session", "p.m", False, {"os", "boto3.session"}),
        ("from p import a, b", "p.m", False, {"p", "p.a", "p.b"}),
        ("from . import a", "p.s.m", False, {"p.s", "p.s.a"}),
        ("from .x import y", "p.s", True, {"p.s.x", "p.s.x.y"}),
        ("from ..q import r", "p.s.m", False, {"p.q", "p.q.r"}),
        ("def f():\n    from emulators import stack\n", "p.m", False, {"emulators", "emulators.stack"}),
        ("from p.errors import *", "p.m", False, {"p.errors"}),
    ],
)
def test_imported_names_resolve_relative_and_lazy_imports(
    source: str, module: str, is_package: bool, expected: set[str]
) -> None:
    assert z.imported_names(source, module, is_package) == expected


def test_relative_import_beyond_the_package_is_an_error() -> None:
    with pytest.raises(PackageError, match="beyond the top-level package"):
        z.imported_names("from ... import x", "p.m", False)


SOURCES = {
    "pipeline": ("pipeline/__init__.py", "", True),
    "pipeline.preprocess": ("pipeline/preprocess/__init__.py", "", True),
    "pipeline.preprocess.handler": (
        "pipeline/preprocess/handler.py",
        "import json\nfrom pipeline import aws, layout\nfrom pipeline.errors import ConfigError\n",
        False,
    ),
    "pipeline.aws": ("pipeline/aws.py", "import boto3\nfrom botocore.config import Config\n", False),
    "pipeline.layout": ("pipeline/layout.py", "import hashlib\n", False),
    "pipeline.errors": ("pipeline/errors.py", "from __future__ import annotations\n", False),
    "pipeline.cli": ("pipeline/cli.py", "import typer\n", False),
}


def find(name: str) -> z.ModuleSource | None:
    if name not in SOURCES:
        return None
    path, source, is_package = SOURCES[name]
    return z.ModuleSource(PurePosixPath(path), source, is_package)


def test_module_closure_follows_the_handlers_imports_only() -> None:
    modules, external = z.module_closure("pipeline.preprocess.handler", find)
    assert set(modules) == {
        "pipeline",
        "pipeline.preprocess",
        "pipeline.preprocess.handler",
        "pipeline.aws",
        "pipeline.layout",
        "pipeline.errors",
    }
    assert "pipeline.cli" not in modules
    assert external == {"boto3", "botocore"}  # json, hashlib, __future__: standard library


def test_module_closure_of_a_missing_module_is_an_error() -> None:
    with pytest.raises(PackageError, match=re.escape("pipeline.nope: no such module")):
        z.module_closure("pipeline.nope", find)


@pytest.mark.parametrize(
    ("path", "kept"),
    [
        ("duckdb/__init__.py", True),
        ("_duckdb.cpython-311-x86_64-linux-gnu.so", True),
        ("boto3-1.0.dist-info/METADATA", True),
        ("duckdb/__pycache__/x.cpython-311.pyc", False),
        ("six.pyc", False),
        ("bin/jp.py", False),
        ("../../bin/jp.py", False),
    ],
)
def test_keep_leaves_out_caches_and_scripts(path: str, kept: bool) -> None:
    assert z.keep(PurePosixPath(path)) is kept


def test_never_packaged_finds_cli_and_emulator_names() -> None:
    paths = [
        PurePosixPath(p)
        for p in (
            "duckdb/__init__.py",
            "typer/main.py",
            "moto-5.0.dist-info/RECORD",
            "rich.py",
            "pipeline/cli.py",
        )
    ]
    assert z.never_packaged(paths) == ["moto", "rich.py", "typer"]


def test_zip_entries_have_fixed_dates_and_permissions() -> None:
    plain, executable = z.zip_entry("a.py", executable=False), z.zip_entry("b.so", executable=True)
    assert plain.date_time == executable.date_time == (1980, 1, 1, 0, 0, 0)
    assert plain.external_attr >> 16 == 0o100644 and executable.external_attr >> 16 == 0o100755


def test_unzipped_over_250_mb_is_refused_and_over_50_mb_zipped_is_a_warning() -> None:
    z.check_unzipped(z.UNZIPPED_LIMIT)
    with pytest.raises(PackageError, match=r"over Lambda's limit of 250.0 MB \(262,144,000 bytes\)"):
        z.check_unzipped(z.UNZIPPED_LIMIT + 1)
    assert z.zipped_warnings(z.DIRECT_UPLOAD_LIMIT) == []
    (warning,) = z.zipped_warnings(z.DIRECT_UPLOAD_LIMIT + 1)
    assert "through S3" in warning


def test_pip_arguments_ask_for_target_wheels_only() -> None:
    goal = z.Target("arm64", "3.12")
    arguments = z.pip_arguments(goal, ["duckdb==2.0.1", "boto3==1.0"], "/tmp/t")
    assert arguments[:3] == ["install", "--target", "/tmp/t"]
    assert "--only-binary=:all:" in arguments
    assert arguments[arguments.index("--python-version") + 1] == "3.12"
    platforms = [arguments[i + 1] for i, item in enumerate(arguments) if item == "--platform"]
    assert platforms == goal.platform_tags()
    assert arguments[-2:] == ["boto3==1.0", "duckdb==2.0.1"]
    assert "--no-index" not in arguments
    offline = z.pip_arguments(goal, ["duckdb==2.0.1"], "/tmp/t", wheelhouse="/w")
    assert offline[-4:] == ["--no-index", "--find-links", "/w", "duckdb==2.0.1"]


def test_pip_failure_is_one_line_without_the_list_of_versions() -> None:
    output = (
        "Looking in links: /w\n"
        "ERROR: Could not find a version that satisfies the requirement duckdb==9 (from versions: 1.0, 1.1)\n"
        "ERROR: No matching distribution found for duckdb==9\n"
    )
    assert z.pip_failure(z.Target("x86_64", "3.11"), output) == (
        "pip could not install the dependencies for python3.11 x86_64 (manylinux_2_26_x86_64 or older "
        "wheels): Could not find a version that satisfies the requirement duckdb==9; No matching "
        "distribution found for duckdb==9"
    )


@pytest.mark.parametrize(
    ("tags", "goal", "problem"),
    [
        (["py3-none-any"], z.Target("x86_64", "3.11"), None),
        (
            ["cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-manylinux2014_x86_64"],
            z.Target("x86_64", "3.11"),
            None,
        ),
        (
            ["cp311-cp311-manylinux_2_27_x86_64", "cp311-cp311-manylinux_2_28_x86_64"],
            z.Target("x86_64", "3.12"),
            None,
        ),
        (["cp311-cp311-manylinux_2_27_x86_64"], z.Target("x86_64", "3.11"), "needs glibc 2.27"),
        (["cp311-cp311-linux_x86_64"], z.Target("x86_64", "3.11"), "not a manylinux wheel"),
        (["cp311-cp311-macosx_11_0_arm64"], z.Target("arm64", "3.11"), "not a manylinux wheel"),
        (["cp311-cp311-musllinux_1_2_x86_64"], z.Target("x86_64", "3.11"), "not a manylinux wheel"),
    ],
)
def test_wheel_problem_compares_the_wheels_glibc_with_the_runtimes(
    tags: list[str], goal: z.Target, problem: str | None
) -> None:
    found = z.wheel_problem("duckdb", "2.0.1", tags, goal)
    assert found is None if problem is None else problem in (found or "")


@pytest.mark.parametrize(
    ("system", "python", "arch", "problem"),
    [
        ("Linux", "3.12", "x86_64", None),
        ("Linux", "3.11", "x86_64", "built for python3.12 x86_64, this machine runs python3.11 x86_64"),
        ("Linux", "3.12", "arm64", "this machine runs python3.12 arm64"),
        ("Darwin", "3.12", "x86_64", "this machine runs Darwin"),
    ],
)
def test_runnable_here_needs_the_same_system_python_and_architecture(
    system: str, python: str, arch: str, problem: str | None
) -> None:
    document = z.manifest(z.Target("x86_64", "3.12"), "index", "0.1.0", {"duckdb": "2.0.1"})
    found = z.runnable_here(document, system, python, arch)
    assert found is None if problem is None else problem in (found or "")


def test_manifest_is_stable_json() -> None:
    document = z.manifest(z.Target("arm64", "3.12"), "wheelhouse", "0.1.0", {"six": "1", "boto3": "2"})
    assert list(document["distributions"]) == ["boto3", "six"]
    assert z.manifest_bytes(document) == z.manifest_bytes(dict(reversed(document.items())))
    assert document["platform"] == "manylinux_2_34_aarch64 or older"
