"""Each service's OpenAPI tells the truth about errors: every error answer is an RFC 9457 problem
(`application/problem+json`), and every operation lists the error statuses it can give.

FastAPI documents only 422, as its own `HTTPValidationError` JSON. The statuses added here follow from what
the operation is, the same way for every service:

- 400 (a path the gateway refuses, a body that cannot be read) and 429 (the gateway's rate limits): any.
- 422 (input against the schema or the rules): any operation taking parameters or a body.
- 413 (over the size limit): any operation taking a body.
- 401 and 403: any operation that needs a token (those with a `security` requirement: servicekit.auth).
- 404: any operation naming a resource in its path or by id in its body.
- 409 (a state or a concurrent change it conflicts with): any operation that writes.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from servicekit.errors import PROBLEM_JSON

PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "type": "object",
    "description": "RFC 9457 problem details. `type` is stable per error; `title` and `detail` are Simplified "
    "Chinese, or English for `Accept-Language: en`.",
    "required": ["type", "title", "status"],
    "properties": {
        "type": {"type": "string", "format": "uri"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "request_id": {"type": "string"},
        "errors": {
            "type": "array",
            "description": "each input that was refused: a field of the request "
            "(`location`, `code`) or a row of an uploaded file (`row`, `field`)",
            "items": {
                "type": "object",
                "required": ["message"],
                "properties": {
                    "message": {"type": "string"},
                    "location": {"type": "array", "items": {"type": "string"}},
                    "code": {"type": "string"},
                    "row": {"type": ["integer", "null"]},
                    "field": {"type": ["string", "null"]},
                },
            },
        },
    },
    "additionalProperties": True,
}

_DESCRIPTIONS = {
    "400": "The request cannot be read (path, headers or body)",
    "401": "No valid access token",
    "403": "The caller's role, scope or district does not allow this",
    "404": "No such resource (or not visible to the caller)",
    "409": "Conflicts with the current state, another request, or an earlier use of the Idempotency-Key",
    "413": "The request body is too large",
    "422": "The input does not meet the schema or the rules",
    "429": "Too many requests; see Retry-After",
}
_WRITES = {"post", "put", "patch", "delete"}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """For a route's `responses=`: error statuses the rules above do not derive from its shape (a public login
    that answers 401, a lookup by body that answers 404)."""
    return {status: {"description": _DESCRIPTIONS.get(str(status), "Refused")} for status in statuses}


def _problem(status: str, description: str | None = None) -> dict[str, Any]:
    return {
        "description": description or _DESCRIPTIONS.get(status, "Refused"),
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }


def _names_a_resource(operation: dict[str, Any], schemas: dict[str, Any]) -> bool:
    """Whether the JSON body has a field holding an id (a UUID), which the operation looks up."""
    body = operation.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema", {})
    ref = body.get("$ref", "")
    body = schemas.get(ref.rsplit("/", 1)[-1], body) if ref else body
    return any(_is_uuid(field) for field in body.get("properties", {}).values())


def _is_uuid(field: dict[str, Any]) -> bool:
    return field.get("format") == "uuid" or any(option.get("format") == "uuid" for option in field.get("anyOf", []))


def error_statuses(method: str, operation: dict[str, Any], path: str, schemas: dict[str, Any]) -> list[str]:
    parameters = operation.get("parameters", [])
    has_body = "requestBody" in operation
    statuses = ["400", "429"]
    if parameters or has_body:
        statuses.append("422")
    if has_body:
        statuses.append("413")
    if operation.get("security"):
        statuses += ["401", "403"]
    if "{" in path or _names_a_resource(operation, schemas):
        statuses.append("404")
    if method in _WRITES:
        statuses.append("409")
    return sorted(statuses)


def with_problems(document: dict[str, Any]) -> dict[str, Any]:
    """`document` with every operation's errors documented as problems (changed in place and returned)."""
    schemas = document.setdefault("components", {}).setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    schemas["Problem"] = PROBLEM_SCHEMA
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "responses" not in operation:
                continue
            responses = operation["responses"]
            declared = [status for status in responses if status.isdigit() and int(status) >= 400]
            for status in sorted({*error_statuses(method, operation, path, schemas), *declared}):
                route_description = responses.get(status, {}).get("description") if status in declared else None
                responses[status] = _problem(status, route_description)
    return document


def document_problems(app: FastAPI) -> None:
    """Serve `app`'s OpenAPI with its errors documented as problems."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = with_problems(
                get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            )
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema
