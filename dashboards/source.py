"""Reading the buckets for the dashboard, through the same settings as everything else.

Why a snapshot of listings: one listing of the final bucket and of the processed bucket's run
records tells what exists and, by ETag, whether anything changed. The app keys its cache by
those ETags (an object is downloaded again only when it changed) and compares snapshots to
notice new data without a manual reload. Errors become :class:`Unavailable` with a message a
user can act on; "no data yet" is not an error (an empty snapshot).
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from botocore.exceptions import BotoCoreError, ClientError

from pipeline import layout
from pipeline.advice import missing_bucket_advice, unreachable_advice
from pipeline.settings import Settings
from pipeline.storage import MISSING_BUCKET_CODE, MISSING_OBJECT_CODES, error_code

RUN_LIMIT = 200
"""The Pipeline page reads the records of this many newest runs."""


class Unavailable(Exception):
    """The buckets cannot be read (emulator down, bucket missing, no permission)."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    etag: str
    size: int
    last_modified: datetime


@dataclass(frozen=True)
class Snapshot:
    """What the final bucket holds and which run records exist, at one moment."""

    final: tuple[ObjectInfo, ...]
    runs: tuple[ObjectInfo, ...]

    @property
    def signature(self) -> tuple[tuple[str, str], ...]:
        """Changes whenever an object is added, replaced or removed."""
        return tuple((o.key, o.etag) for o in (*self.final, *self.runs))

    def get(self, key: str) -> ObjectInfo | None:
        return next((o for o in self.final if o.key == key), None)

    def outputs(self) -> list[str]:
        """Final outputs that have their CSV (``<output>/<output>.csv``)."""
        keys = {o.key for o in self.final}
        folders = {key.split("/", 1)[0] for key in keys if "/" in key}
        return sorted(name for name in folders if layout.final_data_key(name) in keys)

    def last_update(self) -> datetime | None:
        """When an output's CSV was last written."""
        data = [o.last_modified for name in self.outputs() if (o := self.get(layout.final_data_key(name)))]
        return max(data, default=None)

    def run_records(self, limit: int = RUN_LIMIT) -> dict[str, dict[str, ObjectInfo]]:
        """``{run: {stage: object}}`` for the ``limit`` runs with the newest records."""
        runs: dict[str, dict[str, ObjectInfo]] = {}
        for obj in self.runs:
            parts = obj.key[len(layout.RUNS_PREFIX) :].split("/")
            if len(parts) == 2 and parts[1].endswith(".json"):
                runs.setdefault(parts[0], {})[parts[1].removesuffix(".json")] = obj
        newest = sorted(runs, key=lambda run: max(o.last_modified for o in runs[run].values()), reverse=True)
        return {run: runs[run] for run in newest[:limit]}


def _where(settings: Settings) -> str:
    return settings.endpoint_url or f"AWS S3 in {settings.region}"


def _list(s3: Any, bucket: str, prefix: str) -> tuple[ObjectInfo, ...]:
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        found += [
            ObjectInfo(o["Key"], str(o["ETag"]).strip('"'), int(o["Size"]), o["LastModified"])
            for o in page.get("Contents", [])
        ]
    return tuple(found)


def unavailable(settings: Settings, exc: Exception, bucket: str) -> Unavailable:
    """The message for an error reading ``bucket``: what failed and what to do."""
    if isinstance(exc, ClientError):
        if error_code(exc) == MISSING_BUCKET_CODE:
            return Unavailable(
                f"The bucket s3://{bucket} does not exist at {_where(settings)} "
                f"(profile {settings.profile}). {_sentence(missing_bucket_advice(settings))}"
            )
        message = exc.response.get("Error", {}).get("Message") or error_code(exc)
        return Unavailable(f"Cannot read s3://{bucket} at {_where(settings)}: {message}.")
    return Unavailable(
        f"Cannot reach the storage endpoint {_where(settings)} (profile {settings.profile}). "
        f"{_sentence(unreachable_advice(settings))}"
    )


def _sentence(advice: str) -> str:
    """``is the stack running? ...`` -> ``Is the stack running? ....``"""
    return advice[:1].upper() + advice[1:] + ("" if advice.endswith(".") else ".")


def take_snapshot(s3: Any, settings: Settings) -> Snapshot:
    """List the final bucket and the processed bucket's run records."""
    try:
        final = _list(s3, settings.final_bucket, "")
    except (BotoCoreError, ClientError) as exc:
        raise unavailable(settings, exc, settings.final_bucket) from None
    try:
        records = _list(s3, settings.processed_bucket, layout.RUNS_PREFIX)
    except ClientError as exc:
        if error_code(exc) != MISSING_BUCKET_CODE:
            raise unavailable(settings, exc, settings.processed_bucket) from None
        records = ()
    except BotoCoreError as exc:
        raise unavailable(settings, exc, settings.processed_bucket) from None
    return Snapshot(final, records)


def read_bytes(s3: Any, settings: Settings, bucket: str, key: str) -> bytes | None:
    """The object's bytes, or None when it was removed since the listing."""
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    except ClientError as exc:
        if error_code(exc) in MISSING_OBJECT_CODES:
            return None
        raise unavailable(settings, exc, bucket) from None
    except BotoCoreError as exc:
        raise unavailable(settings, exc, bucket) from None


def parse_csv(body: bytes) -> pd.DataFrame:
    """A final output's CSV (header, UTF-8) as text columns but for numbers pandas infers."""
    return pd.read_csv(io.BytesIO(body), keep_default_na=False, na_values=[""])


def parse_json(body: bytes) -> dict[str, Any]:
    return json.loads(body)
