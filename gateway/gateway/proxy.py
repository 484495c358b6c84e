"""Streaming reverse proxy over one pooled aiohttp session.

Hop-by-hop headers and any client-supplied identity headers are dropped; the upstream never learns about, and
never stores, another user's cookies; transport failures become 502/503/504 problems that say nothing about
the inside. The session is aiohttp's own, not wrapped in httpx: httpcore's pool re-polled every pooled socket on
each request (3/4 of the gateway's CPU under load), and httpx over aiohttp's transport still cost a fifth of it
in request building, cookie handling and URL parsing (bench/README.md).
"""

from __future__ import annotations

import asyncio

import aiohttp
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from yarl import URL

from gateway.routes import Route
from gateway.settings import GatewaySettings
from servicekit.context import request_id_var, traceparent_var
from servicekit.errors import PayloadTooLarge, Problem
from servicekit.observability import ROUTE_HEADER, ROUTE_STATE

HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "host",
        "cookie",
        "set-cookie",
    }
)
IDENTITY_PREFIXES = (
    "x-principal",
    "x-user",
    "x-auth",
    "x-forwarded",
    "x-real-ip",
    "x-acting",
    "x-roles",
    "x-remote-user",
    "remote-user",
    "x-consumer",
    "x-client-id",
    "x-district",
)
# The one cookie that crosses the gateway: the staff console's refresh token, to and from its own paths only
# (identity's api/console_session.py). Every other cookie stays out of the upstreams and out of the answers.
CONSOLE_SESSION_PATH = "/api/v1/auth/console/"
CONSOLE_COOKIE = "tb_console_refresh"

# An answer up to this size is read whole and sent in one piece; a larger or unsized one streams. Most answers are
# a few KiB of JSON, and a stream costs a task group and a message per chunk.
BUFFERED_MAX_BYTES = 256 * 1024
STREAM_CHUNK_BYTES = 64 * 1024


class BadGateway(Problem):
    status, type, title_zh, title_en = 502, "bad-gateway", "上游服务响应异常", "Bad gateway"


class UpstreamUnavailable(Problem):
    status, type, title_zh, title_en = 503, "upstream-unavailable", "服务暂不可用，请稍后再试", "Service unavailable"


class UpstreamTimeout(Problem):
    status, type, title_zh, title_en = 504, "upstream-timeout", "服务响应超时，请稍后再试", "Upstream timed out"


class Upstreams:
    """The pooled connections to every upstream, opened on first use (a session belongs to the running loop).
    aiohttp's dummy jar stores no cookie, so one user's cookie can never reach another; only the caller's own
    headers are sent (no User-Agent or Accept-Encoding of aiohttp's), and bodies pass through undecoded."""

    def __init__(self, settings: GatewaySettings) -> None:
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            # Idle upstream connections are dropped after 30 s: services keep them 75 s (servicekit.cli), so the
            # gateway never reuses one a service is closing.
            connector = aiohttp.TCPConnector(limit=self.settings.max_connections, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept", "Accept-Encoding", "Content-Type"),
            )
        return self._session

    def timeout(self, seconds: float) -> aiohttp.ClientTimeout:
        return aiohttp.ClientTimeout(sock_read=seconds, connect=self.settings.connect_timeout_s)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _console_cookie(request: Request) -> list[tuple[str, str]]:
    if not request.url.path.startswith(CONSOLE_SESSION_PATH) or CONSOLE_COOKIE not in request.cookies:
        return []
    return [("cookie", f"{CONSOLE_COOKIE}={request.cookies[CONSOLE_COOKIE]}")]


def forward_headers(request: Request, client_ip: str) -> list[tuple[str, str]]:
    connection_tokens = {t.strip().lower() for t in request.headers.get("connection", "").split(",")}
    headers = [
        (name, value)
        for name, value in request.headers.items()
        if name not in HOP_BY_HOP
        and name not in connection_tokens
        and not name.startswith(IDENTITY_PREFIXES)
        and name not in ("x-request-id", "traceparent")
    ]
    headers += [
        ("x-forwarded-for", client_ip),
        ("x-forwarded-proto", request.url.scheme),
        ("x-forwarded-host", request.headers.get("host", "")),
        ("x-request-id", request_id_var.get() or ""),
        ("traceparent", traceparent_var.get() or ""),
    ]
    return headers + _console_cookie(request)


# The gateway's own ids are added by its middleware; the route template is for its metrics, not for clients.
_OWN = ("x-request-id", "traceparent", ROUTE_HEADER.decode())


