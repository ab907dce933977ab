"""``csvpipe cost`` reads run records from the stack's saved state: the state that
emulators.persistence really writes from a real emulator, not a hand-made copy of its format."""

from __future__ import annotations

from pathlib import Path

from emulators import persistence
from pipeline import layout, runs
from pipeline.aws import Clients
from pipeline.cost import usage


def test_saved_runs_reads_what_the_stack_saves(clients: Clients, tmp_path: Path) -> None:
    settings = clients.settings
    raw_key = "movies/movies.csv"
    out_key = layout.processed_key(raw_key)
    clients.s3.put_object(Bucket=settings.processed_bucket, Key=out_key, Body=b"a,b\n" * 1000)
    record = {
        "status": "ok",
        "source": {"bucket": settings.raw_bucket, "key": raw_key, "etag": "e", "size": 2000},
        "output": {"bucket": settings.processed_bucket, "key": out_key},
        "seconds": 0.25,
    }
    run = layout.run_id(settings.raw_bucket, raw_key, "e")
    runs.write_stage_record(clients.s3, settings.processed_bucket, run, "preprocess", record)
    runs.write_stage_record(
        clients.s3, settings.processed_bucket, run, "crawl", {"status": "ok", "seconds": 1.5}
    )

    persistence.snapshot(clients, tmp_path)
    found, sizes = usage.saved_runs(tmp_path)

    assert [r["preprocess"]["seconds"] for r in found] == [0.25]
    assert found[0]["crawl"]["seconds"] == 1.5
    measured = usage.measure(found, sizes)
    assert measured.processed_ratio == 2.0  # 4,000 bytes cleaned from 2,000 raw
    assert measured.crawl_seconds == 1.5 and "transform_seconds" in measured.assumed
