"""Small Lambda handlers for exercising the local runtime's contract (timeouts, errors,
context, memory, where code is imported from). They are test inputs, run by the real runtime;
the product's handler is tested too. Standard library only: they also run beside a deployment
zip's code, where nothing else is importable."""

from __future__ import annotations

import time
from typing import Any


def describe_context(event: dict[str, Any], context: Any) -> dict[str, Any]:
    return {
        "function_name": context.function_name,
        "request_id": context.aws_request_id,
        "remaining_ms": context.get_remaining_time_in_millis(),
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "invoked_function_arn": context.invoked_function_arn,
        "event": event,
    }


def sleep_for(event: dict[str, Any], context: Any) -> str:
    time.sleep(float(event["seconds"]))
    return "woke up"


def fill_tmp(event: dict[str, Any], context: Any) -> str:
    """Write ``event["mb"]`` MiB in a folder of its own under /tmp (``TMPDIR``), as a handler
    working on a file does, then sleep ``event["seconds"]``: long enough to be timed out or
    killed with the folder still there; with ``event["allocate_mb"]``, allocate that much memory
    first (see ``allocate``)."""
    import os
    import tempfile

    folder = tempfile.mkdtemp(prefix="work-")
    with open(os.path.join(folder, "part.bin"), "wb") as fh:
        fh.write(b"x" * int(event["mb"] * 1024 * 1024))
    if event.get("allocate_mb"):
        allocate({"mb": event["allocate_mb"]}, context)
    time.sleep(float(event["seconds"]))
    return folder


def fail(event: dict[str, Any], context: Any) -> None:
    raise RuntimeError("the handler failed on purpose")


def allocate(event: dict[str, Any], context: Any) -> int:
    """Allocate ``event["mb"]`` MiB and write to every page, so the memory is really resident."""
    block = bytearray(int(event["mb"]) * 1024 * 1024)
    for offset in range(0, len(block), 4096):
        block[offset] = 1
    return len(block)


def where_from(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Where modules would be imported from (None: not importable at all), after importing
    ``event["import"]``, and the top-level modules that import loaded."""
    import importlib
    import importlib.util
    import os
    import sys

    before = set(sys.modules)
    if event.get("import"):
        importlib.import_module(event["import"])
    loaded = sorted({name.split(".")[0] for name in set(sys.modules) - before})
    found = {}
    for name in event["modules"]:
        spec = importlib.util.find_spec(name)
        found[name] = spec.origin if spec is not None else None
    return {
        "modules": found,
        "loaded": loaded,
        "sys_path": sys.path,
        "task_root": os.environ.get("LAMBDA_TASK_ROOT"),
        "cwd": os.getcwd(),
    }


def count_overlap(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Mark this invocation as running in a shared folder, stay a moment, and return how many
    invocations were running at once (the marks present), for concurrency limits."""
    import os
    import time
    from pathlib import Path

    folder = Path(os.environ["OVERLAP_DIR"])
    mark = folder / context.aws_request_id
    mark.touch()
    seen = 0
    for _ in range(10):
        seen = max(seen, len(list(folder.iterdir())))
        time.sleep(0.05)
    mark.unlink()
    return {"records": [{"overlap": seen}]}
