"""Unit tests of pipeline.sample_events: AWS's event shape, key encoding, a round trip through
the one event parser the handler uses."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from pipeline.events import ObjectCreated, parse_s3_event
from pipeline.sample_events import EMPTY_ETAG, encode_key, s3_put_event

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "events" / "s3-put.json"
WHEN = datetime(2024, 5, 14, 9, 21, 7, 312_000, tzinfo=UTC)


def shape(document: Any) -> Any:
    """The keys at every level (values replaced by their JSON type), for comparing shapes."""
    if isinstance(document, dict):
        return {key: shape(value) for key, value in document.items()}
    if isinstance(document, list):
        return [shape(item) for item in document]
    return type(document).__name__


def test_shape_equals_the_aws_sample_event() -> None:
    built = s3_put_event(
        "csv-raw-data-bucket", "movies/café classics 2024.csv", size=1305, etag="0c5e", time=WHEN
    )
    assert shape(built) == shape(json.loads(FIXTURE.read_text(encoding="utf-8")))


def test_fields_are_those_aws_writes() -> None:
    (record,) = s3_put_event("raw", "movies/a.csv", size=12, etag="abc", region="eu-west-3", time=WHEN)[
        "Records"
    ]
    assert record["eventVersion"] == "2.1"
    assert record["eventSource"] == "aws:s3"
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["awsRegion"] == "eu-west-3"
    assert record["eventTime"] == "2024-05-14T09:21:07.312Z"
    assert record["s3"]["s3SchemaVersion"] == "1.0"
    assert record["s3"]["configurationId"] == "csvpipe-csv"
    assert record["s3"]["bucket"]["name"] == "raw"
    assert record["s3"]["bucket"]["arn"] == "arn:aws:s3:::raw"
    assert record["s3"]["object"]["size"] == 12
    assert record["s3"]["object"]["eTag"] == "abc"
    request_id = record["responseElements"]["x-amz-request-id"]
    assert len(request_id) == 16 and request_id == request_id.upper()
    assert len(record["responseElements"]["x-amz-id-2"]) == 64
    int(record["s3"]["object"]["sequencer"], 16)  # a hexadecimal string, as S3's


@pytest.mark.parametrize(
    ("key", "encoded"),
    [
        ("movies/movies.csv", "movies/movies.csv"),
        ("movies/my movies.csv", "movies/my+movies.csv"),
        ("movies/a+b.csv", "movies/a%2Bb.csv"),
        ("movies/café classics 2024.csv", "movies/caf%C3%A9+classics+2024.csv"),
        ("映画/一覧.csv", "%E6%98%A0%E7%94%BB/%E4%B8%80%E8%A6%A7.csv"),
        ("movies/2024/jan.csv", "movies/2024/jan.csv"),
        ("movies/film (1).csv", "movies/film+%281%29.csv"),
        ("movies/100% sure.csv", "movies/100%25+sure.csv"),
        ("year=2024/a&b.csv", "year%3D2024/a%26b.csv"),
    ],
)
def test_keys_are_url_encoded_as_aws_does(key: str, encoded: str) -> None:
    assert encode_key(key) == encoded
    (record,) = s3_put_event("raw", key, time=WHEN)["Records"]
    assert record["s3"]["object"]["key"] == encoded
    # The handler's parser gets the original key back.
    assert [parsed.key for parsed in parse_s3_event({"Records": [record]})] == [key]


def test_round_trip_through_the_parser() -> None:
    event = s3_put_event("raw", "movies/my movies.csv.gz", size=1047, etag='"9cfb3b"', time=WHEN)
    assert parse_s3_event(event) == [
        ObjectCreated(
            bucket="raw",
            key="movies/my movies.csv.gz",
            etag="9cfb3b",
            size=1047,
            event_name="ObjectCreated:Put",
            event_time="2024-05-14T09:21:07.312Z",
            key_as_sent="movies/my+movies.csv.gz",
        )
    ]
    assert event["Records"][0]["s3"]["object"]["eTag"] == "9cfb3b"  # head_object's quotes dropped
    assert event["Records"][0]["s3"]["configurationId"] == "csvpipe-csv-gz"


def test_defaults_describe_an_empty_object() -> None:
    obj = s3_put_event("raw", "movies/a.csv", time=WHEN)["Records"][0]["s3"]["object"]
    assert (obj["size"], obj["eTag"]) == (0, EMPTY_ETAG)


def test_time_is_written_in_utc_and_naive_time_is_taken_as_utc() -> None:
    paris = datetime(2024, 5, 14, 11, 21, 7, 312_000, tzinfo=timezone(timedelta(hours=2)))
    naive = datetime(2024, 5, 14, 9, 21, 7, 312_000)
    assert s3_put_event("raw", "a.csv", time=paris)["Records"][0]["eventTime"] == "2024-05-14T09:21:07.312Z"
    assert s3_put_event("raw", "a.csv", time=naive)["Records"][0]["eventTime"] == "2024-05-14T09:21:07.312Z"


def test_without_a_time_the_event_is_stamped_now() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    stamped = s3_put_event("raw", "a.csv")["Records"][0]["eventTime"]
    assert before <= datetime.fromisoformat(stamped) <= datetime.now(UTC)


def test_same_inputs_same_event_and_ids_differ_per_object() -> None:
    one = s3_put_event("raw", "movies/a.csv", etag="e1", time=WHEN)
    assert one == s3_put_event("raw", "movies/a.csv", etag="e1", time=WHEN)
    other = s3_put_event("raw", "movies/a.csv", etag="e2", time=WHEN)
    ids = [e["Records"][0]["responseElements"]["x-amz-request-id"] for e in (one, other)]
    assert ids[0] != ids[1]


def test_later_events_have_larger_sequencers() -> None:
    sequencers = [
        s3_put_event("raw", "a.csv", time=WHEN + timedelta(milliseconds=ms))["Records"][0]["s3"]["object"][
            "sequencer"
        ]
        for ms in (0, 1, 1000)
    ]
    assert sequencers == sorted(sequencers) and len(set(sequencers)) == 3
