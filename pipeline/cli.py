"""The ``csvpipe`` command line: a thin layer over settings, the stack and the stages.

Every command reads the settings once (``--profile``, ``--set``, ``CSVPIPE_*``, csvpipe.toml)
and reports a user's mistake as one ``error:`` line with a non-zero exit, never a traceback.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer
from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError
from rich.table import Table
from rich.text import Text

from pipeline import layout, runs
from pipeline.advice import endpoint_of, unreachable_advice
from pipeline.aws import Clients
from pipeline.cli_common import console, settings_of, warn_if_stack_differs
from pipeline.cli_cost import cost
from pipeline.cli_crawl import crawl
from pipeline.cli_deploy import deploy, destroy
from pipeline.cli_dlq import dlq_app
from pipeline.cli_doctor import doctor
from pipeline.cli_lambda import event_app, invoke
from pipeline.cli_package import package_app
from pipeline.cli_quicksight import quicksight_app
from pipeline.cli_services import glue_worker
from pipeline.cli_transform import transform
from pipeline.cli_watch import watch
from pipeline.errors import CsvpipeError, UserInputError
from pipeline.settings import Settings, describe, load_settings

# How long `run` waits for the stages by default, by who runs the Glue stages.
GLUE_WAIT_SECONDS = {"csvpipe": 120.0, "aws-glue": 900.0}

# The settings the root command built, for main(): errors escaping a command are worded there.
_COMMAND_SETTINGS: list[Settings] = []

app = typer.Typer(
    help="Develop an AWS CSV pipeline (S3 -> Lambda -> Glue -> QuickSight) on your machine.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
config_app = typer.Typer(help="Inspect the effective settings.", no_args_is_help=True)
app.add_typer(config_app, name="config")


@app.callback()
def _root(
    ctx: typer.Context,
    profile: Annotated[
        str | None,
        typer.Option(
            "--profile",
            "-p",
            help="local (default, embedded), localstack (Docker Compose), ministack (MiniStack, no Docker) "
            "or aws. Overrides CSVPIPE_PROFILE.",
        ),
    ] = None,
    set_: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            "-s",
            metavar="KEY=VALUE",
            help="Override one setting for this command, e.g. --set emulator_port=4600. "
            "See `csvpipe config show` for the keys.",
        ),
    ] = None,
) -> None:
    overrides = {}
    for item in set_ or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise UserInputError(f"--set expects KEY=VALUE, got {item!r}")
        overrides[key.strip()] = value.strip()
    settings = load_settings(profile=profile, overrides=overrides)
    for notice in settings.notices:
        print(f"note: {notice}", file=sys.stderr)
    ctx.ensure_object(dict)["settings"] = settings
    _COMMAND_SETTINGS[:] = [settings]  # for main()'s advice on errors that escape the command


@config_app.command("show")
def config_show(ctx: typer.Context) -> None:
    """Print the effective settings and where each value came from (secrets masked)."""
    table = Table(title=f"csvpipe settings (profile {settings_of(ctx).profile})")
    table.add_column("setting")
    table.add_column("value")
    table.add_column("source")
    for name, value, source in describe(settings_of(ctx)):
        table.add_row(Text(name), Text(value), Text(source))
    console.print(table)


@app.command()
def up(
    ctx: typer.Context,
    detach: Annotated[
        bool, typer.Option("--detach", "-d", help="Run in the background; stop with `csvpipe down`.")
    ] = False,
) -> None:
    """Start the local stack: the AWS emulator, buckets, queue, the Lambda runtime and the
    event source. Runs in the foreground until Ctrl-C unless --detach.

    On the localstack profile, brings up the docker compose stack instead (LocalStack, the
    deployed Lambda, the Glue stand-in, the dashboard and the watcher) and waits until it is
    healthy; it needs a Docker engine.

    On the ministack profile, starts MiniStack (`pip install ministack`) on 127.0.0.1 instead;
    then `csvpipe --profile ministack deploy --from-installed` deploys the pipeline into it."""
    from emulators import stack

    settings = settings_of(ctx)
    if settings.profile == "ministack":
        _up_ministack(settings, detach)
        return
    if settings.profile == "localstack":
        from emulators import compose

        file = compose.compose_file()
        compose.up(file)
        console.print(
            f"localstack stack up ({file}): emulator {settings.endpoint_url}, dashboard "
            f"http://127.0.0.1:{settings.dashboard_port}; stop it with `csvpipe --profile localstack down`"
        )
        return
    if detach:
        state = stack.start_detached(settings)
        console.print(
            f"local stack running (pid {state['pid']}) at {state['endpoint_url']}; "
            "stop it with `csvpipe down`"
        )
        if state.get("dashboard_url"):
            console.print(f"dashboard: {state['dashboard_url']}")
        return

    def ready(state: dict[str, Any]) -> None:
        lines = [
            f"local stack ready at {state['endpoint_url']} "
            f"(buckets: {', '.join(state['buckets'])}); Ctrl-C to stop"
        ]
        if state.get("dashboard_url"):
            lines.append(f"dashboard: {state['dashboard_url']}")
        # One write: a Ctrl-C right after the first line can no longer cut the second one off.
        console.print("\n".join(lines))

    stack.serve(settings, on_ready=ready)
    console.print("local stack stopped")


def _up_ministack(settings: Settings, detach: bool) -> None:
    from emulators import ministack

    ministack.require_installed()
    then = (
        "deploy into it: `csvpipe --profile ministack deploy --from-installed`, "
        "then run the Glue stand-in: `csvpipe --profile ministack glue-worker`"
    )
    if detach:
        state = ministack.start_detached(settings)
        console.print(
            f"MiniStack {state['version']} running (pid {state['pid']}) at {state['endpoint_url']}; "
            "stop it with `csvpipe --profile ministack down`"
        )
        console.print(then)
        return

    def ready(server: ministack.MiniStack) -> None:
        console.print(f"MiniStack ready at {server.endpoint} (log {server.log_path}); Ctrl-C to stop\n{then}")

    ministack.serve(settings, on_ready=ready)
    console.print("MiniStack stopped")


@app.command()
def down(
    ctx: typer.Context,
    forget: Annotated[
        bool,
        typer.Option(
            "--forget",
            help="Also delete the local stack's saved buckets and tables: the next `up` starts empty.",
        ),
    ] = False,
) -> None:
    """Stop the local stack started by `csvpipe up` or `csvpipe run`; its buckets and tables
    are kept for the next `up` unless --forget (on the localstack profile, the docker compose
    stack; its volumes are kept)."""
    from emulators import stack

    settings = settings_of(ctx)
    if settings.profile == "localstack":
        from emulators import compose

        compose.down(compose.compose_file())
        console.print("localstack stack stopped (volumes kept)")
        return
    if settings.profile == "ministack":
        from emulators import ministack

        stopped = ministack.stop_detached(settings)
        console.print("MiniStack stopped" if stopped else "no MiniStack is running")
        return
    if stack.stop(settings):
        console.print("local stack stopped")
    else:
        console.print("no local stack is running")
    if forget:
        from emulators import persistence

        root = stack.persistence_root(settings)
        console.print(f"forgot the saved state in {root}" if persistence.forget(root) else "no saved state")


@app.command()
def status(ctx: typer.Context) -> None:
    """Show what runs and the latest runs."""
    from emulators import stack

    settings = settings_of(ctx)
    state = stack.read_state(settings) if settings.profile == "local" else None
    if settings.profile == "local" and state is None:
        console.print("local stack: not running (start it with `csvpipe up --detach`)")
        return
    if state:
        console.print(f"local stack: running (pid {state['pid']}) since {state['started_at']}")
        console.print(f"  emulator  {state['endpoint_url']} (pid {state['emulator_pid']})")
        console.print(f"  lambda    {state['function']}   logs {state['logs']}")
        if state.get("dashboard_url"):
            console.print(f"  dashboard {state['dashboard_url']} (pid {state['dashboard_pid']})")
        warn_if_stack_differs(settings, state)
    else:
        console.print(f"profile {settings.profile}: endpoint {settings.endpoint_url or 'AWS'}")
    latest = runs.latest_run_records(Clients(settings).s3, settings.processed_bucket)
    if not latest:
        console.print("no runs yet")
        return
    table = Table(title="latest runs (status covers every stage: preprocess, crawl, transform)")
    for column in ("file", "status", "rows in", "out", "rejected", "seconds", "started"):
        table.add_column(column)
    failures = []
    for records in latest:
        pre = records.get("preprocess") or {}
        source = (pre or records.get("invoke") or {}).get("source") or {}
        rows = pre.get("rows") or {}
        outcome = runs.outcome(records)
        seconds = [r["seconds"] for r in records.values() if isinstance(r.get("seconds"), int | float)]
        cells = (
            source.get("key", "?"),
            outcome.label,
            rows.get("in", "-"),
            rows.get("out", "-"),
            rows.get("rejected", "-"),
            f"{sum(seconds):.2f}" if seconds else "-",
            pre.get("started_at") or (records.get("invoke") or {}).get("at", ""),
        )
        table.add_row(*(Text(str(cell)) for cell in cells))
        if outcome.error:
            failures.append(f"{source.get('key', '?')}: {outcome.label}: {outcome.error}")
    console.print(table)
    for line in failures:
        console.print(line, style="red")


@app.command()
def run(
    ctx: typer.Context,
    files: Annotated[list[Path], typer.Argument(help="CSV files (.csv or .csv.gz) to run.")],
    dataset: Annotated[
        str | None, typer.Option(help="Dataset (catalog table) for the files; default: each file's name.")
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option(
            help="Seconds to wait for the stages, on top of the Lambda timeout. Default: 120, or 900 "
            "with glue_backend=aws-glue (a Glue crawler and job take minutes)."
        ),
    ] = None,
) -> None:
    """Upload FILES, follow each through every stage, and print a summary per file.

    On the local profile the stack is started first when it is not running (it keeps running
    afterwards; stop it with `csvpipe down`). Exits non-zero when any stage failed."""
    from pipeline.ingest.upload import check_local_file
    from pipeline.report import run_files

    settings = settings_of(ctx)
    for path in files:
        check_local_file(path)
    running: dict[str, Any] | None = None
    if settings.profile == "local":
        from emulators import stack

        running = stack.read_state(settings)
        if running is not None:
            warn_if_stack_differs(settings, running)
        else:
            with console.status("starting the local stack..."):
                state = stack.start_detached(settings)
            console.print(
                f"local stack started at {state['endpoint_url']} (keeps running; stop it with `csvpipe down`)"
            )
            if state.get("dashboard_url"):
                console.print(f"dashboard: {state['dashboard_url']}")
    if timeout is None:
        timeout = GLUE_WAIT_SECONDS.get(settings.glue_backend, 120.0)
    # Which transforms read a dataset: the running stack's, which are the ones that ran.
    stack_transforms = ((running or {}).get("settings") or {}).get("transforms_dir")
    transforms_dir = Path(stack_transforms) if stack_transforms else settings.transforms_dir
    ok = run_files(
        console, Clients(settings), files, dataset, timeout + settings.lambda_timeout, transforms_dir
    )
    raise typer.Exit(0 if ok else 1)


@app.command()
def rejects(
    ctx: typer.Context,
    file: Annotated[
        str | None,
        typer.Argument(help="A local file you ran, or a raw key like movies/movies.csv. Default: all."),
    ] = None,
    dataset: Annotated[str | None, typer.Option(help="Dataset the local file was run with.")] = None,
) -> None:
    """Show rejected rows (line number, reason, raw text) from the processed bucket."""
    from pipeline.rejects import list_rejects, read_rejects

    settings = settings_of(ctx)
    s3 = Clients(settings).s3
    if file is None:
        found = list_rejects(s3, settings.processed_bucket)
        if not found:
            console.print("no rejected rows")
            return
        table = Table(title="files with rejected rows")
        table.add_column("raw key")
        table.add_column("rejected rows")
        for key, count in found:
            table.add_row(Text(key), Text(str(count)))
        console.print(table)
        return
    local = Path(file)
    raw_key = layout.raw_key_for_upload(local.name, dataset) if local.is_file() else file
    rows = read_rejects(s3, settings.processed_bucket, raw_key)
    if rows is None:
        console.print(f"no rejected rows for s3://{settings.raw_bucket}/{raw_key}")
        return
    table = Table(title=f"rejected rows of {raw_key}")
    for column in ("line", "reason", "raw text"):
        table.add_column(column)
    for row in rows:
        table.add_row(Text(row["line_number"]), Text(row["reason"]), Text(row["raw_text"]))
    console.print(table)


@app.command()
def dashboard(
    ctx: typer.Context,
    port: Annotated[int | None, typer.Option(help="Port to serve on (setting dashboard_port).")] = None,
) -> None:
    """Start the Streamlit dashboard (the QuickSight stand-in) on 127.0.0.1. `csvpipe up`
    starts one too."""
    from dashboards import serve_command, serve_environment

    settings = settings_of(ctx)
    port = port or settings.dashboard_port
    console.print(f"dashboard on http://{settings.dashboard_host}:{port} (Ctrl-C to stop)")
    command = serve_command(settings, port)
    env = serve_environment(settings)
    try:
        code = subprocess.call(command, env=env)
    except KeyboardInterrupt:
        code = 0
    raise typer.Exit(code)


app.add_typer(event_app, name="event")
app.command()(invoke)
app.add_typer(dlq_app, name="dlq")
app.add_typer(package_app, name="package")
app.command()(crawl)
app.command()(transform)
app.command()(watch)
app.add_typer(quicksight_app, name="quicksight")
app.command("glue-worker")(glue_worker)
app.command()(doctor)
app.command()(deploy)
app.command()(destroy)
app.command()(cost)


def _friendly(exc: Exception, settings: Settings | None = None) -> str | None:
    """One line for errors that reach the CLI from AWS clients; the advice fits the profile of
    ``settings`` (the command's; the local profile's when the settings could not be read)."""
    if isinstance(exc, EndpointConnectionError):
        advice = unreachable_advice(settings or Settings())
        return f"cannot reach {endpoint_of(exc.kwargs.get('endpoint_url'))}: {advice}"
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"AWS error {error.get('Code')}: {error.get('Message')}"
    if isinstance(exc, BotoCoreError):
        return f"AWS client error: {exc}"
    return None


def main() -> None:
    """Typer handles usage errors itself (a message and exit 2); csvpipe's own errors and AWS
    client errors become one ``error:`` line and exit 1."""
    try:
        app(prog_name="csvpipe")
    except CsvpipeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    except (BotoCoreError, ClientError) as exc:
        print(f"error: {_friendly(exc, next(iter(_COMMAND_SETTINGS), None))}", file=sys.stderr)
        sys.exit(1)
    except Exception as exc:  # a bug: one line for the user, the traceback kept in a file
        print(f"error: internal error: {type(exc).__name__}: {exc} ({_keep_traceback()})", file=sys.stderr)
        sys.exit(1)


def _keep_traceback() -> str:
    """The current exception's traceback, written to a file; where, for the error line."""
    with tempfile.NamedTemporaryFile("w", prefix="csvpipe-traceback-", suffix=".txt", delete=False) as out:
        traceback.print_exc(file=out)
    return f"traceback in {out.name}; please report it"


if __name__ == "__main__":
    main()
