"""Small Lambda handlers for exercising the local runtime's contract (timeouts, errors,
context). They are test inputs, run by the real runtime; the product's handler is tested too."""

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


def fail(event: dict[str, Any], context: Any) -> None:
    raise RuntimeError("the handler failed on purpose")
