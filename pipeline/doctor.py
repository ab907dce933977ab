"""``csvpipe doctor``: check the environment a profile needs, and say how to fix each problem.

Why: most failures a newcomer meets are not in the pipeline but around it (a port taken, a
stack not started, a bucket or notification missing, credentials absent, a transform that does
not parse). Each check is one small function returning a plain record; checks that need what an
earlier one found missing are skipped with the reason, so one cause gives one problem.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass

from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError

from pipeline.advice import unreachable_advice
from pipeline.aws import Clients, client
from pipeline.errors import CsvpipeError
from pipeline.settings import Settings

# Profiles whose emulator may run on another machine or container than csvpipe.
EMULATED_ELSEWHERE = ("localstack", "ministack")
# Profiles where S3 invokes the deployed function, whose trigger doctor proves with a probe.
PROBED_PROFILES = ("localstack", "ministack", "aws")
# Beyond the Lambda timeout, how long the probe may take to show (a cold start, S3's delivery).
TRIGGER_MARGIN_SECONDS = 30


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # ok | problem | skipped
    detail: str
    fix: str = ""


def ok(name: str, detail: str) -> Check:
    return Check(name, "ok", detail)


def problem(name: str, detail: str, fix: str) -> Check:
    return Check(name, "problem", detail, fix)


def _start_hint(settings: Settings) -> str:
    if settings.profile == "local":
        return "start the stack: `csvpipe up --detach`"
    if settings.profile == "localstack":
        return "start it: `csvpipe --profile localstack up` (or `docker compose up --build`)"
    if settings.profile == "ministack":
        return (
            "start MiniStack: `csvpipe --profile ministack up --detach`, then deploy into it: "
            "`csvpipe --profile ministack deploy --from-installed`"
        )
    return "create it: `csvpipe deploy`"


def check_python() -> Check:
    """For the record: pip refuses to install csvpipe on a Python older than 3.11."""
    return ok("python", f"Python {'.'.join(map(str, sys.version_info[:3]))} at {sys.executable}")


def check_stack(settings: Settings) -> Check:
    """Local profile: the stack runs, or its port is free for it."""
    from emulators import stack
    from emulators.aws_emulator import is_ready, port_in_use

    state = stack.read_state(settings)
    if state is not None:
        if not is_ready(state["endpoint_url"]):
            return problem(
                "stack",
                f"running (pid {state['pid']}) but its emulator at {state['endpoint_url']} does not answer",
                f"restart it: `csvpipe down` then `csvpipe up --detach`; see {stack.log_dir(settings)}",
            )
        return ok("stack", f"running (pid {state['pid']}), emulator {state['endpoint_url']} answers")
    if port_in_use(settings.emulator_host, settings.emulator_port):
        return problem(
            "stack",
            f"not running, and {settings.emulator_host}:{settings.emulator_port} is taken by another program",
            f"use another port: `--set emulator_port={settings.emulator_port + 1}` "
            f"(or CSVPIPE_EMULATOR_PORT={settings.emulator_port + 1})",
        )
    return problem("stack", "not running", _start_hint(settings))


def check_docker() -> Check:
    from emulators.compose import docker_problem

    reason = docker_problem()
    if reason is not None:
        return problem("docker", reason, "the localstack profile needs Docker; without it use `csvpipe up`")
    return ok("docker", "engine and compose plugin answer")


def check_ministack(settings: Settings) -> Check:
    """Ministack profile: MiniStack is installed here (it may still run elsewhere: the endpoint
    check tells)."""
    from emulators import ministack

    version = ministack.installed_version()
    if version is None:
        return problem(
            "ministack",
            "MiniStack is not installed in this Python environment",
            f"`{ministack.INSTALL_HINT}`, then `csvpipe --profile ministack up --detach`",
        )
    return ok("ministack", f"MiniStack {version} installed")


def check_credentials(settings: Settings) -> Check:
    """AWS profile: credentials from the standard chain, and who they are."""
    try:
        identity = client(settings, "sts").get_caller_identity()
    except EndpointConnectionError as exc:  # no answer at all: the network, not the credentials
        return problem("credentials", f"cannot be checked ({exc})", unreachable_advice(settings))
    except (BotoCoreError, ClientError) as exc:
        return problem(
            "credentials",
            f"no usable AWS credentials ({type(exc).__name__}: {exc})",
            "configure them the AWS way: `aws configure`, `aws sso login`, AWS_PROFILE or AWS_* variables",
        )
    return ok("credentials", f"account {identity['Account']} as {identity['Arn']}")


def check_endpoint(clients: Clients) -> Check:
    where = clients.settings.endpoint_url or f"AWS ({clients.settings.region})"
    try:
        clients.s3.list_buckets()
    except (BotoCoreError, ClientError) as exc:
        settings = clients.settings
        fix = unreachable_advice(settings) if settings.profile == "aws" else _start_hint(settings)
        return problem("endpoint", f"{where} does not answer S3 ({exc})", fix)
    return ok("endpoint", f"{where} answers")


def check_buckets(clients: Clients) -> Check:
    settings = clients.settings
    missing = []
    for bucket in (settings.raw_bucket, settings.processed_bucket, settings.final_bucket):
        try:
            clients.s3.head_bucket(Bucket=bucket)
        except ClientError:
            missing.append(bucket)
    if missing:
        return problem("buckets", f"missing: {', '.join(missing)}", _start_hint(settings))
    return ok("buckets", f"{settings.raw_bucket}, {settings.processed_bucket}, {settings.final_bucket}")


def check_notification(clients: Clients) -> Check:
    """The raw bucket tells someone about new .csv objects (a queue locally, a Lambda else)."""
    settings = clients.settings
    config = clients.s3.get_bucket_notification_configuration(Bucket=settings.raw_bucket)
    targets = [
        *(c["QueueArn"] for c in config.get("QueueConfigurations", [])),
        *(c["LambdaFunctionArn"] for c in config.get("LambdaFunctionConfigurations", [])),
    ]
    if not targets:
        return problem(
            "notification",
            f"s3://{settings.raw_bucket} notifies nothing: uploads would never be processed",
            _start_hint(settings),
        )
    return ok("notification", f"s3://{settings.raw_bucket} -> {', '.join(sorted(set(targets)))}")


def check_trigger(clients: Clients) -> Check:
    """The raw bucket's trigger fires: a probe uploaded under a reserved prefix gets the
    function's run record within the Lambda timeout plus a margin (pipeline.probe)."""
    from pipeline.probe import probe_trigger

    settings = clients.settings
    if settings.glue_backend == "aws-glue":
        return Check(
            "trigger",
            "skipped",
            "not probed with glue_backend=aws-glue: the probe's run record would start the Glue "
            "workflow (a billed crawl and job run)",
        )
    result = probe_trigger(
        clients.s3,
        client(settings, "lambda"),
        settings.raw_bucket,
        settings.processed_bucket,
        wait_seconds=settings.lambda_timeout + TRIGGER_MARGIN_SECONDS,
    )
    if result.fired:
        return ok("trigger", result.detail)
    return problem("trigger", f"broken link: {result.link}; {result.detail}", result.fix)


def check_catalog(clients: Clients) -> Check:
    settings = clients.settings
    try:
        clients.glue.get_database(Name=settings.glue_database)
    except clients.glue.exceptions.EntityNotFoundException:
        return problem("catalog", f"Glue database {settings.glue_database} is missing", _start_hint(settings))
    return ok("catalog", f"Glue database {settings.glue_database}")


def check_dead_letters(clients: Clients) -> Check:
    from pipeline.dlq import dead_letter_path

    try:
        url = clients.sqs.get_queue_url(QueueName=dead_letter_path(clients.settings).queue)["QueueUrl"]
    except ClientError:
        return ok("dead letters", "no dead-letter queue (nothing failed every retry)")
    attributes = clients.sqs.get_queue_attributes(
        QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"]
    )
    waiting = int(attributes["Attributes"]["ApproximateNumberOfMessages"])
    if waiting:
        return problem(
            "dead letters",
            f"{waiting} event(s) failed every retry and wait in the dead-letter queue",
            "see why with `csvpipe dlq list`; once fixed, `csvpipe dlq replay`",
        )
    return ok("dead letters", "none waiting")


def check_transforms(settings: Settings) -> Check:
    from pipeline.transform.job import load_plan

    try:
        steps, references = load_plan(settings)
    except CsvpipeError as exc:
        return problem(
            "transforms",
            str(exc),
            f"fix the file, or point transforms_dir elsewhere ({settings.transforms_dir})",
        )
    return ok(
        "transforms",
        f"{len(steps)} transform(s), {len(references)} reference table(s) in {settings.transforms_dir}",
    )


def check_rules(settings: Settings) -> Check:
    from pipeline.preprocess.rules import load_rules

    files = sorted(settings.rules_dir.glob("*.toml")) if settings.rules_dir.is_dir() else []
    for path in files:
        try:
            load_rules(settings.rules_dir, path.stem)
        except CsvpipeError as exc:
            return problem(
                "rules", str(exc), "fix the rules file (see pipeline/rules/movies.toml for the format)"
            )
    return ok("rules", f"{len(files)} rules file(s) in {settings.rules_dir}")


def run_checks(settings: Settings) -> list[Check]:
    """Every check for the profile, in order. The checks of the endpoint need what comes
    before them: after the first that fails, the rest are skipped and say what they wait for."""
    checks = [check_python(), check_rules(settings), check_transforms(settings)]
    clients = Clients(settings)
    gates: dict[str, Callable[[], Check]] = {
        "local": lambda: check_stack(settings),
        "localstack": check_docker,
        "ministack": lambda: check_ministack(settings),
        "aws": lambda: check_credentials(settings),
    }
    gate = gates[settings.profile]()
    checks.append(gate)
    # Without Docker (or MiniStack installed here), the emulator may still run elsewhere: the
    # endpoint check tells.
    blocked = gate.name if gate.status != "ok" and settings.profile not in EMULATED_ELSEWHERE else None
    registered: list[tuple[str, Callable[[Clients], Check]]] = [
        ("endpoint", check_endpoint),
        ("buckets", check_buckets),
        ("notification", check_notification),
    ]
    if settings.profile in PROBED_PROFILES:
        registered.append(("trigger", check_trigger))
    registered += [("catalog", check_catalog), ("dead letters", check_dead_letters)]
    for name, check in registered:
        if blocked is not None:
            checks.append(Check(name, "skipped", f"needs {blocked}"))
            continue
        result = _guarded(name, check, clients)
        checks.append(result)
        if name in {"endpoint", "buckets"} and result.status != "ok":
            blocked = name
    return checks


def _guarded(name: str, check: Callable[[Clients], Check], clients: Clients) -> Check:
    try:
        return check(clients)
    except (BotoCoreError, ClientError) as exc:
        return problem(
            name, f"cannot be checked ({exc})", "fix what the error says, then run `csvpipe doctor` again"
        )
