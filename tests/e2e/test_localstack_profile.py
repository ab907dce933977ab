"""The localstack profile without Docker: one clear line from `up`; and its code paths run
against the embedded emulator standing in for LocalStack: the profile's credentials, an
endpoint from settings, the watcher uploading, the handler taking LocalStack's unencoded event
keys, and the Glue stand-in as its own service learning of processed files from the bucket."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from emulators.aws_emulator import AwsEmulator
from emulators.lambda_runtime import LocalLambda
from emulators.stack import function_config
from pipeline import layout
from pipeline.aws import Clients
from pipeline.provision import provision
from pipeline.sample_events import s3_put_event
from pipeline.settings import load_settings
from tests.conftest import SAMPLE, SAMPLE_GENRE_COUNTS, cli

pytestmark = pytest.mark.slow


def test_up_without_a_docker_engine_is_one_line(tmp_path: Path) -> None:
    result = cli(
        "--profile", "localstack", "up", cwd=tmp_path, env={"DOCKER_HOST": "unix:///nonexistent.sock"}
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: the localstack profile runs under Docker, but ")
    assert result.stderr.endswith("without Docker, use the embedded default: `csvpipe up` (profile local)\n")
    assert result.stderr.count("\n") == 1


def test_localstack_profile_code_paths_against_the_embedded_emulator(
    emulator: AwsEmulator, tmp_path: Path, unique: str
) -> None:
    env = {
        "CSVPIPE_PROFILE": "localstack",
        "CSVPIPE_ENDPOINT_URL": emulator.endpoint,  # LocalStack's http://localhost:4566 in real use
        "CSVPIPE_DATA_DIR": str(tmp_path / "data"),
        "CSVPIPE_RAW_BUCKET": f"raw-{unique}",
        "CSVPIPE_PROCESSED_BUCKET": f"processed-{unique}",
        "CSVPIPE_FINAL_BUCKET": f"final-{unique}",
        "CSVPIPE_QUEUE_NAME": f"events-{unique}",
        "CSVPIPE_GLUE_DATABASE": f"db_{unique}",
    }
    settings = load_settings(environ=env, config_path=None)
    assert (settings.profile, settings.aws_access_key_id) == ("localstack", "test")
    clients = Clients(settings)
    provision(clients)  # what compose's init step does before the other services start

    base = {k: v for k, v in os.environ.items() if not k.startswith(("CSVPIPE_", "AWS_"))}
    worker = subprocess.Popen(
        [sys.executable, "-m", "pipeline.cli", "glue-worker"],
        cwd=tmp_path,
        env={**base, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    function = LocalLambda(function_config(settings)).start()
    try:
        drop = tmp_path / "inbox"
        (drop / "movies").mkdir(parents=True)
        (drop / "movies" / "Top+Rated 1995.csv").write_bytes(SAMPLE.read_bytes())
        watched = cli("watch", "--once", str(drop), cwd=tmp_path, env=env, timeout=60)
        assert watched.returncode == 0, watched.stderr + watched.stdout
        key = "movies/Top+Rated 1995.csv"
        head = clients.s3.head_object(Bucket=settings.raw_bucket, Key=key)

        # LocalStack invokes the Lambda straight from S3, with the key as stored, not encoded.
        event = s3_put_event(settings.raw_bucket, key, size=head["ContentLength"], etag=head["ETag"])
        event["Records"][0]["s3"]["object"]["key"] = key
        invoked = function.invoke(event)
        assert invoked.ok, invoked.error
        assert invoked.payload["records"][0]["source"]["key"] == key

        final_key = layout.final_data_key("movies_per_genre")
        deadline = time.monotonic() + 60
        while True:
            try:
                body = clients.s3.get_object(Bucket=settings.final_bucket, Key=final_key)["Body"].read()
                break
            except clients.s3.exceptions.NoSuchKey:
                assert time.monotonic() < deadline, "the glue worker published nothing within 60 s"
                time.sleep(0.2)  # the worker is another process; bounded by the deadline
        lines = body.decode().splitlines()[1:]
        assert {g: int(n) for g, n in (line.split(",") for line in lines)} == SAMPLE_GENRE_COUNTS
    finally:
        function.stop()
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, output
    assert "glue worker: listening on" in output and "glue worker stopped" in output
