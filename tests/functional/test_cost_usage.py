"""``csvpipe cost`` measures usage from the run records in the local stack's buckets, read
through the S3 API of a real emulator: what the stages really write, not a copy of its format."""

from __future__ import annotations

from pipeline import layout, runs
from pipeline.aws import Clients
from pipeline.cost import usage


def test_recorded_runs_reads_what_the_stages_write(clients: Clients) -> None:
    settings = clients.settings
    raw_key = "costs/movies.csv"
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
    clients.s3.put_object(Bucket=settings.processed_bucket, Key=f"_runs/{run}x/crawl.json", Body=b"{no")

    found, sizes = usage.recorded_runs(clients.s3, [settings.processed_bucket])

    (mine,) = [r for r in found if r.get("preprocess", {}).get("source", {}).get("key") == raw_key]
    assert mine["preprocess"]["seconds"] == 0.25 and mine["crawl"]["seconds"] == 1.5
    assert sizes[(settings.processed_bucket, out_key)] == 4000
    measured = usage.measure([mine], sizes)
    assert measured.processed_ratio == 2.0  # 4,000 bytes cleaned from 2,000 raw
    assert measured.crawl_seconds == 1.5 and "transform_seconds" in measured.assumed
