"""How the Glue stand-in cuts batches: what is pending, plus what the event source still has in
flight, within the batch window. No emulator is reached: ``next_batch`` only takes results."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest
from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    EndpointConnectionError,
    ParamValidationError,
    ReadTimeoutError,
)

from emulators.glue_jobs import GlueScheduler
from pipeline.aws import Clients, endpoint_fault
from pipeline.errors import StackError, UserInputError
from pipeline.settings import load_settings


def scheduler(tmp_path: Path, **options) -> GlueScheduler:
    # Clients are built lazily: none is made, nothing is reached.
    return GlueScheduler(Clients(load_settings(environ={}, config_path=None)), tmp_path, **options)


def ids(batch: list[dict]) -> list[str]:
    return [result["run_id"] for result in batch]


def never() -> bool:
    return False


def test_nothing_pending_is_an_empty_batch(tmp_path: Path) -> None:
    assert scheduler(tmp_path).next_batch(never) == []


def test_with_nothing_in_flight_the_batch_is_what_is_pending(tmp_path: Path) -> None:
    glue = scheduler(tmp_path, window=30)
    for run in "abc":
        glue.submit({"run_id": run})
    assert ids(glue.next_batch(never)) == ["a", "b", "c"]


def test_results_still_in_flight_join_the_batch(tmp_path: Path) -> None:
    done = threading.Event()
    glue = scheduler(tmp_path, window=30, more_coming=lambda: not done.is_set())
    glue.submit({"run_id": "a"})

    def last_result() -> None:  # as the event source: the result first, then no longer busy
        glue.submit({"run_id": "b"})
        done.set()

    threading.Timer(0.1, last_result).start()
    assert ids(glue.next_batch(never)) == ["a", "b"]


def test_the_window_bounds_the_wait(tmp_path: Path) -> None:
    glue = scheduler(tmp_path, window=0.1, more_coming=lambda: True)
    glue.submit({"run_id": "a"})
    assert ids(glue.next_batch(never)) == ["a"]


def test_a_batch_holds_at_most_max_batch(tmp_path: Path) -> None:
    glue = scheduler(tmp_path, max_batch=2, window=30, more_coming=lambda: True)
    for run in "abc":
        glue.submit({"run_id": run})
    assert ids(glue.next_batch(never)) == ["a", "b"]


def test_stopping_ends_the_wait(tmp_path: Path) -> None:
    glue = scheduler(tmp_path, window=30, more_coming=lambda: True)
    glue.submit({"run_id": "a"})
    assert ids(glue.next_batch(lambda: True)) == ["a"]


def _raised_from(cause: BaseException, wrapper: Exception) -> Exception:
    try:
        try:
            raise cause
        except BaseException:
            raise wrapper from None  # as the crawler does: the cause stays in __context__
    except Exception as exc:
        return exc


@pytest.mark.parametrize(
    ("exc", "fault"),
    [
        (EndpointConnectionError(endpoint_url="http://127.0.0.1:1"), True),
        (ConnectionClosedError(endpoint_url="http://127.0.0.1:1"), True),
        (ReadTimeoutError(endpoint_url="http://127.0.0.1:1"), True),
        (
            ClientError(
                {"Error": {"Code": "InternalError"}, "ResponseMetadata": {"HTTPStatusCode": 500}}, "Get"
            ),
            True,
        ),
        (_raised_from(EndpointConnectionError(endpoint_url="x"), StackError("cannot reach x")), True),
        (
            ClientError({"Error": {"Code": "NoSuchKey"}, "ResponseMetadata": {"HTTPStatusCode": 404}}, "Get"),
            False,
        ),
        (ParamValidationError(report="bad"), False),
        (UserInputError("things/a.csv: no header"), False),
        (ValueError("a bug"), False),
    ],
)
def test_only_the_endpoints_faults_are_not_a_runs_failure(exc: Exception, fault: bool) -> None:
    assert endpoint_fault(exc) is fault


def test_a_batch_the_endpoint_failed_is_tried_again_a_bounded_number_of_times(tmp_path: Path) -> None:
    glue = scheduler(tmp_path)
    batch = [{"run_id": "a", "status": "ok", "dataset": "d"}]
    for attempt in (2, 3):
        assert glue.retry(batch, should_stop=lambda: True) == 1
        batch = glue.next_batch(never)
        assert ids(batch) == ["a"] and batch[0]["glue_attempt"] == attempt
    assert glue.retry(batch, should_stop=lambda: True) == 0  # three tries in all
    assert glue.next_batch(never) == []


@pytest.mark.slow
def test_a_batch_failing_on_an_unreachable_endpoint_is_submitted_again_not_recorded(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = load_settings(environ={"CSVPIPE_EMULATOR_PORT": str(port)}, config_path=None)
    glue = GlueScheduler(Clients(settings), tmp_path)
    # A pass of the dataset, as the scheduler's loop starts one for each dataset of a batch.
    (thread,) = glue.dispatch([{"run_id": "a", "status": "ok", "dataset": "d"}])
    thread.join(timeout=120)
    assert not thread.is_alive(), "the pass never ended"
    (again,) = glue.next_batch(never)
    assert again["run_id"] == "a" and again["glue_attempt"] == 2
