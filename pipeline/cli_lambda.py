"""CLI commands for trying the Lambda by hand: ``csvpipe event s3-put`` and ``csvpipe invoke``.

Why: the usual first trouble with a Lambda is a handler that works on a hand-written test event
and fails on the event AWS sends (URL-encoded keys, extra fields). ``event s3-put`` prints the
real shape, and ``invoke`` runs the handler once through the local Lambda runtime (the same
runtime the stack uses) and shows everything a developer looks at in the console: the outcome,
the payload, the logs of that invocation and the run records it wrote.
"""

from __future__ import annotations

import json
import platform
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from botocore.exceptions import BotoCoreError, ClientError

from pipeline import layout, runs
from pipeline.aws import Clients
from pipeline.cli_common import console, settings_of
from pipeline.errors import StackError, UserInputError
from pipeline.sample_events import EMPTY_ETAG, s3_put_event
from pipeline.settings import Settings
from pipeline.storage import head

event_app = typer.Typer(help="Print realistic AWS events for trying the handler.", no_args_is_help=True)


def _print_raw(text: str) -> None:
    """Data (JSON, log lines, keys) exactly as is: no markup, no ``:emoji:`` replacement."""
    console.print(text, emoji=False)


def _json(document: Any) -> str:
    return json.dumps(document, indent=2, ensure_ascii=False, default=str)


def _lookup_quietly(settings: Settings, bucket: str, key: str) -> tuple[int, str] | str:
    """Size and ETag from the stack when it can tell, else why not (never raises)."""
    if settings.profile == "local":
        from emulators.aws_emulator import is_ready

        if not settings.endpoint_url or not is_ready(settings.endpoint_url):
            return f"the local stack is not running at {settings.endpoint_url}"
    try:
        found = head(Clients(settings).s3, bucket, key)
    except (BotoCoreError, ClientError) as exc:
        return f"cannot look the object up ({exc})"
    return found if found is not None else f"s3://{bucket}/{key}: no such object"


@event_app.command("s3-put")
def s3_put(
    ctx: typer.Context,
    bucket: Annotated[str, typer.Argument(help="Bucket name, e.g. csv-raw-data-bucket.")],
    key: Annotated[str, typer.Argument(help="Object key as stored (not encoded): 'movies/my file.csv'.")],
    size: Annotated[
        int, typer.Option(min=0, help="Object size in bytes, when the object cannot be looked up.")
    ] = 0,
    etag: Annotated[str, typer.Option(help="Object ETag, when the object cannot be looked up.")] = EMPTY_ETAG,
) -> None:
    """Print an S3 ObjectCreated:Put event for BUCKET/KEY as AWS sends it (key URL-encoded).

    When the object exists in the running stack, its real size and ETag are used; otherwise
    --size and --etag (a note on stderr says so). Save it and run it with `csvpipe invoke --event`."""
    settings = settings_of(ctx)
    found = _lookup_quietly(settings, bucket, key)
    if isinstance(found, tuple):
        size, etag = found
    else:
        typer.echo(f"note: {found}; size and eTag are the given or default values", err=True)
    _print_raw(json.dumps(s3_put_event(bucket, key, size=size, etag=etag, region=settings.region), indent=2))


def _read_event(name: str) -> Any:
    """The JSON event in file ``name`` (``-``: standard input), or one clear line."""
    label = "stdin" if name == "-" else name
    try:
        text = sys.stdin.read() if name == "-" else Path(name).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserInputError(f"{label}: no such file") from None
    except IsADirectoryError:
        raise UserInputError(f"{label}: is a directory, expected a JSON event file") from None
    except UnicodeDecodeError:
        raise UserInputError(f"{label}: not UTF-8 text, expected a JSON event file") from None
    except OSError as exc:
        raise UserInputError(f"{label}: cannot be read ({exc.strerror or exc})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise UserInputError(
            f"{label}: not valid JSON (line {exc.lineno} column {exc.colno}: {exc.msg})"
        ) from None


def _event_for_key(settings: Settings, s3: Any, key: str) -> dict[str, Any]:
    found = head(s3, settings.raw_bucket, key)
    if found is None:
        raise UserInputError(f"s3://{settings.raw_bucket}/{key}: no such object")
    size, etag = found
    return s3_put_event(settings.raw_bucket, key, size=size, etag=etag, region=settings.region)


def _log_size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _appended(path: Path, offset: int) -> list[str]:
    """The lines written to ``path`` after byte ``offset``."""
    try:
        with path.open("rb") as fh:
            fh.seek(offset)
            data = fh.read()
    except FileNotFoundError:
        return []
    return data.decode("utf-8", "replace").splitlines()


def _summary(run: str, record: dict[str, Any]) -> str:
    key = (record.get("source") or {}).get("key", "?")
    status = record.get("status")
    if status == "ok":
        rows = record.get("rows") or {}
        # The usual order first; counts a newer handler adds follow, so none is hidden.
        order = [name for name in ("in", "out", "rejected", "empty") if name in rows]
        order += [name for name in rows if name not in order]
        counts = ", ".join(f"{rows[name]} {name}" for name in order)
        return f"run {run} ({key}): ok, rows {counts}"
    return f"run {run} ({key}): {status}: {record.get('error')}"


