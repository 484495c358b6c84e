from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from gateway.main import client_ip, create_app
from gateway.openapi import merge_openapi
from gateway.routes import RouteTable, is_public
from gateway.settings import GatewaySettings


def settings_for(url: str, **overrides) -> GatewaySettings:
    values: dict[str, Any] = {f"{name}_url": url for name in ("identity", "ledger", "matching", "aed", "audit")}
    return GatewaySettings(**values, **overrides)


@asynccontextmanager
async def client_for(settings: GatewaySettings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),  # closes the upstream pool when the test ends
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client,
    ):
        yield client


def test_longest_prefix_wins_and_prefixes_match_whole_segments():
    table = RouteTable.from_settings(
        GatewaySettings(routes=[{"prefix": "/api/v1/accounts/special", "upstream": "audit"}])
    )
    assert table.resolve("/api/v1/accounts/me").service == "ledger"
    assert table.resolve("/api/v1/accounts/special/x").service == "audit"
    assert table.resolve("/api/v1/accountsx") is None
    assert table.resolve("/partner/v1/volunteers/1/insurance").service == "identity"
    assert table.resolve("/partner/v1/service-records").service == "matching"


def test_only_named_routes_are_public():
    assert is_public("POST", "/api/v1/auth/wechat-login") and is_public("GET", "/api/v1/aeds")
    assert not is_public("GET", "/api/v1/aeds/coverage") and not is_public("POST", "/api/v1/aeds")
    assert not is_public("GET", "/api/v1/auth/wechat-login")


def test_forwarded_for_is_believed_only_from_trusted_proxies():
    class Req:
        def __init__(self, peer, xff):
            self.client = type("C", (), {"host": peer})
            self.headers = {"x-forwarded-for": xff}

    assert client_ip(Req("203.0.113.9", "1.2.3.4"), set()) == "203.0.113.9"
    assert client_ip(Req("10.0.0.2", "1.2.3.4, 10.0.0.1"), {"10.0.0.2", "10.0.0.1"}) == "1.2.3.4"


def test_openapi_merge_renames_conflicting_schemas_and_rewrites_refs():
    ref = {"$ref": "#/components/schemas/Account"}
    docs = {
        "ledger": {
            "paths": {
                "/api/v1/accounts/me": {
                    "get": {"responses": {"200": {"content": {"application/json": {"schema": ref}}}}}
                },
                "/healthz": {"get": {}},
            },
            "components": {"schemas": {"Account": {"type": "object", "title": "ledger"}}},
        },
        "audit": {
            "paths": {
                "/api/v1/alerts": {"get": {"responses": {"200": {"content": {"application/json": {"schema": ref}}}}}}
            },
            "components": {"schemas": {"Account": {"type": "object", "title": "audit"}}},
        },
    }
    merged = merge_openapi(docs)
    assert "/healthz" not in merged["paths"]
    schemas = merged["components"]["schemas"]
    assert schemas["Account"]["title"] == "audit" and schemas["ledger_Account"]["title"] == "ledger"
    ledger_ref = merged["paths"]["/api/v1/accounts/me"]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"
    ]
    assert ledger_ref == {"$ref": "#/components/schemas/ledger_Account"}


async def test_public_route_is_proxied_with_identity_and_hop_headers_stripped(upstream):
    async with client_for(settings_for(upstream.url)) as client:
        response = await client.post(
            "/api/v1/auth/wechat-login?x=1",
            json={"code": "dev-a"},
            headers={
                "X-Principal-Id": "forged",
                "X-User-Id": "forged",
                "X-Forwarded-For": "6.6.6.6",
                "Cookie": "session=mine",
                "Connection": "keep-alive, x-private",
                "X-Private": "hop",
                "X-Request-ID": "req-123456789",
            },
        )
    assert response.status_code == 200 and response.json()["target"] == "/api/v1/auth/wechat-login?x=1"
    sent = upstream.seen[0]["headers"]
    assert not {"x-principal-id", "x-user-id", "cookie", "x-private"} & sent.keys()
    assert sent["x-forwarded-for"] == "127.0.0.1"  # the peer, not the client's claim
    assert sent["x-request-id"] == "req-123456789" and sent["traceparent"].startswith("00-")
    # Hop-by-hop and cookies never come back either.
    assert "set-cookie" not in response.headers and "x-internal" not in response.headers
    assert response.headers["x-upstream"] == "yes" and response.headers["x-request-id"] == "req-123456789"


async def test_upstream_cookies_are_never_replayed_to_another_user(upstream):
    async with client_for(settings_for(upstream.url)) as client:
        await client.post("/api/v1/auth/wechat-login", json={})
        client.cookies.clear()
        await client.post("/api/v1/auth/wechat-login", json={})
    assert "cookie" not in upstream.seen[1]["headers"]


async def test_request_bodies_stream_through(upstream):
    body = b"x" * (3 * 1024 * 1024)
    async with client_for(settings_for(upstream.url)) as client:
        response = await client.post("/api/v1/auth/token", content=body)
    assert response.json()["body_length"] == len(body)


async def test_protected_route_without_token_never_reaches_upstream(upstream):
    async with client_for(settings_for(upstream.url)) as client:
        response = await client.get("/api/v1/accounts/me")
    assert response.status_code == 401 and upstream.seen == []


@pytest.mark.parametrize("mode,status", [("down", 503), ("hang", 504), ("garbage", 502)])
async def test_upstream_failures_are_problems_that_leak_nothing(upstream, mode, status):
    url = "http://127.0.0.1:1" if mode == "down" else upstream.url
    upstream.mode = mode
    settings = settings_for(url, upstream_timeouts_s={"identity": 0.5})
    async with client_for(settings) as client:
        response = await client.post("/api/v1/auth/wechat-login", json={"code": "dev-a"})
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/problem+json")
    text = response.text
    assert "127.0.0.1" not in text and "Traceback" not in text and "httpx" not in text


async def test_per_ip_rate_limit_answers_429_with_retry_after(upstream):
    async with client_for(settings_for(upstream.url, rate_limit_per_ip="3/minute")) as client:
        statuses = [(await client.post("/api/v1/auth/wechat-login", json={})).status_code for _ in range(4)]
        limited = await client.post("/api/v1/auth/wechat-login", json={})
    assert statuses == [200, 200, 200, 429]
    assert limited.json()["type"].endswith("/rate-limited") and 1 <= int(limited.headers["retry-after"]) <= 60


async def test_public_aed_lookup_has_its_own_tighter_limit(upstream):
    async with client_for(settings_for(upstream.url, rate_limit_public_lookup="2/minute")) as client:
        statuses = [(await client.get("/api/v1/aeds?near=39.9,116.4")).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
