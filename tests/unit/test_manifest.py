"""Unit tests of pipeline.publish.manifest: the QuickSight S3 manifest document."""

from __future__ import annotations

import json

import pytest

from pipeline.publish.manifest import quicksight_manifest

SETTINGS = {"format": "CSV", "delimiter": ",", "textqualifier": '"', "containsHeader": "true"}


@pytest.mark.parametrize(
    "uris",
    [
        ["s3://csv-final-data-bucket/movies_per_genre/movies_per_genre.csv"],
        ["s3://b/x/a.csv", "s3://b/x/b.csv"],
        [],
    ],
)
def test_manifest_shape(uris: list[str]) -> None:
    manifest = quicksight_manifest(uris)
    assert manifest == {"fileLocations": [{"URIs": uris}], "globalUploadSettings": SETTINGS}
    # QuickSight reads it as JSON; every value in the settings is a string.
    assert json.loads(json.dumps(manifest)) == manifest
    assert all(isinstance(v, str) for v in manifest["globalUploadSettings"].values())


def test_manifest_keeps_its_own_copy_of_the_uris() -> None:
    uris = ["s3://b/x/a.csv"]
    manifest = quicksight_manifest(uris)
    uris.append("s3://b/x/b.csv")
    assert manifest["fileLocations"] == [{"URIs": ["s3://b/x/a.csv"]}]


def test_manifests_do_not_share_settings() -> None:
    first, second = quicksight_manifest(["s3://b/a.csv"]), quicksight_manifest(["s3://b/b.csv"])
    first["globalUploadSettings"]["delimiter"] = ";"
    assert second["globalUploadSettings"]["delimiter"] == ","