def _print_run_records(settings: Settings, s3: Any, payload: Any) -> bool:
    """Print the stored run record of each record in the payload; True when all are ok."""
    records = payload.get("records") if isinstance(payload, dict) else None
    if not isinstance(records, list):
        console.print("run records: none (the payload has no 'records' list)")
        return False
    if not records:
        console.print("run records: none (the event had no ObjectCreated records)")
        return True
    console.print("run records:")
    all_ok = True
    for item in records:
        run = item.get("run_id") if isinstance(item, dict) else None
        if not run:
            console.print("  a payload record has no run_id")
            all_ok = False
            continue
        where = f"s3://{settings.processed_bucket}/{layout.run_record_key(run, 'preprocess')}"
        stored = runs.read_stage_record(s3, settings.processed_bucket, run, "preprocess")
        if stored is None:
            _print_raw(f"  run {run}: no run record at {where}")
            all_ok = False
            continue
        all_ok = all_ok and stored.get("status") == "ok"
        _print_raw(f"  {_summary(run, stored)}")
        _print_raw(f"  {where}")
        _print_raw("\n".join(f"  {line}" for line in _json(stored).splitlines()))
    return all_ok


def _check_zip(path: Path) -> None:
    """A zip built by csvpipe for another Python or architecture cannot run here: say so first."""
    from pipeline.package.build import read_manifest
    from pipeline.package.lambda_zip import host_arch, runnable_here

    document = read_manifest(path)
    if document is None:
        return  # not built by csvpipe: let the runtime tell what it cannot import
    python = f"{sys.version_info.major}.{sys.version_info.minor}"
    problem = runnable_here(document, platform.system(), python, host_arch(platform.machine()))
    if problem:
        raise UserInputError(f"{path}: {problem}")


def _memory_line(max_memory_mb: int | None, memory_mb: int) -> str:
    """Lambda's REPORT figures: the memory size and the most the environment used."""
    if max_memory_mb is None:
        return f"memory: not measured on this system (no /proc), so the {memory_mb} MB limit is not enforced"
    return f"memory: {max_memory_mb} MB max used of {memory_mb} MB"


def invoke(
    ctx: typer.Context,
    event_file: Annotated[
        str | None,
        typer.Option("--event", metavar="FILE", help="JSON event file to invoke with; '-' reads stdin."),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option(
            metavar="KEY",
            help="Key of an object in the raw bucket: invoke with its S3 ObjectCreated:Put event.",
        ),
    ] = None,
    zip_file: Annotated[
        Path | None,
        typer.Option(
            "--zip",
            metavar="FILE",
            help="Run the handler from this deployment zip (`csvpipe package lambda --from-installed`) "
            "instead of this environment's code.",
        ),
    ] = None,
) -> None:
    """Run the handler once through the local Lambda runtime and print the outcome, the memory
    used, the payload, the logs of this invocation and the run records.

    Give exactly one of --event FILE or --key KEY. Needs the local stack (`csvpipe up --detach`).
    With --zip FILE the handler, DuckDB and boto3 are imported from the zip only, as on Lambda.
    Exits 1 unless the invocation succeeded and every record's status is ok."""
    settings = settings_of(ctx)
    if settings.profile != "local":
        raise StackError(
            f"csvpipe invoke runs the local Lambda runtime only; the {settings.profile} profile has none "
            "(use --profile local)"
        )
    if (event_file is None) == (key is None):
        raise UserInputError("give exactly one of --event FILE or --key KEY")
    if zip_file is not None:
        _check_zip(zip_file)
    event = _read_event(event_file) if event_file is not None else None

    from emulators import stack
    from emulators.lambda_runtime import LocalLambda

    if stack.read_state(settings) is None:
        raise StackError("the local stack is not running: start it with `csvpipe up --detach`")
    s3 = Clients(settings).s3
    if key is not None:
        event = _event_for_key(settings, s3, key)

    config = stack.function_config(settings, code=zip_file)
    offset = _log_size(config.log_path)
    function = LocalLambda(config).start()
    try:
        result = function.invoke(event)
    finally:
        function.stop()

    cold = ", cold start" if result.cold_start else ""
    timing = f"request {result.request_id}, {result.duration_ms} ms{cold}"
    if result.ok:
        console.print(f"invocation ok ({timing})")
    else:
        _print_raw(f"invocation failed: {result.error_type}: {result.error_message} ({timing})")
    console.print(_memory_line(result.max_memory_mb, config.memory_mb))
    if zip_file is not None:
        _print_raw(f"code: {zip_file}")
    console.print("payload:" if result.payload is not None else "payload: none")
    if result.payload is not None:
        _print_raw(_json(result.payload))
    lines = _appended(config.log_path, offset)
    if lines:
        _print_raw(f"logs ({config.log_path}, written during this invocation):")
        _print_raw("\n".join(f"  {line}" for line in lines))
    else:
        console.print("logs: none written during this invocation")
    records_ok = _print_run_records(settings, s3, result.payload) if result.ok else False
    raise typer.Exit(0 if result.ok and records_ok else 1)
