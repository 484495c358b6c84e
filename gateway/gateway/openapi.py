"""One OpenAPI document for the whole public API, merged from every service's own."""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import time
from typing import Any

import aiohttp

from gateway import my_data
from gateway.proxy import Upstreams

log = logging.getLogger(__name__)
_OPERATIONS_PATHS = {"/healthz", "/readyz", "/metrics"}


def _rewrite_refs(node: Any, renames: dict[str, str]) -> Any:
    if isinstance(node, dict):
        out = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str) and value.startswith("#/components/schemas/"):
                name = value.rsplit("/", 1)[1]
                out[key] = "#/components/schemas/" + renames.get(name, name)
            else:
                out[key] = _rewrite_refs(value, renames)
        return out
    if isinstance(node, list):
        return [_rewrite_refs(v, renames) for v in node]
    return node


def merge_openapi(documents: dict[str, dict[str, Any]]) -> dict[str, Any]:
    merged: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {
            "title": "Beijing time bank and 急救宝 — public API",
            "version": "1.0.0",
            "description": "All services behind the gateway. Errors are RFC 9457 problem details.",
        },
        "paths": {},
        # Each operation that needs a token names the scheme itself; public ones name none.
        "components": {"schemas": {}, "securitySchemes": {}},
    }
    schemas = merged["components"]["schemas"]
    for service, doc in sorted(documents.items()):
        merged["components"]["securitySchemes"].update(doc.get("components", {}).get("securitySchemes", {}))
        renames: dict[str, str] = {}
        for name, schema in doc.get("components", {}).get("schemas", {}).items():
            if name in schemas and json.dumps(schemas[name], sort_keys=True) != json.dumps(schema, sort_keys=True):
                renames[name] = f"{service}_{name}"
        for name, schema in doc.get("components", {}).get("schemas", {}).items():
            schemas[renames.get(name, name)] = _rewrite_refs(copy.deepcopy(schema), renames)
        for path, item in doc.get("paths", {}).items():
            if path in _OPERATIONS_PATHS:
                continue
            item = _rewrite_refs(copy.deepcopy(item), renames)
            for operation in item.values():
                if isinstance(operation, dict):
                    operation.setdefault("tags", []).append(f"svc-{service}")
            merged["paths"].setdefault(path, {}).update(item)
    return merged


class OpenApiAggregator:
    def __init__(self, upstreams: Upstreams, services: dict[str, str], cache_s: float) -> None:
        self.upstreams = upstreams
        self.services = services
        self.cache_s = cache_s
        self._cached: tuple[float, dict[str, Any]] | None = None

    async def _fetch(self, service: str, base: str) -> tuple[str, dict[str, Any] | None]:
        try:
            async with self.upstreams.session.get(
                base + "/openapi.json", timeout=aiohttp.ClientTimeout(total=3.0), raise_for_status=True
            ) as response:
                return service, await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError):
            log.warning("OpenAPI of %s unavailable", service)
            return service, None

    async def document(self) -> dict[str, Any]:
        if self._cached and time.monotonic() - self._cached[0] < self.cache_s:
            return self._cached[1]
        results = await asyncio.gather(*(self._fetch(s, b) for s, b in self.services.items()))
        docs = {service: doc for service, doc in results if doc is not None}
        merged = merge_openapi(docs)
        merged["paths"].update(
            my_data.openapi_path(merged["components"]["schemas"])
        )  # the one operation the gateway composes itself
        if len(docs) == len(self.services):  # cache only a complete document
            self._cached = (time.monotonic(), merged)
        return merged
