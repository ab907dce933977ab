"""Unit tests of pipeline.events: S3 event records, URL-decoded keys, malformed input."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from pipeline.errors import UserInputError
from pipeline.events import ObjectCreated, parse_message_body, parse_s3_event

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "events" / "s3-put.json"


@pytest.fixture
def put_event() -> dict[str, Any]:
    """A fresh copy of the S3 ObjectCreated:Put event, as AWS sends it."""
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def with_key(event: dict[str, Any], key: str, event_name: str = "ObjectCreated:Put") -> dict[str, Any]:
    record = copy.deepcopy(event["Records"][0])
    record["s3"]["object"]["key"] = key
    record["eventName"] = event_name
    return record


def test_real_put_event(put_event: dict[str, Any]) -> None:
    assert parse_s3_event(put_event) == [
        ObjectCreated(
            bucket="csv-raw-data-bucket",
            key="movies/café classics 2024.csv",
            etag="0c5e0f3a8b4d2e1f9a7c6b5d4e3f2a1b",
            size=1305,
            event_name="ObjectCreated:Put",
            event_time="2024-05-14T09:21:07.312Z",
            key_as_sent="movies/caf%C3%A9+classics+2024.csv",
        )
    ]


def test_real_put_event_as_sqs_message_body() -> None:
    body = FIXTURE.read_text(encoding="utf-8")
    assert parse_message_body(body) == parse_s3_event(json.loads(body))
    assert [r.key for r in parse_message_body(body)] == ["movies/café classics 2024.csv"]


@pytest.mark.parametrize(
    ("encoded", "decoded"),
    [
        ("movies/movies.csv", "movies/movies.csv"),
        ("movies/Top+Rated.csv", "movies/Top Rated.csv"),
        ("movies%2F2024%2Fjan.csv", "movies/2024/jan.csv"),
        ("movies/a%2Bb.csv", "movies/a+b.csv"),
        ("movies/100%25+sure.csv", "movies/100% sure.csv"),
        ("movies/caf%C3%A9.csv", "movies/café.csv"),
        ("%E6%98%A0%E7%94%BB/%E4%B8%80%E8%A6%A7.csv", "映画/一覧.csv"),
        ("movies/%F0%9F%8E%AC+list.csv", "movies/🎬 list.csv"),
        ("movies/%28draft%29+%26+notes.csv", "movies/(draft) & notes.csv"),
    ],
)
def test_keys_are_url_decoded(put_event: dict[str, Any], encoded: str, decoded: str) -> None:
    event = {"Records": [with_key(put_event, encoded)]}
    [record] = parse_s3_event(event)
    assert (record.key, record.key_as_sent) == (decoded, encoded)


@pytest.mark.parametrize("etag", ["abc123", '"abc123"'])
def test_etag_quotes_are_stripped(put_event: dict[str, Any], etag: str) -> None:
    put_event["Records"][0]["s3"]["object"]["eTag"] = etag
    assert parse_s3_event(put_event)[0].etag == "abc123"


def test_optional_object_fields_default(put_event: dict[str, Any]) -> None:
    obj = put_event["Records"][0]["s3"]["object"]
    del obj["eTag"], obj["size"]
    del put_event["Records"][0]["eventTime"]
    [record] = parse_s3_event(put_event)
    assert (record.etag, record.size, record.event_time) == ("", 0, "")


def test_size_given_as_string_is_an_int(put_event: dict[str, Any]) -> None:
    put_event["Records"][0]["s3"]["object"]["size"] = "2048"
    assert parse_s3_event(put_event)[0].size == 2048


def test_several_records_in_order(put_event: dict[str, Any]) -> None:
    event = {
        "Records": [
            with_key(put_event, "movies/a.csv", "ObjectCreated:Put"),
            with_key(put_event, "movies/b.csv", "ObjectRemoved:Delete"),
            with_key(put_event, "movies/c+d.csv", "ObjectCreated:CompleteMultipartUpload"),
            with_key(put_event, "movies/e.csv", "ObjectRestore:Completed"),
            with_key(put_event, "movies/f.csv", "ObjectCreated:Copy"),
            with_key(put_event, "movies/g.csv", "ObjectRemoved:DeleteMarkerCreated"),
        ]
    }
    parsed = parse_s3_event(event)
    assert [(r.key, r.event_name) for r in parsed] == [
        ("movies/a.csv", "ObjectCreated:Put"),
        ("movies/c d.csv", "ObjectCreated:CompleteMultipartUpload"),
        ("movies/f.csv", "ObjectCreated:Copy"),
    ]


@pytest.mark.parametrize(
    "event",
    [
        {"Records": []},
        {
            "Service": "Amazon S3",
            "Event": "s3:TestEvent",
            "Time": "2024-05-14T09:20:00.000Z",
            "Bucket": "csv-raw-data-bucket",
            "RequestId": "5582815E1AEA5ADF",
            "HostId": "8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE",
        },
        # Records that are not ObjectCreated are skipped without being looked into.
        {"Records": [{"eventName": "ObjectRemoved:Delete"}]},
        {"Records": [{"eventName": "ObjectRemoved:Delete", "s3": None}]},
    ],
    ids=["no-records", "s3-test-event", "removed-only", "removed-without-s3"],
)
def test_events_without_created_objects(event: dict[str, Any]) -> None:
    assert parse_s3_event(event) == []


NOT_AN_EVENT = "not an S3 event: expected a JSON object with a 'Records' list"


@pytest.mark.parametrize(
    "event",
    [
        None,
        [],
        "Records",
        42,
        {},
        {"Records": None},
        {"Records": "x"},
        {"Records": {"0": {}}},
        {"Event": "s3:SomethingElse"},
    ],
)
def test_not_an_s3_event(event: Any) -> None:
    with pytest.raises(UserInputError) as info:
        parse_s3_event(event)
    assert str(info.value) == NOT_AN_EVENT
    assert info.value.retryable is False


def _record(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "b"}, "object": {"key": "k.csv", "size": 1}},
    }
    record.update(changes)
    return record


@pytest.mark.parametrize(
    ("records", "index", "fragment"),
    [
        ([{"s3": {}}], 0, "'eventName'"),
        ([_record(s3={})], 0, "'bucket'"),
        ([_record(s3={"bucket": {"name": "b"}})], 0, "'object'"),
        ([_record(s3={"bucket": {}, "object": {"key": "k"}})], 0, "'name'"),
        ([_record(s3={"bucket": {"name": "b"}, "object": {}})], 0, "'key'"),
        ([_record(s3={"bucket": {"name": "b"}, "object": {"key": "k", "size": "big"}})], 0, "big"),
        ([_record(s3={"bucket": {"name": "b"}, "object": {"key": "k", "size": None}})], 0, "NoneType"),
        ([_record(s3=None)], 0, "NoneType"),
        (["a string"], 0, "string"),
        ([None], 0, "NoneType"),
        ([_record(), _record(), {"eventName": "ObjectCreated:Put"}], 2, "'s3'"),
    ],
)
def test_malformed_record(records: list[Any], index: int, fragment: str) -> None:
    with pytest.raises(UserInputError) as info:
        parse_s3_event({"Records": records})
    message = str(info.value)
    assert message.startswith(f"S3 event record {index} is malformed: ")
    assert fragment in message
    assert "\n" not in message


@pytest.mark.parametrize("body", ["", "not json", "{", "Records: []", "{'Records': []}", "\x00"])
def test_message_body_that_is_not_json(body: str) -> None:
    with pytest.raises(UserInputError) as info:
        parse_message_body(body)
    assert str(info.value) == "SQS message is not JSON: cannot read an S3 event from it"


@pytest.mark.parametrize("body", ["[]", "null", "42", '"text"', "{}"])
def test_message_body_that_is_json_but_not_an_event(body: str) -> None:
    with pytest.raises(UserInputError) as info:
        parse_message_body(body)
    assert str(info.value) == NOT_AN_EVENT


def test_message_body_with_test_event() -> None:
    assert parse_message_body('{"Service": "Amazon S3", "Event": "s3:TestEvent"}') == []


@pytest.mark.parametrize("key", [None, 123])
def test_non_string_key_is_malformed(key: Any) -> None:
    with pytest.raises(UserInputError, match="record 0 is malformed"):
        parse_s3_event({"Records": [_record(s3={"bucket": {"name": "b"}, "object": {"key": key}})]})
