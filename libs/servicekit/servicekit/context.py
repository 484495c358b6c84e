"""Request and trace ids carried across HTTP and events (W3C traceparent)."""
from __future__ import annotations

import contextvars
import re
import secrets
import uuid

request_id_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("request_id", default=None)
traceparent_var: contextvars.ContextVar[str | None] = contextvars.ContextVar("traceparent", default=None)

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


def new_request_id() -> str:
    return uuid.uuid4().hex


def valid_traceparent(value: str | None) -> str | None:
    if value and _TRACEPARENT.match(value.strip().lower()):
        return value.strip().lower()
    return None


def child_traceparent(parent: str | None) -> str:
    """Same trace, new span id; a fresh trace when there is no valid parent."""
    match = _TRACEPARENT.match(parent or "")
    trace_id = match.group(1) if match else secrets.token_hex(16)
    return f"00-{trace_id}-{secrets.token_hex(8)}-01"


def trace_id() -> str | None:
    match = _TRACEPARENT.match(traceparent_var.get() or "")
    return match.group(1) if match else None
