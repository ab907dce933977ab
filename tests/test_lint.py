"""The code base stays ruff-clean and ruff-formatted: a lint or format failure is a test failure,
in CI and locally."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def ruff(*args: str) -> subprocess.CompletedProcess[str]:
    beside = Path(sys.executable).with_name("ruff")
    command = str(beside) if beside.exists() else shutil.which("ruff")
    assert command, "ruff is not installed: pip install -e '.[test]'"
    return subprocess.run([command, *args], cwd=REPO, capture_output=True, text=True, check=False)


def test_ruff_check_is_clean() -> None:
    result = ruff("check", str(REPO))
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format_leaves_every_file_as_it_is() -> None:
    result = ruff("format", "--check", str(REPO))
    assert result.returncode == 0, result.stdout + result.stderr


def test_no_test_module_imports_another_test_module() -> None:
    """Shared helpers live in helper modules (conftest.py, helpers.py, ...): importing a test module
    from another runs its module-level code twice and ties unrelated tests together."""
    importing = re.compile(
        r"^\s*(?:from\s+(?:tests\.|\.+)(?:[\w.]*\.)?test_\w+\s+import|import\s+tests\.[\w.]*test_)", re.M
    )
    offenders = [
        str(path.relative_to(REPO))
        for path in sorted((REPO / "tests").rglob("*.py"))
        if importing.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []
