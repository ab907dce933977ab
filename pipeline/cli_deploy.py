"""CLI commands for AWS: ``csvpipe deploy`` (with ``--dry-run`` and ``--export cloudformation``)
and ``csvpipe destroy``.

Why a thin layer: the plan is made in ``pipeline.deploy.plan``, run by
``pipeline.deploy.executor``, exported by ``pipeline.deploy.cloudformation``; this module reads
the arguments, gathers the artifacts, and prints the plan or each step's outcome. Credentials
come from the standard AWS chain (profiles, environment, SSO); csvpipe never stores them.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

import pipeline
from pipeline.cli_common import console, settings_of
from pipeline.cli_cost import estimate_line
from pipeline.deploy import artifacts
from pipeline.deploy.cloudformation import template, upload_commands, write_export
from pipeline.deploy.executor import AwsClients, Executor, Outcome, resolve_target
from pipeline.deploy.plan import (
    RECORDS_SCRIPT,
    FileBody,
    Inputs,
    LambdaCode,
    Names,
    QueueUrlOf,
    deploy_plan,
    destroy_plan,
    names_of,
    plan_lines,
)
from pipeline.errors import UserInputError
from pipeline.package import lambda_zip
from pipeline.settings import Settings

EXPORT_FORMATS = ("cloudformation",)


def _for_aws(settings: Settings) -> Names:
    names = names_of(settings)
    if settings.profile == "local":
        raise UserInputError(
            "the local profile needs no deploy: `csvpipe up` runs the whole pipeline on this machine; "
            "deploy with --profile aws (or localstack)"
        )
    return names


def _where(settings: Settings) -> str:
    return settings.endpoint_url or f"AWS, region {settings.region}"


def _echo(outcome: Outcome) -> None:
    detail = f" ({outcome.detail})" if outcome.detail else ""
    console.print(f"  {outcome.result:<9} {outcome.step.what}{detail}")


def _planned_zip(settings: Settings, out_dir: Path, from_installed: bool) -> LambdaCode:
    """The zip a deploy would build, described without building it (for a dry run)."""
    from pipeline.package.build import FUNCTION, host_target

    if from_installed:
        goal = host_target(None, None)
    else:
        goal = lambda_zip.target(settings.lambda_architecture, settings.lambda_python_version)
    path = out_dir / lambda_zip.zip_name(FUNCTION, pipeline.__version__, goal)
    return LambdaCode(FileBody(path, None, None), goal.runtime, goal.arch)


def deploy(
    ctx: typer.Context,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Print every API call deploy would make, with its parameters; change nothing."
        ),
    ] = False,
    zip_file: Annotated[
        Path | None,
        typer.Option(
            "--zip",
            metavar="ZIP",
            help="Deploy this Lambda zip (from `csvpipe package lambda`) instead of building one.",
        ),
    ] = None,
    from_installed: Annotated[
        bool,
        typer.Option(
            "--from-installed",
            help="Build the Lambda zip offline from this Python environment (this machine's Python and "
            "architecture, Linux only), as `csvpipe package lambda --from-installed`.",
        ),
    ] = False,
    wheelhouse: Annotated[
        Path | None,
        typer.Option(metavar="DIR", help="Build the Lambda zip offline from the .whl files in DIR."),
    ] = None,
    export: Annotated[
        str | None,
        typer.Option(
            metavar="FORMAT",
            help="Write the deployment as a template instead of deploying: `cloudformation`. Needs no "
            "AWS account.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="Folder for --export (default: <data_dir>/build/cloudformation/<stack_name>).",
        ),
    ] = None,
) -> None:
    """Create or update the pipeline on AWS (or LocalStack): buckets, IAM roles with
    least-privilege policies, the Lambda, its S3 trigger and the dead-letter queue of its failed
    events, and with glue_backend=aws-glue the Glue database, crawler, jobs and their workflow.
    Running it again updates what changed.

    Credentials come from the standard AWS chain (AWS_PROFILE, environment, SSO); csvpipe never
    stores them. `--dry-run` prints the plan; `csvpipe destroy` removes what deploy created."""
    settings = settings_of(ctx)
    if sum(x for x in (zip_file is not None, from_installed, wheelhouse is not None)) > 1:
        raise UserInputError("give at most one of --zip, --from-installed and --wheelhouse")
    if zip_file is not None and not zip_file.is_file():
        raise UserInputError(f"{zip_file}: no such file")
    build_dir = settings.data_dir / "build"
    if export is not None:
        _export(settings, export, out, zip_file, from_installed, build_dir)
        return
    if out is not None:
        raise UserInputError("--out is for --export")
    names = _for_aws(settings)
    clients = AwsClients(settings)
    target = resolve_target(clients["sts"], settings.region)
    glue = (
        artifacts.glue_assets(settings, names, build_dir / "glue" / names.stack) if names.aws_glue else None
    )
    if zip_file is not None:
        code = artifacts.given_zip(zip_file, settings)
    elif dry_run:
        code = _planned_zip(settings, build_dir, from_installed)
    else:
        code = artifacts.built_zip(
            settings, build_dir, wheelhouse=wheelhouse, from_installed=from_installed, on_build=console.print
        )
    steps = deploy_plan(settings, target, Inputs(code, artifacts.transform_outputs(settings), glue))
    where = f"stack {names.stack}, account {target.account}, {_where(settings)}"
    if dry_run:
        console.print(f"deploy plan for {where}: {len(steps)} steps")
        console.print(estimate_line(settings))
        for line in plan_lines(steps):
            console.print(line)
        console.print("dry run: nothing was changed")
        return
    console.print(f"deploying {where}")
    console.print(estimate_line(settings))
    Executor(clients, echo=_echo).run(steps)
    console.print(f"deployed: files put in s3://{names.raw}/<dataset>/ are preprocessed by {names.function}")
    if names.aws_glue:
        console.print(
            f"  then crawled by {names.crawler} and transformed by {names.transforms_job} "
            f"(workflow {names.workflow})"
        )
    console.print(
        f"  QuickSight: let it use role {names.quicksight_role}; manifests in s3://{names.final}/<output>/manifest.json"
    )


def _export(
    settings: Settings,
    export: str,
    out: Path | None,
    zip_file: Path | None,
    from_installed: bool,
    build_dir: Path,
) -> None:
    if export not in EXPORT_FORMATS:
        raise UserInputError(
            f"--export {export!r}: the format csvpipe exports is {', '.join(EXPORT_FORMATS)}"
        )
    names = names_of(settings)
    out_dir = out if out is not None else build_dir / "cloudformation" / names.stack
    glue = None
    glue_folder = out_dir / "glue"
    if names.aws_glue:
        glue = artifacts.glue_assets(settings, names, glue_folder)
        shutil.copyfile(artifacts.RECORDS_SOURCE, glue_folder / RECORDS_SCRIPT)
    code = (
        artifacts.given_zip(zip_file, settings)
        if zip_file
        else _planned_zip(settings, build_dir, from_installed)
    )
    document = template(settings, names, runtime=code.runtime, architecture=code.architecture, glue=glue)
    path = write_export(document, out_dir)
    console.print(f"wrote {path} ({len(document['Resources'])} resources)")
    console.print("before creating the stack, put the artifacts where it expects them:")
    if zip_file is None:
        console.print(
            f"  csvpipe package lambda --arch {code.architecture} "
            f"--python-version {code.runtime.removeprefix('python')}   # builds {code.body.path}"
        )
    for command in upload_commands(names, str(code.body.path), str(glue_folder) if glue else None):
        console.print(f"  {command}")
    console.print("then:")
    console.print(
        f"  aws cloudformation deploy --stack-name {names.stack} --template-file {path} "
        "--capabilities CAPABILITY_NAMED_IAM"
    )


def destroy(
    ctx: typer.Context,
    force: Annotated[
        bool,
        typer.Option("--force", help="Also delete buckets that hold objects, with every object in them."),
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print every API call destroy would make; change nothing.")
    ] = False,
) -> None:
    """Remove what `csvpipe deploy` created: the event triggers, the Lambda and its dead-letter
    queue, the Glue resources, the IAM roles, the objects deploy uploaded, and the buckets; and
    what the glue service (`csvpipe glue-worker`) made: its queues and the Glue database. A
    bucket with other objects in it (your data), and a dead-letter queue with failed events in
    it, are kept unless --force."""
    settings = settings_of(ctx)
    names = _for_aws(settings)
    clients = AwsClients(settings)
    target = resolve_target(clients["sts"], settings.region)
    glue_keys = artifacts.glue_keys(settings, names) if names.aws_glue else ()
    steps = destroy_plan(
        settings, target, outputs=artifacts.transform_outputs(settings), glue_keys=glue_keys, force=force
    )
    where = f"stack {names.stack}, account {target.account}, {_where(settings)}"
    if dry_run:
        console.print(f"destroy plan for {where}: {len(steps)} steps")
        for line in plan_lines(steps):
            console.print(line)
        console.print("dry run: nothing was changed")
        return
    console.print(f"destroying {where}")
    outcomes = Executor(clients, echo=_echo).run(steps)
    kept = [o.step.call.params for o in outcomes if o.result == "kept"]
    queues = [params["QueueUrl"].name for params in kept if isinstance(params.get("QueueUrl"), QueueUrlOf)]
    buckets = [params["Bucket"] for params in kept if "Bucket" in params]
    if queues:
        console.print(
            f"kept {len(queues)} dead-letter queue(s) with failed events in them: {', '.join(queues)}; "
            "`csvpipe destroy --force` deletes them and their messages"
        )
    if buckets:
        console.print(
            f"kept {len(buckets)} bucket(s) with objects in them: {', '.join(buckets)}; "
            "`csvpipe destroy --force` deletes them and their objects"
        )
    if not kept:
        console.print("destroyed")
