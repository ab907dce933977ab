"""The embedded emulator killed, and the stack stopped and started again: buckets, objects and
catalog tables survive (journaled under data/.csvpipe/state/journal before each answer, so the
kill may come right after the run), and `down --forget` starts afresh."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from emulators.aws_emulator import is_ready
from pipeline import layout
from pipeline.aws import Clients
from tests.conftest import SAMPLE, SAMPLE_GENRE_COUNTS, cli, free_port, make_settings

pytestmark = pytest.mark.slow


def genre_counts(clients: Clients) -> dict[str, int]:
    key = layout.final_data_key("movies_per_genre")
    body = clients.s3.get_object(Bucket=clients.settings.final_bucket, Key=key)["Body"].read().decode()
    return {genre: int(n) for genre, n in (line.split(",") for line in body.splitlines()[1:])}


def test_state_survives_a_killed_emulator_and_a_restart(tmp_path: Path) -> None:
    home = tmp_path / "user"
    home.mkdir()
    port = free_port()
    env = {"CSVPIPE_EMULATOR_PORT": str(port)}
    clients = Clients(make_settings(home / "data", port))
    state_file = home / "data" / ".csvpipe" / "stack.json"
    try:
        ran = cli("run", str(SAMPLE), cwd=home, env=env)
        assert ran.returncode == 0, ran.stderr + ran.stdout
        assert genre_counts(clients) == SAMPLE_GENRE_COUNTS

        killed = json.loads(state_file.read_text())["emulator_pid"]
        os.kill(killed, signal.SIGKILL)
        deadline = time.monotonic() + 60
        while True:
            current = json.loads(state_file.read_text()).get("emulator_pid")
            if current != killed and is_ready(f"http://127.0.0.1:{port}"):
                break
            assert time.monotonic() < deadline, "the stack did not restart its emulator within 60 s"
            time.sleep(0.2)  # the stack supervises in another process; bounded by the deadline
        assert genre_counts(clients) == SAMPLE_GENRE_COUNTS
        table = clients.glue.get_table(DatabaseName="csvpipe", Name="movies")["Table"]
        assert [c["Name"] for c in table["StorageDescriptor"]["Columns"]] == [
            "movie_id",
            "title",
            "genre",
            "year",
        ]

        # New files still flow after the restart: the notification and queue are back.
        again = cli("run", str(SAMPLE), "--dataset", "films", cwd=home, env=env)
        assert again.returncode == 0, again.stderr + again.stdout

        assert cli("down", cwd=home, env=env).returncode == 0
        restarted = cli("up", "--detach", cwd=home, env=env)
        assert restarted.returncode == 0, restarted.stderr
        assert genre_counts(clients) == SAMPLE_GENRE_COUNTS
        status = cli("status", cwd=home, env=env)
        assert "movies/movies.csv" in status.stdout and "films/movies.csv" in status.stdout
        log = (home / "data" / ".csvpipe" / "logs" / "stack.log").read_text()
        assert "restarting it" in log
        assert "replayed" in (home / "data" / ".csvpipe" / "logs" / "emulator.log").read_text()
    finally:
        forgot = cli("down", "--forget", cwd=home, env=env)
    assert forgot.stdout.splitlines()[-1].startswith("forgot the saved state in ")
    fresh = cli("up", "--detach", cwd=home, env=env)
    try:
        assert fresh.returncode == 0, fresh.stderr
        listed = clients.s3.list_objects_v2(Bucket="csv-final-data-bucket").get("KeyCount", 0)
        assert listed == 0
    finally:
        cli("down", "--forget", cwd=home, env=env)
