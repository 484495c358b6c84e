"""The gateway forwards only paths that name one resource, exactly as received, and no internal address leaves it."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import uvicorn

from gateway.__main__ import serving_options
from gateway.main import create_app
from gateway.paths import BadPath, checked_path
from gateway.settings import GatewaySettings
from servicekit.errors import PROBLEM_JSON


@pytest.mark.parametrize(
    "raw",
    [
        "/api/v1/accounts/..%2F..%2F..%2Fmetrics",
        "/api/v1/accounts/..%2f..%2fmetrics",
        "/api/v1/accounts/../../../metrics",
        "/api/v1/accounts/%2e%2e/%2E%2E/%2e%2e/openapi.json",
        "/api/v1/accounts/./me",
        "/api/v1/accounts/%2e/me",
        "/api/v1/accounts/..",
        "/api/v1/accounts/a%5C..%5Cmetrics",
        "/api/v1/accounts/a\\b",
        "/api/v1/accounts/%00",
        "/api/v1/accounts/%0d%0aX-Injected:%20yes",
        "/api/v1/accounts/%7f",
        "/api/v1/accounts/%1b",
        "/api/v1/accounts//me",
        "/api/v1/accounts/%zz",
        "/api/v1/accounts/%4",
        "/api/v1/accounts/%ff%fe",
        "api/v1/accounts",
    ],
)
def test_ambiguous_or_hostile_paths_are_refused(raw):
    with pytest.raises(BadPath):
        checked_path(raw.encode())


@pytest.mark.parametrize(
    "raw,decoded",
    [
        ("/api/v1/accounts/me", "/api/v1/accounts/me"),
        ("/api/v1/accounts/%23", "/api/v1/accounts/#"),
        ("/api/v1/accounts/a%3Fb=1", "/api/v1/accounts/a?b=1"),
        ("/api/v1/accounts/%E5%BC%A0", "/api/v1/accounts/张"),
        ("/api/v1/accounts/me/", "/api/v1/accounts/me/"),
        ("/api/v1/accounts/...", "/api/v1/accounts/..."),
    ],
)
def test_plain_paths_are_forwarded_as_received(raw, decoded):
    path = checked_path(raw.encode())
    assert path.decoded == decoded and path.raw == raw


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@asynccontextmanager
async def serving(settings: GatewaySettings) -> AsyncIterator[int]:
    """The gateway under a real uvicorn, so requests reach it as bytes off the wire."""
    port = _free_port()
    options = serving_options(settings) | {"port": port, "lifespan": "on"}
    server = uvicorn.Server(uvicorn.Config(create_app(settings), **options))
    task = asyncio.create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield port
    finally:
        server.should_exit = True
        await task


def settings_for(url: str, **overrides) -> GatewaySettings:
    values: dict[str, Any] = {f"{n}_url": url for n in ("identity", "ledger", "matching", "aed", "audit")}
    return GatewaySettings(**values, **overrides)


def get(path: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nhost: gateway\r\nconnection: close\r\n\r\n".encode()


def post(path: str) -> bytes:
    return f"POST {path} HTTP/1.1\r\nhost: gateway\r\nconnection: close\r\ncontent-length: 0\r\n\r\n".encode()


def _is_problem(status: int, headers: dict, body: bytes, expected: int) -> dict:
    assert status == expected, body
    assert headers["content-type"].startswith(PROBLEM_JSON)
    return json.loads(body)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/accounts/..%2F..%2F..%2Fmetrics",
        "/api/v1/accounts/../../../metrics",
        "/api/v1/accounts/../../../readyz",
        "/api/v1/accounts/%2e%2e/%2e%2e/%2e%2e/openapi.json",
        "/api/v1/accounts/..%2f..%2f..%2fdocs",
        "/api/v1/auth/%00",
        "/api/v1/auth/a%0Ab",
        "/api/v1/auth//token",
    ],
)
async def test_hostile_paths_get_a_400_problem_and_never_reach_a_service(upstream, raw_request, path):
    async with serving(settings_for(upstream.url)) as port:
        status, headers, body = await raw_request(port, get(path))
    problem = _is_problem(status, headers, body, 400)
    assert problem["type"].endswith("/bad-path")
    assert upstream.seen == []


async def test_encoded_characters_reach_the_service_still_encoded(stack, upstream, raw_request):
    async with httpx.AsyncClient(base_url=stack.gateway_url) as client:
        token = (await client.post("/api/v1/auth/wechat-login", json={"code": "dev-paths"})).json()["access_token"]
    settings = settings_for(upstream.url, jwks_url=stack.url("identity") + "/.well-known/jwks.json")
    paths = ["/api/v1/accounts/%23fragment", "/api/v1/accounts/x%3Fa=1", "/api/v1/accounts/%E5%BC%A0"]
    async with serving(settings) as port:
        for path in paths:
            status, _, body = await raw_request(
                port,
                f"GET {path}?q=1 HTTP/1.1\r\nhost: g\r\nconnection: close\r\n"
                f"authorization: Bearer {token}\r\n\r\n".encode(),
            )
            assert status == 200 and json.loads(body)["target"] == path + "?q=1"


async def test_a_redirect_to_the_service_itself_leaves_as_a_path(upstream, raw_request):
    upstream.mode, upstream.location = "redirect", "{self}/api/v1/auth/token?x=1"
    async with serving(settings_for(upstream.url)) as port:
        status, headers, _ = await raw_request(port, post("/api/v1/auth/token/"))
    assert status == 307 and headers["location"] == "/api/v1/auth/token?x=1"


async def test_a_relative_redirect_passes_unchanged(upstream, raw_request):
    upstream.mode, upstream.location = "redirect", "/api/v1/auth/token"
    async with serving(settings_for(upstream.url)) as port:
        status, headers, _ = await raw_request(port, post("/api/v1/auth/token/"))
    assert status == 307 and headers["location"] == "/api/v1/auth/token"


async def test_a_redirect_elsewhere_is_not_passed_on(upstream, raw_request):
    upstream.mode, upstream.location = "redirect", "http://10.1.2.3:8002/api/v1/auth/token"
    async with serving(settings_for(upstream.url)) as port:
        status, headers, body = await raw_request(port, post("/api/v1/auth/token/"))
    _is_problem(status, headers, body, 502)
    assert b"10.1.2.3" not in body and "location" not in headers


async def test_a_body_over_the_limit_is_413_whether_declared_or_streamed(upstream, raw_request):
    async with serving(settings_for(upstream.url, max_body_bytes=1000)) as port:
        declared = await raw_request(
            port,
            b"POST /api/v1/auth/token HTTP/1.1\r\nhost: g\r\nconnection: close\r\n"
            b"content-length: 1001\r\n\r\n" + b"x" * 1001,
        )
        chunk = b"x" * 600
        chunked = await raw_request(
            port,
            b"POST /api/v1/auth/token HTTP/1.1\r\nhost: g\r\nconnection: close\r\n"
            b"transfer-encoding: chunked\r\n\r\n" + (b"%x\r\n" % len(chunk) + chunk + b"\r\n") * 2 + b"0\r\n\r\n",
        )
        within = await raw_request(
            port,
            b"POST /api/v1/auth/token HTTP/1.1\r\nhost: g\r\nconnection: close\r\n"
            b"content-length: 1000\r\n\r\n" + b"x" * 1000,
        )
    _is_problem(*declared, 413)
    _is_problem(*chunked, 413)
    assert within[0] == 200 and json.loads(within[2])["body_length"] == 1000


@pytest.mark.parametrize(("trusted", "believed"), [([], "127.0.0.1"), (["127.0.0.1"], "6.6.6.6")])
async def test_x_forwarded_for_is_believed_from_trusted_proxies_only_when_served_as_deployed(
    upstream, raw_request, trusted, believed
):
    """Over the wire, as `python -m gateway serve` runs it: the server in front of the app must not rewrite the
    peer from the header before the gateway's own rule sees it."""
    login = (
        b"POST /api/v1/auth/wechat-login HTTP/1.1\r\nhost: gateway\r\nx-forwarded-for: 6.6.6.6\r\n"
        b"connection: close\r\ncontent-length: 0\r\n\r\n"
    )
    async with serving(settings_for(upstream.url, trusted_proxies=trusted)) as port:
        status, _, _ = await raw_request(port, login)
    assert status == 200
    assert upstream.seen[0]["headers"]["x-forwarded-for"] == believed
