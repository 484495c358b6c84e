"""Request and trace ids carried across HTTP and events (W3C traceparent)."""

from __future__ import annotations

import contextvars
import re

from servicekit.ids import random_id

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
traceparent_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("traceparent", default=None)

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def new_request_id() -> str:
    return random_id().hex


def valid_traceparent(value: str | None) -> str | None:
    if value and _TRACEPARENT.match(value.strip().lower()):
        return value.strip().lower()
    return None


def child_traceparent(parent: str | None) -> str:
    """Same trace, new span id; a fresh trace when there is no valid parent."""
    match = _TRACEPARENT.match(parent or "")
    trace_id = match.group(1) if match else random_id().hex
    return f"00-{trace_id}-{random_id().hex[:16]}-01"  # random bits from the shared buffer, not a syscall each


def trace_id() -> str | None:
    match = _TRACEPARENT.match(traceparent_var.get() or "")
    return match.group(1) if match else None
