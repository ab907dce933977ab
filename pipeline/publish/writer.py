"""Writing a transform's output to the final bucket: Parquet, CSV, manifest, run record.

Why this order and these keys: every format of an output is one object at a fixed key, and an
S3 PUT replaces an object atomically, so a reader gets the old output or the new one, never a
half-written one. The CSV is written after the Parquet and the manifest after the CSV, so a
reader that follows the manifest never finds data older than what it points at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline import layout, runs
from pipeline.publish.manifest import quicksight_manifest


def publish_output(
    s3: Any, bucket: str, output: str, csv_path: Path, parquet_path: Path, record: dict[str, Any]
) -> dict[str, Any]:
    parquet_key = layout.final_parquet_key(output)
    s3.upload_file(
        str(parquet_path), bucket, parquet_key, ExtraArgs={"ContentType": "application/vnd.apache.parquet"}
    )
    data_key = layout.final_data_key(output)
    s3.upload_file(str(csv_path), bucket, data_key, ExtraArgs={"ContentType": "text/csv; charset=utf-8"})
    uri = f"s3://{bucket}/{data_key}"
    runs.put_json(s3, bucket, layout.final_manifest_key(output), quicksight_manifest([uri]))
    published = {
        **record,
        "output": output,
        "data": uri,
        "parquet": f"s3://{bucket}/{parquet_key}",
        "manifest": f"s3://{bucket}/{layout.final_manifest_key(output)}",
    }
    runs.put_json(s3, bucket, layout.final_run_key(output), published)
    return published
