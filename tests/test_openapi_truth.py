"""The merged OpenAPI tells the truth: errors are problem+json, public operations show no lock and every other
one does, required headers are marked required, and the docs page works with no CDN."""

import httpx

from gateway.routes import PUBLIC

PROBLEM = "application/problem+json"


async def _spec(stack) -> dict:
    async with httpx.AsyncClient(base_url=stack.gateway_url) as client:
        return (await client.get("/openapi.json")).json()


async def test_every_error_is_documented_as_a_problem(stack):
    spec = await _spec(stack)
    assert "HTTPValidationError" not in str(spec) and "Problem" in spec["components"]["schemas"]
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            errors = {status: r for status, r in operation["responses"].items() if int(status) >= 400}
            assert {"400", "429"} <= errors.keys(), (method, path)
            if operation.get("parameters") or operation.get("requestBody"):
                assert "422" in errors, (method, path)
            if "{" in path:
                assert "404" in errors, (method, path)
            for status, response in errors.items():
                assert list(response["content"]) == [PROBLEM], (method, path, status)


async def test_only_the_public_operations_need_no_token(stack):
    spec = await _spec(stack)
    unlocked = {
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if not operation.get("security")
    }
    assert unlocked == set(PUBLIC)
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if operation.get("security"):
                assert {"401", "403"} <= operation["responses"].keys(), (method, path)
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


async def test_idempotency_key_is_required_where_it_is_required(stack):
    spec = await _spec(stack)
    for path in ("/api/v1/gifts", "/api/v1/donations", "/api/v1/grants", "/api/v1/welfare-allocations"):
        header = next(p for p in spec["paths"][path]["post"]["parameters"] if p["name"] == "Idempotency-Key")
        assert header["in"] == "header" and header["required"] is True


async def test_the_docs_page_serves_its_own_assets(stack):
    async with httpx.AsyncClient(base_url=stack.gateway_url) as client:
        page = await client.get("/docs")
        script = await client.get("/docs/assets/swagger-ui-bundle.js")
        style = await client.get("/docs/assets/swagger-ui.css")
    assert (
        page.status_code == 200 and "cdn" not in page.text.lower() and "/docs/assets/swagger-ui-bundle.js" in page.text
    )
    assert script.status_code == 200 and "SwaggerUIBundle" in script.text[:5000]
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")


def _untyped(schema: dict | None) -> bool:
    """A schema that tells a client nothing: missing, `{}`, or an object with no properties."""
    if not schema:
        return True
    if "$ref" in schema:
        return False
    if schema.get("type") == "array":
        return _untyped(schema.get("items"))
    if "anyOf" in schema or "oneOf" in schema:
        return any(_untyped(s) for s in schema.get("anyOf", schema.get("oneOf", [])) if s.get("type") != "null")
    return schema.get("type") == "object" and not schema.get("properties")


async def test_every_answer_has_a_typed_schema(stack):
    spec = await _spec(stack)
    untyped = [
        (method.upper(), path, status)
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        for status, response in operation["responses"].items()
        if int(status) < 300
        for media, content in response.get("content", {}).items()
        if media.endswith("json") and _untyped(content.get("schema"))
    ]
    assert untyped == []
