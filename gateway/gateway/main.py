"""The gateway: the only HTTP hop in front of the services."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiohttp
from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from gateway import my_data, proxy
from gateway.console import serve_console
from gateway.openapi import OpenApiAggregator
from gateway.paths import CheckedPathMiddleware, RequestPath
from gateway.ratelimit import RateLimits
from gateway.routes import PUBLIC_LOOKUPS, RouteTable, is_public
from gateway.settings import GatewaySettings
from servicekit.auth import JwksCache, bearer_token
from servicekit.errors import NotFound, Problem, install_problem_handlers
from servicekit.logs import configure_logging
from servicekit.observability import ROUTE_STATE, RequestContextMiddleware, metrics_endpoint

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


class RateLimited(Problem):
    status, type, title_zh, title_en = 429, "rate-limited", "请求过于频繁，请稍后再试", "Too many requests"

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"请在{retry_after}秒后重试", f"Retry in {retry_after} s")
        self.headers["Retry-After"] = str(retry_after)


def client_ip(request: Request, trusted: set[str]) -> str:
    peer = request.client.host if request.client else "unknown"
    if peer not in trusted:
        return peer
    hops = [h.strip() for h in request.headers.get("x-forwarded-for", "").split(",") if h.strip()]
    for hop in reversed(hops):  # the rightmost address no trusted proxy vouches for
        if hop not in trusted:
            return hop
    return peer


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    configure_logging("gateway", settings.log_level)
    table = RouteTable.from_settings(settings)
    upstreams = proxy.Upstreams(settings)
    jwks = JwksCache(settings)
    limits = RateLimits(settings)
    aggregator = OpenApiAggregator(upstreams, table.services, settings.openapi_cache_s)
    trusted = set(settings.trusted_proxies)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await upstreams.close()
        await jwks.close()

    app = FastAPI(title="gateway", lifespan=lifespan, openapi_url=None, docs_url=None, redoc_url=None)
    app.add_middleware(CheckedPathMiddleware)
    # Outermost: a refused path is logged with its request id. The gateway's clients are not told route templates.
    app.add_middleware(RequestContextMiddleware, announce_route=False)
    install_problem_handlers(app)
    app.state.jwks = jwks

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        async def check(base: str) -> str:
            try:
                async with upstreams.session.get(
                    base + "/healthz", timeout=aiohttp.ClientTimeout(total=2.0)
                ) as response:
                    return "ok" if response.status == 200 else "unavailable"
            except (aiohttp.ClientError, TimeoutError):
                return "unavailable"

        names = list(table.services)
        results = await asyncio.gather(*(check(table.services[n]) for n in names))
        checks = dict(zip(names, results, strict=True))
        ready = all(v == "ok" for v in checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not-ready", "checks": checks}, status_code=200 if ready else 503
        )

    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi() -> JSONResponse:
        return JSONResponse(await aggregator.document())

    # Swagger UI's assets come from the gateway itself (the fastapi-swagger wheel carries a current build), not a
    # CDN: the docs must work on an isolated network and in mainland China.
    app.mount("/docs/assets", StaticFiles(packages=[("fastapi_swagger", "resources")]), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title="Time bank API",
            swagger_js_url="/docs/assets/swagger-ui-bundle.js",
            swagger_css_url="/docs/assets/swagger-ui.css",
            swagger_favicon_url="/docs/assets/favicon-32x32.png",
        )

    if settings.console_dir:
        serve_console(app, Path(settings.console_dir))

    @app.get(my_data.PATH, include_in_schema=False)
    async def my_copy(request: Request) -> Response:
        ip = client_ip(request, trusted)
        if (wait := await limits.check(limits.per_ip, "ip", ip)) is not None:
            raise RateLimited(wait)
        principal = await jwks.verify(bearer_token(request))
        if (wait := await limits.check(limits.per_principal, "principal", principal.id)) is not None:
            raise RateLimited(wait)
        return await my_data.compose(upstreams, table, request, ip, principal.id)

    @app.api_route("/{path:path}", methods=METHODS, include_in_schema=False)
    async def route(request: Request) -> Response:
        checked: RequestPath = request.state.path
        path = checked.decoded
        target = table.resolve(path)
        if target is None:
            setattr(request.state, ROUTE_STATE, "unmatched")
            raise NotFound("没有这个接口", "No such endpoint")
        # Labels what the gateway itself refuses (401, 429, 413); the upstream's answer names its own template.
        setattr(request.state, ROUTE_STATE, target.prefix.rstrip("/") + "/…")
        ip = client_ip(request, trusted)
        if (wait := await limits.check(limits.per_ip, "ip", ip)) is not None:
            raise RateLimited(wait)
        method = request.method
        if (method, path.rstrip("/")) in PUBLIC_LOOKUPS and (
            wait := await limits.check(limits.public_lookup, "lookup", ip)
        ) is not None:
            raise RateLimited(wait)
        if not is_public(method, path):
            principal = await jwks.verify(bearer_token(request))
            if (wait := await limits.check(limits.per_principal, "principal", principal.id)) is not None:
                raise RateLimited(wait)
        return await proxy.forward(upstreams, target, request, ip, checked.raw)

    return app
