"""``csvpipe transform``: run the SQL transforms on demand, show their order without running
them (``--dry-run``), or check that they port to Spark SQL for AWS Glue (``--check``)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from pipeline.aws import Clients
from pipeline.cli_common import console, settings_of
from pipeline.errors import UserInputError
from pipeline.transform.dag import Step, downstream_of


def _select(steps: list[Step], names: list[str]) -> list[Step]:
    if not names:
        return steps
    known = {step.name for step in steps}
    unknown = [name for name in names if name not in known]
    if unknown:
        raise UserInputError(
            f"no transform named {', '.join(unknown)}; the transforms are: {', '.join(sorted(known))}"
        )
    return downstream_of(steps, names)


def _print_plan(steps: list[Step]) -> None:
    table = Table(title="transforms, in run order")
    for column in ("#", "transform", "reads catalog tables", "reference tables", "outputs of", "file"):
        table.add_column(column)
    for number, step in enumerate(steps, start=1):
        cells = (
            str(number),
            step.name,
            ", ".join(step.catalog) or "-",
            ", ".join(step.references) or "-",
            ", ".join(step.upstream) or "-",
            str(step.transform.path),
        )
        table.add_row(*(Text(cell) for cell in cells))
    console.print(table)


def _check_spark(steps: list[Step], spark_sql: bool) -> None:
    from pipeline.spark import check_all, report_lines

    results = check_all(step.transform for step in steps)
    for result in results:
        for line in report_lines(result):
            console.print(line)
        if spark_sql:
            console.print(f"  spark sql:\n{result.spark_sql}")
    blocked = sum(not result.portable for result in results)
    console.print(
        f"{len(results)} transform(s): {len(results) - blocked} port to Spark 3.5, {blocked} do not"
    )
    raise typer.Exit(1 if blocked else 0)


def _log_to_file(path: Path) -> Path:
    """The stages' log lines (an unexpected error's traceback among them) to ``path``, not to the
    terminal: the user gets the one FAILED line per transform, and where the details are."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    logger = logging.getLogger("csvpipe")
    logger.addHandler(handler)
    logger.propagate = False
    return path


def transform(
    ctx: typer.Context,
    names: Annotated[
        list[str] | None,
        typer.Argument(
            help="Transforms to run (file names without .sql); those reading their outputs follow."
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the run order and each transform's inputs; run nothing.")
    ] = False,
    check: Annotated[
        bool,
        typer.Option(
            "--check", help="Check that the transforms port to Spark SQL (AWS Glue 5.0); run nothing."
        ),
    ] = False,
    spark_sql: Annotated[
        bool, typer.Option("--spark-sql", help="With --check, print each transform's Spark SQL too.")
    ] = False,
) -> None:
    """Run the SQL transforms of `transforms_dir` against the catalog and publish their outputs.

    Each transform runs after the transforms whose outputs it reads; a failing transform stops
    those, not the others. Needs the stack (`csvpipe up --detach`) unless --dry-run or --check.
    Exits 1 when a transform failed, or with --check when one does not port to Spark."""
    from pipeline.transform.job import load_plan, run_steps

    settings = settings_of(ctx)
    steps, references = load_plan(settings)
    chosen = _select(steps, names or [])
    if dry_run:
        _print_plan(chosen)
        return
    if check:
        _check_spark(chosen, spark_sql)
        return
    clients = Clients(settings)
    log_file = _log_to_file(settings.state_dir / "logs" / "transform.log")
    with console.status(f"running {len(chosen)} transform(s)..."):
        result = run_steps(
            chosen, settings, clients.s3, clients.glue, settings.state_dir / "glue-work", references
        )
    for output in result["outputs"]:
        console.print(
            f"ok      {output['output']}: {output['rows']} rows -> {output['data']} and {output['parquet']}"
        )
    for skipped in result["skipped"]:
        console.print(f"skipped {skipped['transform']}: {skipped['reason']}")
    for error in result["errors"]:
        console.print(f"FAILED  {error['transform']}: {error['error']}", style="red")
    if any(e["error"].startswith("internal error") for e in result["errors"]):
        console.print(f"details of the internal error(s) in {log_file}")
    raise typer.Exit(1 if result["errors"] else 0)
