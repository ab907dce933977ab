"""Reading the final bucket for the dashboard, through the same settings as everything else."""

from __future__ import annotations

import io
from typing import Any

import pandas as pd
from botocore.exceptions import BotoCoreError, ClientError

from pipeline import layout
from pipeline.storage import MISSING_OBJECT_CODES, error_code


class Unavailable(Exception):
    """The final bucket cannot be read (emulator down, bucket missing, no permission)."""


def read_output(s3: Any, bucket: str, output: str) -> pd.DataFrame | None:
    """The final output as a data frame, or None when it has not been published yet."""
    try:
        body = s3.get_object(Bucket=bucket, Key=layout.final_data_key(output))["Body"].read()
    except ClientError as exc:
        if error_code(exc) in MISSING_OBJECT_CODES:
            return None
        raise Unavailable(f"cannot read s3://{bucket}: {exc.response['Error'].get('Message')}") from None
    except BotoCoreError as exc:
        raise Unavailable(f"cannot reach the storage endpoint: {exc}") from None
    return pd.read_csv(io.BytesIO(body))
