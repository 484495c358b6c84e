"""`GET /api/v1/me/data`: one copy of everything the system holds about the caller (PIPL's right to a copy,
个人信息查阅复制权), composed at the edge from each service's own part (`/api/v1/me/data/<service>`): no service
calls another, and each part is authorised, audited and typed by the service that owns the data. All parts or
nothing: a part that fails makes the whole answer fail rather than a copy that silently leaves data out."""

from __future__ import annotations

import asyncio
import json

import aiohttp
from fastapi import Request
from fastapi.responses import JSONResponse, Response

from gateway.proxy import Upstreams, forward_headers, transport_problem
from gateway.routes import RouteTable
from servicekit import clock

PATH = "/api/v1/me/data"
# svc-audit keeps only the hash-chained trail of events, which carry ids and no personal data, and fraud
# investigations: it has no part.
# service -> the schema of its part
PART_SCHEMAS = {
    "identity": "IdentityExport",
    "ledger": "LedgerExport",
    "matching": "MatchingExport",
    "aed": "AedExport",
}
PARTS = tuple(PART_SCHEMAS)


async def compose(
    upstreams: Upstreams, table: RouteTable, request: Request, client_ip: str, person_id: str
) -> Response:
    headers = forward_headers(request, client_ip)

    async def part(service: str) -> tuple[int, bytes, str]:
        path = f"{PATH}/{service}"
        route = table.resolve(path)
        assert route is not None and route.service == service, f"{path} is not routed to {service}"
        timeout = upstreams.timeout(
            upstreams.settings.upstream_timeouts_s.get(service, upstreams.settings.default_timeout_s)
        )
        try:
            async with upstreams.session.get(
                route.base_url + path, headers=headers, timeout=timeout, allow_redirects=False
            ) as upstream:
                return upstream.status, await upstream.read(), upstream.headers.get("content-type", "")
        except (TimeoutError, aiohttp.ClientError) as exc:
            raise transport_problem(exc) from None

    answers = await asyncio.gather(*(part(service) for service in PARTS))
    for status, body, content_type in answers:
        if status != 200:  # the first refusal or failure, as its service gave it (a 401, a 403, a 503 …)
            return Response(body, status_code=status, media_type=content_type or None)
    generated = clock.now()
    document = {
        "person_id": person_id,
        "generated_at": generated.isoformat(),
        **{service: json.loads(body) for service, (_, body, _) in zip(PARTS, answers, strict=True)},
    }
    return JSONResponse(
        document,
        headers={
            "Content-Disposition": f'attachment; filename="my-data-{generated:%Y%m%d}.json"',
            "Cache-Control": "no-store",
        },
    )


def openapi_path(schemas: dict) -> dict:
    """The composed operation in the merged OpenAPI document, its parts the services' own schemas (left out while
    a service's document is missing)."""
    if not all(name in schemas for name in (*PART_SCHEMAS.values(), "Problem")):
        return {}
    return {
        PATH: {
            "get": {
                "tags": ["people", "gateway"],
                "summary": "A copy of all my data, from every service (PIPL 查阅复制权)",
                "description": "Everything the system holds about the caller, one part per service (each also served alone "
                "at /api/v1/me/data/<service>). All parts or an error: never a partial copy.",
                "operationId": "my_data",
                "security": [{"bearer": []}],
                "responses": {
                    "200": {
                        "description": "the copy, as a JSON attachment",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["person_id", "generated_at", *PARTS],
                                    "properties": {
                                        "person_id": {"type": "string", "format": "uuid"},
                                        "generated_at": {"type": "string", "format": "date-time"},
                                        **{
                                            part: {"$ref": f"#/components/schemas/{name}"}
                                            for part, name in PART_SCHEMAS.items()
                                        },
                                    },
                                }
                            }
                        },
                    },
                    **{
                        status: {
                            "description": why,
                            "content": {
                                "application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}
                            },
                        }
                        for status, why in _ERRORS.items()
                    },
                },
            }
        }
    }


_ERRORS = {
    "400": "The request cannot be read (path, headers or body)",
    "401": "No valid access token",
    "403": "Not a person",
    "429": "Too many requests; see Retry-After",
    "503": "A service holding part of the data is unavailable: try again (never a partial copy)",
}
