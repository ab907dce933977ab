"""Pure construction of QuickSight S3 manifests (``manifest.json``)."""

from __future__ import annotations

from typing import Any


def quicksight_manifest(uris: list[str]) -> dict[str, Any]:
    """A manifest for CSV files with a header row, comma-delimited, double-quote qualified."""
    return {
        "fileLocations": [{"URIs": list(uris)}],
        "globalUploadSettings": {
            "format": "CSV",
            "delimiter": ",",
            "textqualifier": '"',
            "containsHeader": "true",
        },
    }
