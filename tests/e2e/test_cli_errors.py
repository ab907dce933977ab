"""User mistakes get one clear line and a non-zero exit, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import cli

# Every test here takes a second or more on a 2-core machine: left out of the quick tier.
pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "args, env, message",
    [
        (["run", "missing.csv"], {}, "error: missing.csv: no such file"),
        (
            ["--profile", "prod", "status"],
            {},
            "error: unknown profile 'prod' (from --profile); choose one of local, localstack, ministack, aws",
        ),
        (
            ["status"],
            {"CSVPIPE_PROFILE": "staging"},
            "error: unknown profile 'staging' (from env CSVPIPE_PROFILE); "
            "choose one of local, localstack, ministack, aws",
        ),
        (["run", "notes.txt"], {}, "error: notes.txt: not a CSV file (expected a .csv or .csv.gz name)"),
        (
            ["--set", "lambda_timeout=soon", "status"],
            {},
            "error: setting 'lambda_timeout' from --set lambda_timeout must be a whole number, got 'soon'",
        ),
        (["--set", "colour=blue", "status"], {}, "error: unknown setting(s) colour; known:"),
        (["--profile", "aws", "up"], {}, "error: the aws profile runs nothing locally"),
    ],
)
def test_one_clear_line(tmp_path: Path, args: list[str], env: dict[str, str], message: str) -> None:
    (tmp_path / "notes.txt").write_text("not a csv")
    result = cli(*args, cwd=tmp_path, env=env, timeout=60)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(message)
    assert "Traceback" not in result.stdout + result.stderr


def test_help_lists_every_command(tmp_path: Path) -> None:
    result = cli("--help", cwd=tmp_path, timeout=60)
    assert result.returncode == 0
    for command in ("up", "down", "status", "run", "dashboard", "config"):
        assert f" {command} " in result.stdout


def test_config_show_masks_secrets_and_names_sources(tmp_path: Path) -> None:
    (tmp_path / "csvpipe.toml").write_text('[profiles.local]\nraw_bucket = "my-raw"\n')
    result = cli(
        "--set",
        "final_bucket=my-final",
        "config",
        "show",
        cwd=tmp_path,
        env={"CSVPIPE_PROCESSED_BUCKET": "my-processed"},
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    rows = {
        line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:4]]
        for line in result.stdout.splitlines()
        if line.count("│") >= 4
    }
    assert rows["raw_bucket"] == ["my-raw", "csvpipe.toml [profiles.local]"]
    assert rows["processed_bucket"] == ["my-processed", "env CSVPIPE_PROCESSED_BUCKET"]
    assert rows["final_bucket"] == ["my-final", "--set final_bucket"]
    assert rows["aws_secret_access_key"][0] == "****ng"
    assert "testing" not in result.stdout.replace("aws_access_key_id", "").split("aws_secret")[1][:40]


@pytest.mark.parametrize("args", [["--bogus"], ["run"], ["nosuch"], ["dlq", "replay", "--bogus"]])
def test_usage_errors_exit_2_without_traceback(tmp_path: Path, args: list[str]) -> None:
    result = cli(*args, cwd=tmp_path, timeout=60)
    assert result.returncode == 2
    assert "Traceback" not in result.stdout + result.stderr
    assert "Usage: csvpipe" in result.stderr


def test_a_csvpipe_toml_with_persist_interval_ms_still_works_with_a_one_line_notice(tmp_path: Path) -> None:
    (tmp_path / "csvpipe.toml").write_text("[profiles.local]\npersist_interval_ms = 2000\n")
    shown = cli("config", "show", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert shown.stderr.startswith(
        "note: setting 'persist_interval_ms' (csvpipe.toml [profiles.local]) is ignored"
    )
    assert len(shown.stderr.splitlines()) == 1 and "Traceback" not in shown.stderr
    assert "persist_interval_ms" not in shown.stdout