def _response_headers(upstream: aiohttp.ClientResponse, route: Route, path: str) -> dict[str, str]:
    connection_tokens = {t.strip().lower() for t in upstream.headers.get("connection", "").split(",")}
    headers = {}
    for name, value in upstream.headers.items():
        name = name.lower()
        if name not in HOP_BY_HOP and name not in connection_tokens and name not in _OWN:
            headers[name] = value
    if "location" in headers:
        headers["location"] = _public_location(headers["location"], route)
    if path.startswith(CONSOLE_SESSION_PATH):
        kept = [c for c in upstream.headers.getall("set-cookie", []) if c.startswith(CONSOLE_COOKIE + "=")]
        if kept:
            headers["set-cookie"] = kept[0]
    return headers


def _public_location(location: str, route: Route) -> str:
    """A redirect target the client may see: a service's own address never leaves the gateway. A target on the
    upstream itself becomes a path the client resolves against the gateway; a relative one passes as it is;
    one anywhere else is not the gateway's to pass on."""
    try:
        target = URL(location, encoded=True)
        if not target.absolute:
            return location
        upstream = URL(route.base_url)
        same = (target.scheme, target.host, target.port) == (upstream.scheme, upstream.host, upstream.port)
    except ValueError:
        raise BadGateway() from None
    if same:
        return target.raw_path_qs
    raise BadGateway()


class _LimitedBody:
    """The request body as it streams to the upstream, stopped once it exceeds the limit."""

    def __init__(self, request: Request, limit: int) -> None:
        self.request, self.limit, self.exceeded, self._seen = request, limit, False, 0

    async def __aiter__(self):
        async for chunk in self.request.stream():
            self._seen += len(chunk)
            if self._seen > self.limit:
                self.exceeded = True
                raise PayloadTooLarge(self.limit)
            yield chunk


def transport_problem(exc: BaseException) -> Problem:
    """503 when the upstream cannot be reached, 504 when it is too slow, 502 when it answers nonsense."""
    if isinstance(exc, (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)):
        return UpstreamUnavailable()
    if isinstance(exc, (asyncio.TimeoutError, aiohttp.ServerTimeoutError)):
        return UpstreamTimeout()
    return BadGateway()


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise Problem("Content-Length 无效", "Invalid Content-Length")
    return int(value)


async def forward(upstreams: Upstreams, route: Route, request: Request, client_ip: str, path: str) -> Response:
    """Forward to `route`'s upstream at `path`, the path as received (percent-escapes intact, see paths.py)."""
    settings = upstreams.settings
    declared = _declared_length(request)
    if declared is not None and declared > settings.max_body_bytes:
        raise PayloadTooLarge(settings.max_body_bytes)
    query = request.scope["query_string"].decode("latin-1")
    # encoded=True: sent exactly as received and checked, never re-quoted or normalised.
    url = URL(route.base_url + path + (f"?{query}" if query else ""), encoded=True)
    has_body = request.method not in ("GET", "HEAD", "OPTIONS", "DELETE") or declared is not None
    body = _LimitedBody(request, settings.max_body_bytes) if has_body else None
    timeout = upstreams.timeout(settings.upstream_timeouts_s.get(route.service, settings.default_timeout_s))
    try:
        upstream = await upstreams.session.request(
            request.method,
            url,
            headers=forward_headers(request, client_ip),
            data=body,
            allow_redirects=False,
            timeout=timeout,
        )
    except PayloadTooLarge:
        raise
    except (TimeoutError, aiohttp.ClientError) as exc:
        if body is not None and body.exceeded:
            raise PayloadTooLarge(settings.max_body_bytes) from None
        raise transport_problem(exc) from None
    try:
        if template := upstream.headers.get(ROUTE_HEADER.decode()):
            setattr(request.state, ROUTE_STATE, template)  # the metrics label (servicekit.observability)
        headers = _response_headers(upstream, route, request.url.path)
        if upstream.content_length is not None and upstream.content_length <= BUFFERED_MAX_BYTES:
            content = await upstream.read()
            upstream.release()
            return Response(content, status_code=upstream.status, headers=headers)
    except (TimeoutError, aiohttp.ClientError) as exc:
        upstream.release()
        raise transport_problem(exc) from None
    except Problem:
        upstream.release()
        raise
    return StreamingResponse(
        upstream.content.iter_chunked(STREAM_CHUNK_BYTES),
        status_code=upstream.status,
        headers=headers,
        background=BackgroundTask(upstream.release),
    )
