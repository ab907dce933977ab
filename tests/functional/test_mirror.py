"""The local mirror of a bucket prefix (pipeline.storage), against the real emulator: one GET per
new or changed object, none for an unchanged one, and never a half-written file."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from pipeline.aws import Clients
from pipeline.storage import Mirror, download, mirror_prefix


def counted(clients: Clients) -> Counter[str]:
    """The S3 operations the client makes from now on, by name (boto3's own event hooks)."""
    calls: Counter[str] = Counter()
    clients.s3.meta.events.register("before-call.s3.*", lambda model, **_: calls.update([model.name]))
    return calls


@pytest.mark.slow
def test_mirror_gets_new_and_changed_objects_once_each(clients: Clients, tmp_path: Path) -> None:
    bucket = clients.settings.processed_bucket
    for name in ("a", "b"):
        clients.s3.put_object(Bucket=bucket, Key=f"sales/{name}.csv", Body=f"id\n{name}\n".encode())
    clients.s3.put_object(Bucket=bucket, Key="sales/_runs/x.json", Body=b"{}")  # csvpipe's own: skipped
    calls = counted(clients)

    paths = mirror_prefix(clients.s3, bucket, "sales/", tmp_path)
    assert [p.read_text() for p in paths] == ["id\na\n", "id\nb\n"]
    assert calls == Counter({"ListObjectsV2": 1, "GetObject": 2})  # no HeadObject before each GET

    calls.clear()
    clients.s3.put_object(Bucket=bucket, Key="sales/b.csv", Body=b"id\nb2\n")
    calls.clear()
    paths = mirror_prefix(clients.s3, bucket, "sales/", tmp_path)
    assert [p.read_text() for p in paths] == ["id\na\n", "id\nb2\n"]
    assert calls == Counter({"ListObjectsV2": 1, "GetObject": 1})  # only the changed one
    assert sorted(p.name for p in paths[0].parent.iterdir()) == ["a.csv", "a.csv.etag", "b.csv", "b.csv.etag"]


@pytest.mark.slow
def test_a_mirror_lists_each_prefix_once_until_told_to_forget_it(clients: Clients, tmp_path: Path) -> None:
    bucket = clients.settings.processed_bucket
    clients.s3.put_object(Bucket=bucket, Key="sales/a.csv", Body=b"id\n1\n")
    mirror = Mirror(clients.s3, tmp_path)
    calls = counted(clients)

    first = mirror.prefix(bucket, "sales/")
    clients.s3.put_object(Bucket=bucket, Key="sales/b.csv", Body=b"id\n2\n")  # after the listing
    assert mirror.prefix(bucket, "sales/") == first == [tmp_path / bucket / "sales" / "a.csv"]
    assert calls["ListObjectsV2"] == 1

    mirror.forget(bucket, "sales/")
    assert [p.name for p in mirror.prefix(bucket, "sales/")] == ["a.csv", "b.csv"]
    assert calls["ListObjectsV2"] == 2


@pytest.mark.slow
def test_download_returns_the_etag_and_leaves_nothing_on_failure(clients: Clients, tmp_path: Path) -> None:
    bucket = clients.settings.processed_bucket
    etag = clients.s3.put_object(Bucket=bucket, Key="k.csv", Body=b"x,y\n")["ETag"].strip('"')
    assert download(clients.s3, bucket, "k.csv", tmp_path / "k.csv") == etag
    assert (tmp_path / "k.csv").read_bytes() == b"x,y\n"

    try:
        download(clients.s3, bucket, "missing.csv", tmp_path / "missing.csv")
    except clients.s3.exceptions.NoSuchKey:
        pass
    else:
        raise AssertionError("a missing object downloaded")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.csv"]  # no partial file left
