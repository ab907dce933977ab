"""CLI commands for deployment packages: ``csvpipe package lambda`` and ``csvpipe package glue``.

Why: the handler runs unchanged on AWS, but only if its zip holds what it imports, built for the
Lambda runtime's Python and architecture, and nothing it does not need (the CLI, the emulator).
The work is done in pipeline.package; this module only reads arguments and prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from pipeline.cli_common import console, settings_of
from pipeline.errors import UserInputError
from pipeline.package import lambda_zip
from pipeline.package.build import Built, build_lambda_zip, host_target

package_app = typer.Typer(help="Build deployment packages for AWS.", no_args_is_help=True)

SOURCES = {
    "index": "from the package index (pip)",
    "wheelhouse": "from the wheelhouse",
    "installed": "from this Python environment",
}


def _report(built: Built) -> None:
    goal = built.target
    console.print(f"built {built.path}")
    console.print(
        f"  for {goal.runtime} {goal.arch} ({goal.platform_tags()[0]} or older), dependencies "
        f"{SOURCES[built.source]}"
    )
    console.print(
        f"  zipped {lambda_zip.megabytes(built.zipped_bytes)}, unzipped "
        f"{lambda_zip.megabytes(built.unzipped_bytes)} (Lambda's limits: "
        f"{lambda_zip.DIRECT_UPLOAD_LIMIT // lambda_zip.MIB} MB zipped for a direct upload, "
        f"{lambda_zip.UNZIPPED_LIMIT // lambda_zip.MIB} MB unzipped)"
    )
    versions = ", ".join(f"{name} {version}" for name, version in built.distributions.items())
    console.print(f"  {built.files} files: pipeline ({built.modules} modules), {versions}")
    console.print(f"  handler: {lambda_zip.HANDLER}")
    for warning in built.warnings:
        console.print(f"  warning: {warning}")


@package_app.command("lambda")
def lambda_(
    ctx: typer.Context,
    arch: Annotated[
        list[str] | None,
        typer.Option(
            metavar="ARCH",
            help="Lambda architecture: x86_64 or arm64; repeat it to build both. Default: x86_64 "
            "(Lambda's default), or this machine's with --from-installed.",
        ),
    ] = None,
    python_version: Annotated[
        str | None,
        typer.Option(
            metavar="VERSION",
            help=f"Python of the Lambda runtime: {', '.join(lambda_zip.RUNTIME_GLIBC)}. Default: "
            f"{lambda_zip.DEFAULT_PYTHON} (runtime python{lambda_zip.DEFAULT_PYTHON}), or this "
            "Python with --from-installed.",
        ),
    ] = None,
    wheelhouse: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help="Install the dependencies offline from the .whl files in DIR (pip --no-index --find-links).",
        ),
    ] = None,
    from_installed: Annotated[
        bool,
        typer.Option(
            "--from-installed",
            help="Offline: take the dependencies as installed in this Python environment. Only for "
            "this machine's architecture and Python, on Linux (for trying the zip locally).",
        ),
    ] = False,
    out: Annotated[
        Path | None, typer.Option(metavar="DIR", help="Folder for the zips. Default: <data_dir>/build.")
    ] = None,
) -> None:
    """Build the preprocessing Lambda's deployment zip (handler
    `pipeline.preprocess.handler.handler`) for the Lambda Python runtime.

    The zip holds the pipeline modules the handler imports and their dependencies (DuckDB, boto3
    and what they need) as manylinux wheels for the runtime's Python and architecture, fetched
    with pip from the package index (needs the network), from --wheelhouse DIR, or taken from
    this environment with --from-installed. Fails when it would be over Lambda's 250 MB unzipped.
    Run the zip locally with `csvpipe invoke --zip FILE`."""
    settings = settings_of(ctx)
    if wheelhouse is not None and from_installed:
        raise UserInputError("give at most one of --wheelhouse DIR and --from-installed")
    if from_installed:
        targets = [host_target(a, python_version) for a in (arch or [None])]
    else:
        python = python_version or lambda_zip.DEFAULT_PYTHON
        targets = [lambda_zip.target(a, python) for a in (arch or [lambda_zip.DEFAULT_ARCHITECTURE])]
    out_dir = out if out is not None else settings.data_dir / "build"
    for goal in dict.fromkeys(targets):
        with console.status(f"building the zip for {goal.runtime} {goal.arch}..."):
            built = build_lambda_zip(goal, out_dir, wheelhouse=wheelhouse, from_installed=from_installed)
        _report(built)


@package_app.command("glue")
def package_glue(
    ctx: typer.Context,
    out: Annotated[
        Path | None, typer.Option(metavar="DIR", help="Folder for the job. Default: <data_dir>/build/glue.")
    ] = None,
    name: Annotated[str, typer.Option(help="The Glue job's name.")] = "csvpipe-transforms",
    role: Annotated[
        str | None, typer.Option(metavar="ARN", help="The IAM role the job runs as, written into job.json.")
    ] = None,
    assets_uri: Annotated[
        str | None,
        typer.Option(
            metavar="S3_URI", help="Where the folder will be uploaded. Default: s3://<final_bucket>/_glue/."
        ),
    ] = None,
) -> None:
    """Write the AWS Glue 5.0 job (Spark 3.5) that runs the transforms on AWS: one PySpark
    script holding the transforms in run order (translated to Spark SQL) and the program that
    runs them, the reference tables, and job.json (the Glue CreateJob request).

    Fails, naming the file, when a transform does not port to Spark (see `csvpipe transform
    --check`). `csvpipe deploy` uploads and registers it for you on the aws profile."""
    from pipeline.spark import plan_glue_job, write_glue_job
    from pipeline.transform.job import load_plan

    settings = settings_of(ctx)
    steps, references = load_plan(settings)
    plan = plan_glue_job(steps, references, settings, assets_uri=assets_uri, role=role, name=name)
    folder = out or settings.data_dir / "build" / "glue"
    script = write_glue_job(plan, folder)
    order = ", ".join(step.name for step in steps)
    console.print(f"wrote {script}: AWS Glue 5.0 job {plan.name}, {len(steps)} transforms: {order}")
    hint = "" if role else ' (add "Role" before `aws glue create-job --cli-input-json`)'
    console.print(f"job request: {folder / 'job.json'}{hint}")
    for relative, uri in plan.uploads:
        console.print(f"upload: {folder / relative} -> {uri}")
    for warning in plan.warnings:
        console.print(f"warning: {warning}")
