"""The executor's answers to what the emulator cannot provoke: IAM's "not yet" (a role Lambda
cannot assume for a few seconds), a function that stays Pending, refused credentials. AWS is
played by a small scripted client (not csvpipe's code); sleep and clock are injected, so
nothing waits."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError, NoCredentialsError

from pipeline.deploy.exceptions import CredentialsError, StepFailed, WaitTimedOut
from pipeline.deploy.executor import AwsClients, Executor, resolve_target
from pipeline.deploy.plan import Call, Retry, Step, Wait
from pipeline.settings import load_settings


def refusal(code: str, message: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, "Operation")


class Scripted:
    """A client whose every method answers from a script: each call takes the next answer (an
    exception is raised), and the calls are recorded."""

    def __init__(self, answers: dict[str, list[Any]]) -> None:
        self.answers, self.calls = answers, []

    def __getattr__(self, operation: str) -> Callable[..., Any]:
        def call(**params: Any) -> Any:
            self.calls.append(operation)
            answer = (
                self.answers[operation].pop(0)
                if len(self.answers[operation]) > 1
                else self.answers[operation][0]
            )
            if isinstance(answer, Exception):
                raise answer
            return answer

        return call


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def executor(client: Scripted, clock: Clock) -> Executor:
    settings = load_settings(profile="aws", environ={}, config_path=None)
    return Executor(
        AwsClients(settings, {"lambda": client, "sts": client}), sleep=clock.sleep, clock=lambda: clock.now
    )


READY = Wait(
    call=Call("lambda", "get_function_configuration", {"FunctionName": "f"}),
    result="",
    ready=(("State", ("Active",)),),
    failed=(("State", ("Failed",)),),
    reasons=("StateReason",),
    seconds=30,
)
CREATE = Step(
    "function f",
    "create",
    Call(
        "lambda",
        "create_function",
        {"FunctionName": "f"},
        retry=(Retry("InvalidParameterValueException", "cannot be assumed", 60),),
        wait=READY,
    ),
)
NOT_YET = refusal(
    "InvalidParameterValueException", "The role defined for the function cannot be assumed by Lambda."
)


def test_a_role_lambda_cannot_assume_yet_is_retried_with_backoff() -> None:
    client = Scripted(
        {
            "create_function": [NOT_YET, NOT_YET, NOT_YET, {}],
            "get_function_configuration": [{"State": "Pending"}, {"State": "Active"}],
        }
    )
    clock = Clock()
    (outcome,) = executor(client, clock).run([CREATE])
    assert outcome.result == "created"
    assert client.calls.count("create_function") == 4
    assert clock.slept == [1.0, 2.0, 4.0, 2.0]  # backoff, then one poll of the function's state


def test_retries_stop_at_their_deadline_with_aws_error() -> None:
    client = Scripted({"create_function": [NOT_YET]})
    clock = Clock()
    with pytest.raises(StepFailed) as caught:
        executor(client, clock).run([CREATE])
    assert str(caught.value).startswith(
        "function f: lambda.create_function failed (InvalidParameterValueException"
    )
    assert 60 <= clock.now < 60 + 10


def test_a_function_that_stays_pending_times_out_in_one_line() -> None:
    client = Scripted({"create_function": [{}], "get_function_configuration": [{"State": "Pending"}]})
    clock = Clock()
    with pytest.raises(
        WaitTimedOut, match=r"^function f: not ready after 30 s \(State Pending\); run the command"
    ):
        executor(client, clock).run([CREATE])
    assert clock.now >= 30


def test_a_failed_function_says_why() -> None:
    client = Scripted(
        {
            "create_function": [{}],
            "get_function_configuration": [{"State": "Failed", "StateReason": "bad zip"}],
        }
    )
    with pytest.raises(StepFailed, match=r"^function f: State is Failed \(bad zip\)$"):
        executor(client, Clock()).run([CREATE])


def test_access_denied_names_the_call_and_the_way_to_see_them_all() -> None:
    client = Scripted({"create_function": [refusal("AccessDeniedException", "not authorized")]})
    with pytest.raises(StepFailed) as caught:
        executor(client, Clock()).run([CREATE])
    assert "lambda.create_function was refused (AccessDeniedException: not authorized)" in str(caught.value)
    assert "csvpipe deploy --dry-run" in str(caught.value)


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        (NoCredentialsError(), "no AWS credentials found: sign in with `aws sso login --profile NAME`"),
        (
            refusal("ExpiredToken", "The security token included in the request is expired"),
            "AWS refused the credentials",
        ),
    ],
)
def test_credentials_problems_are_one_line(answer: Exception, message: str) -> None:
    with pytest.raises(CredentialsError) as caught:
        resolve_target(Scripted({"get_caller_identity": [answer]}), "us-east-1")
    assert str(caught.value).startswith(message)
    assert "\n" not in str(caught.value)


def test_the_partition_comes_from_the_caller_arn() -> None:
    identity = {"Account": "210987654321", "Arn": "arn:aws-cn:iam::210987654321:user/x"}
    target = resolve_target(Scripted({"get_caller_identity": [identity]}), "cn-north-1")
    assert (target.account, target.partition, target.region) == ("210987654321", "aws-cn", "cn-north-1")
