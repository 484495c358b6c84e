"""Streaming reverse proxy over one pooled httpx.AsyncClient.

Both directions stream; hop-by-hop headers and any client-supplied identity headers are dropped; the
upstream never learns about, and never stores, another user's cookies; transport failures become
502/503/504 problems that say nothing about the inside.
"""
from __future__ import annotations

from http.cookiejar import CookieJar, DefaultCookiePolicy

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from servicekit.context import request_id_var, traceparent_var
from servicekit.errors import PayloadTooLarge, Problem
from gateway.routes import Route
from gateway.settings import GatewaySettings

HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
                        "trailers", "transfer-encoding", "upgrade", "host", "cookie", "set-cookie"})
IDENTITY_PREFIXES = ("x-principal", "x-user", "x-auth", "x-forwarded", "x-real-ip", "x-acting", "x-roles",
                     "x-remote-user", "remote-user", "x-consumer", "x-client-id", "x-district")


class BadGateway(Problem):
    status, type, title_zh, title_en = 502, "bad-gateway", "上游服务响应异常", "Bad gateway"


class UpstreamUnavailable(Problem):
    status, type, title_zh, title_en = 503, "upstream-unavailable", "服务暂不可用，请稍后再试", "Service unavailable"


class UpstreamTimeout(Problem):
    status, type, title_zh, title_en = 504, "upstream-timeout", "服务响应超时，请稍后再试", "Upstream timed out"


def new_client(settings: GatewaySettings) -> httpx.AsyncClient:
    """One pooled client for every upstream. The transport is aiohttp's connection pool (httpx-aiohttp):
    httpcore's pool re-polls every pooled socket on each request and cost 3/4 of the gateway's CPU under
    load (see bench/README.md). Neither httpx's jar nor aiohttp's stores cookies, so one user's cookie can
    never reach another."""

    def session() -> aiohttp.ClientSession:
        # Idle upstream connections are dropped after 30 s: services keep them 75 s (servicekit.cli).
        connector = aiohttp.TCPConnector(limit=settings.max_connections, keepalive_timeout=30)
        return aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar(), auto_decompress=False)

    never_store = CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))
    client = httpx.AsyncClient(transport=AiohttpTransport(client=session), cookies=never_store, follow_redirects=False,
                               timeout=httpx.Timeout(settings.default_timeout_s, connect=settings.connect_timeout_s))
    client.headers.clear()  # forward the caller's headers, not httpx's defaults (e.g. Accept-Encoding)
    return client


def _forward_headers(request: Request, client_ip: str) -> list[tuple[str, str]]:
    connection_tokens = {t.strip().lower() for t in request.headers.get("connection", "").split(",")}
    headers = [
        (name, value) for name, value in request.headers.items()
        if name not in HOP_BY_HOP and name not in connection_tokens and not name.startswith(IDENTITY_PREFIXES)
        and name not in ("x-request-id", "traceparent")
    ]
    headers += [("x-forwarded-for", client_ip), ("x-forwarded-proto", request.url.scheme),
                ("x-forwarded-host", request.headers.get("host", "")),
                ("x-request-id", request_id_var.get() or ""), ("traceparent", traceparent_var.get() or "")]
    return headers


def _response_headers(upstream: httpx.Response, route: Route) -> dict[str, str]:
    connection_tokens = {t.strip().lower() for t in upstream.headers.get("connection", "").split(",")}
    headers = {name: value for name, value in upstream.headers.items()
               if name not in HOP_BY_HOP and name not in connection_tokens
               and name not in ("x-request-id", "traceparent")}  # the gateway's own ids are added by its middleware
    if "location" in headers:
        headers["location"] = _public_location(headers["location"], route)
    return headers


def _public_location(location: str, route: Route) -> str:
    """A redirect target the client may see: a service's own address never leaves the gateway. A target on the
    upstream itself becomes a path the client resolves against the gateway; a relative one passes as it is;
    one anywhere else is not the gateway's to pass on."""
    try:
        target = httpx.URL(location)
    except httpx.InvalidURL:
        raise BadGateway() from None
    if not target.is_absolute_url:
        return location
    upstream = httpx.URL(route.base_url)
    if (target.scheme, target.host, target.port) == (upstream.scheme, upstream.host, upstream.port):
        return target.raw_path.decode("ascii")
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


def _transport_problem(exc: BaseException) -> Problem:
    """503 when the upstream cannot be reached, 504 when it is too slow, 502 when it answers nonsense."""
    cause = exc.__cause__ or exc
    if isinstance(cause, (aiohttp.ClientConnectorError, httpx.ConnectError, httpx.PoolTimeout)):
        return UpstreamUnavailable()
    if isinstance(cause, (TimeoutError, aiohttp.ServerTimeoutError, httpx.TimeoutException)):
        return UpstreamTimeout()
    return BadGateway()


def _declared_length(request: Request) -> int | None:
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise Problem("Content-Length 无效", "Invalid Content-Length")
    return int(value)


async def forward(client: httpx.AsyncClient, settings: GatewaySettings, route: Route, request: Request,
                  client_ip: str, path: str) -> Response:
    """Forward to `route`'s upstream at `path`, the path as received (percent-escapes intact, see paths.py)."""
    declared = _declared_length(request)
    if declared is not None and declared > settings.max_body_bytes:
        raise PayloadTooLarge(settings.max_body_bytes)
    url = httpx.URL(route.base_url + path, query=request.scope["query_string"])  # not request.url: it re-parses the decoded path
    has_body = request.method not in ("GET", "HEAD", "OPTIONS", "DELETE") or declared is not None
    body = _LimitedBody(request, settings.max_body_bytes) if has_body else None
    timeout = httpx.Timeout(settings.upstream_timeouts_s.get(route.service, settings.default_timeout_s),
                            connect=settings.connect_timeout_s)
    upstream_request = client.build_request(request.method, url, headers=_forward_headers(request, client_ip),
                                            content=body, timeout=timeout)
    try:
        upstream = await client.send(upstream_request, stream=True)
    except PayloadTooLarge:
        raise
    except (httpx.HTTPError, aiohttp.ClientError) as exc:
        if body is not None and body.exceeded:
            raise PayloadTooLarge(settings.max_body_bytes) from None
        raise _transport_problem(exc) from None
    try:
        headers = _response_headers(upstream, route)
    except Problem:
        await upstream.aclose()
        raise
    return StreamingResponse(upstream.aiter_raw(), status_code=upstream.status_code, headers=headers,
                             background=BackgroundTask(upstream.aclose))
