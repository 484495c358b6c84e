"""Request/trace ids, access logs and Prometheus metrics as one pure ASGI middleware."""

from __future__ import annotations

import logging
import os
import tempfile
import time

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from servicekit.context import child_traceparent, new_request_id, request_id_var, traceparent_var, valid_traceparent
from servicekit.errors import problem_body, problem_response

log = logging.getLogger("access")
errors_log = logging.getLogger(__name__)

REQUESTS = Counter("http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
_QUIET = {"/healthz", "/readyz", "/metrics"}
ROUTE_HEADER = b"x-route-template"
ROUTE_STATE = "route_template"
MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"  # prometheus_client's own name for the shared folder


class RequestContextMiddleware:
    """`announce_route`: a service tells the gateway the route template that answered (ROUTE_HEADER), so the
    gateway's metrics are labelled by it instead of its one catch-all route; the gateway removes the header."""

    def __init__(self, app: ASGIApp, *, announce_route: bool = True) -> None:
        self.app = app
        self.announce_route = announce_route

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {
            k.decode("latin-1"): v.decode("latin-1")
            for k, v in scope["headers"]
            if k in (b"x-request-id", b"traceparent")
        }
        incoming = headers.get("x-request-id", "")
        request_id = (
            incoming if 8 <= len(incoming) <= 64 and incoming.isascii() and incoming.isprintable() else new_request_id()
        )
        traceparent = valid_traceparent(headers.get("traceparent")) or child_traceparent(None)
        scope.setdefault("state", {})["request_id"] = request_id
        rid_token = request_id_var.set(request_id)
        tp_token = traceparent_var.set(traceparent)
        status = 500
        started = time.perf_counter()
        response_started = False

        async def send_with_ids(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode()),
                    (b"traceparent", traceparent.encode()),
                ]
                if self.announce_route and (template := _template(scope)) is not None:
                    message["headers"].append((ROUTE_HEADER, template.encode()))
            await send(message)

        try:
            await self.app(scope, receive, send_with_ids)
        except Exception:
            # Answered here rather than by Starlette's outermost handler, which re-raises after answering: the
            # server then closes the connection, and the gateway's next request on it failed with a 502.
            if response_started:
                raise
            errors_log.exception("unhandled error")
            request = Request(scope)
            body = problem_body(
                request, status=500, type_="internal-error", title_zh="系统内部错误", title_en="Internal error"
            )
            await problem_response(request, 500, body)(scope, receive, send_with_ids)
        finally:
            elapsed = time.perf_counter() - started
            route = _template(scope) or "unmatched"
            REQUESTS.labels(scope["method"], route, str(status)).inc()
            LATENCY.labels(scope["method"], route).observe(elapsed)
            if scope["path"] not in _QUIET:
                log.info(
                    "request",
                    extra={
                        "method": scope["method"],
                        "path": scope["path"],
                        "status": status,
                        "duration_ms": round(elapsed * 1000, 2),
                    },
                )
            request_id_var.reset(rid_token)
            traceparent_var.reset(tp_token)


def _template(scope: Scope) -> str | None:
    """The route template that answered: one the app set in the request's state (the gateway: its upstream's),
    else the matched route's own path."""
    return scope.get("state", {}).get(ROUTE_STATE) or getattr(scope.get("route"), "path", None)


async def metrics_endpoint(_: Request) -> Response:
    return Response(generate_latest(_registry()), media_type=CONTENT_TYPE_LATEST)


def _registry() -> CollectorRegistry:
    """With several worker processes (`serve_with_workers`) each writes its figures to the shared folder and a
    scrape, answered by any one of them, sums them all; with one, the process's own registry."""
    if folder := os.environ.get(MULTIPROCESS_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=folder)
        return registry
    return REGISTRY


def serve_with_workers(service_name: str, workers: int) -> None:
    """Call before the worker processes start (they import prometheus_client with the folder set)."""
    if workers > 1:
        os.environ[MULTIPROCESS_ENV] = tempfile.mkdtemp(prefix=f"{service_name}-metrics-")


def worker_stopped() -> None:
    """A stopped worker's live gauges leave the sums (its counters stay: they count what it did)."""
    if os.environ.get(MULTIPROCESS_ENV):
        multiprocess.mark_process_dead(os.getpid())
