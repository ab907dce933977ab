"""Writing a transform's output to the final bucket: data, manifest, run record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline import layout, runs
from pipeline.publish.manifest import quicksight_manifest


def publish_output(
    s3: Any, bucket: str, output: str, csv_path: Path, record: dict[str, Any]
) -> dict[str, Any]:
    """Upload the CSV, then its manifest, then the run record: a reader that follows the
    manifest only ever finds a complete CSV object (S3 puts are atomic per object)."""
    data_key = layout.final_data_key(output)
    s3.upload_file(str(csv_path), bucket, data_key, ExtraArgs={"ContentType": "text/csv"})
    uri = f"s3://{bucket}/{data_key}"
    runs.put_json(s3, bucket, layout.final_manifest_key(output), quicksight_manifest([uri]))
    published = {
        **record,
        "output": output,
        "data": uri,
        "manifest": f"s3://{bucket}/{layout.final_manifest_key(output)}",
    }
    runs.put_json(s3, bucket, layout.final_run_key(output), published)
    return published
