"""What a deploy uploads, made ready on this machine: the Lambda zip, the Glue jobs' files and the
names of the transforms' outputs (one QuickSight manifest each).

Why apart from the plan: these read and write local files (and may build the zip with pip);
the plan only describes them (``FileBody``: path, size, SHA-256), so a dry run shows exactly
what will be uploaded. The zip comes from ``pipeline.package`` (as ``csvpipe package lambda``
builds it) or is given; the transforms job comes from ``pipeline.spark`` (as ``csvpipe package
glue`` generates it); the records job is this package's ``glue_records.py``, uploaded as it is.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.deploy.exceptions import DeployError
from pipeline.deploy.plan import (
    GLUE_ASSETS_FOLDER,
    FileBody,
    GlueAssets,
    LambdaCode,
    Names,
    Upload,
)
from pipeline.errors import CsvpipeError
from pipeline.package import lambda_zip
from pipeline.settings import Settings

if TYPE_CHECKING:
    from pipeline.spark.glue_script import GlueJobPlan

RECORDS_SOURCE = Path(__file__).with_name("glue_records.py")
CONTENT_TYPES = {".py": "text/x-python", ".csv": "text/csv", ".json": "application/json"}


def file_body(path: Path) -> FileBody:
    digest = hashlib.sha256()
    with path.open("rb") as reader:
        for chunk in iter(lambda: reader.read(1024 * 1024), b""):
            digest.update(chunk)
    return FileBody(path, path.stat().st_size, digest.hexdigest())


def given_zip(path: Path, settings: Settings) -> LambdaCode:
    """A zip built before (``csvpipe package lambda``): its runtime and architecture are the ones
    it was built for, from its manifest; a zip built otherwise is taken for the settings' ones."""
    from pipeline.package.build import read_manifest

    document = read_manifest(path) or {}
    runtime = str(document.get("runtime") or f"python{settings.lambda_python_version}")
    architecture = str(document.get("architecture") or settings.lambda_architecture)
    return LambdaCode(file_body(path), runtime, architecture)


def built_zip(
    settings: Settings,
    out_dir: Path,
    *,
    wheelhouse: Path | None,
    from_installed: bool,
    on_build: Callable[[str], None] = lambda text: None,
) -> LambdaCode:
    """Build the zip as ``csvpipe package lambda`` does: for the settings' runtime and
    architecture (or, ``from_installed``, for this machine's)."""
    from pipeline.package.build import build_lambda_zip, host_target

    if from_installed:
        goal = host_target(None, None)
    else:
        goal = lambda_zip.target(settings.lambda_architecture, settings.lambda_python_version)
    on_build(f"building the Lambda zip for {goal.runtime} {goal.arch}...")
    built = build_lambda_zip(goal, out_dir, wheelhouse=wheelhouse, from_installed=from_installed)
    for warning in built.warnings:
        on_build(f"warning: {warning}")
    on_build(f"built {built.path} ({lambda_zip.megabytes(built.zipped_bytes)} zipped)")
    return LambdaCode(file_body(built.path), goal.runtime, goal.arch)


def transform_outputs(settings: Settings) -> tuple[str, ...]:
    """The outputs of the transforms in ``transforms_dir``, in run order."""
    from pipeline.transform.job import load_plan

    steps, _ = load_plan(settings)
    return tuple(step.name for step in steps)


def _glue_plan(settings: Settings, names: Names) -> GlueJobPlan:
    from pipeline.spark.glue_script import plan_glue_job
    from pipeline.transform.job import load_plan

    steps, references = load_plan(settings)
    return plan_glue_job(
        steps, references, settings, assets_uri=names.glue_assets_uri, name=names.transforms_job
    )


def _key_of(uri: str, names: Names) -> str:
    prefix = f"s3://{names.artifacts}/"
    if not uri.startswith(prefix + GLUE_ASSETS_FOLDER):
        raise DeployError(f"pipeline.spark planned an upload to {uri}, outside {names.glue_assets_uri}")
    return uri[len(prefix) :]


def glue_assets(settings: Settings, names: Names, folder: Path) -> GlueAssets:
    """Write the transforms job's folder (pipeline.spark's ``write_glue_job``) into ``folder``
    and describe every file to upload, the records job's script included. Raises a one-line
    error when a transform's SQL does not port to Spark."""
    from pipeline.spark.exceptions import NotPortable
    from pipeline.spark.glue_script import write_glue_job

    try:
        plan = _glue_plan(settings, names)
    except NotPortable as exc:
        raise DeployError(f"the Glue job cannot be generated: {exc}") from None
    write_glue_job(plan, folder)
    uploads = [
        Upload(
            _key_of(uri, names), file_body(folder / relative), CONTENT_TYPES.get(Path(relative).suffix, "")
        )
        for relative, uri in plan.uploads
    ]
    uploads.append(Upload(names.records_key, file_body(RECORDS_SOURCE), CONTENT_TYPES[".py"]))
    request = {k: v for k, v in plan.request.items() if k != "Role"}
    return GlueAssets(transforms_request=request, uploads=tuple(uploads))


def glue_keys(settings: Settings, names: Names) -> tuple[str, ...]:
    """The keys deploy uploads the Glue jobs' files to, for destroy (nothing is written)."""
    try:
        plan = _glue_plan(settings, names)
    except CsvpipeError:
        # Transforms that no longer port: destroy still removes the scripts it knows of.
        return (f"{GLUE_ASSETS_FOLDER}csvpipe_transforms.py", names.records_key)
    return (*(_key_of(uri, names) for _, uri in plan.uploads), names.records_key)
