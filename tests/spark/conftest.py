"""The Spark tests' one local SparkSession, started once per test session.

Spark runs in local mode on two cores and binds to 127.0.0.1 only, without its web UI; its
scratch files go to the session's temporary folder. Starting it costs a few seconds, so every
Spark test shares it. Tests that need Java carry the ``spark`` marker: tests/conftest.py skips
them without Java (and fails them under CI=true).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


@pytest.fixture(scope="session")
def spark(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkSession]:
    from pyspark.sql import SparkSession

    root = tmp_path_factory.mktemp("spark")
    started = time.perf_counter()
    # The JVM takes its own address from these: 127.0.0.1, not the machine's network address.
    monkeypatch = pytest.MonkeyPatch()
    monkeypatch.setenv("SPARK_LOCAL_IP", "127.0.0.1")
    monkeypatch.setenv("SPARK_LOCAL_HOSTNAME", "localhost")
    session = (
        SparkSession.builder.master("local[2]")
        .appName("csvpipe-tests")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "1g")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.local.dir", str(root / "local"))
        .config("spark.sql.warehouse.dir", str(root / "warehouse"))
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    print(f"\nSparkSession {session.version} started in {time.perf_counter() - started:.1f} s")
    yield session
    session.stop()
    monkeypatch.undo()
