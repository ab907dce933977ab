"""Uploading local CSV files to the raw bucket, with checks a user gets one clear line from."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline import layout
from pipeline.errors import UserInputError


@dataclass(frozen=True)
class Uploaded:
    path: Path
    bucket: str
    key: str
    etag: str
    size: int

    @property
    def run_id(self) -> str:
        return layout.run_id(self.bucket, self.key, self.etag)


def check_local_file(path: Path) -> None:
    """Refuse what cannot be a CSV upload, before anything is sent."""
    if not path.exists():
        raise UserInputError(f"{path}: no such file")
    if not path.is_file():
        raise UserInputError(f"{path}: not a file")
    if not layout.is_csv_key(path.name):
        raise UserInputError(f"{path}: not a CSV file (expected a .csv or .csv.gz name)")


def upload_file(s3: Any, bucket: str, path: Path, dataset: str | None = None) -> Uploaded:
    check_local_file(path)
    key = layout.raw_key_for_upload(path.name, dataset)
    content_type = "application/gzip" if path.name.lower().endswith(".gz") else "text/csv"
    with path.open("rb") as body:
        response = s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType=content_type)
    return Uploaded(
        path=path, bucket=bucket, key=key, etag=response["ETag"].strip('"'), size=path.stat().st_size
    )
