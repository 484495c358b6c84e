"""Per-principal limits and token checks with real tokens from the running identity service."""

import httpx

from gateway.main import create_app
from gateway.settings import GatewaySettings


async def _token(stack, openid: str) -> str:
    async with httpx.AsyncClient(base_url=stack.gateway_url) as client:
        response = await client.post("/api/v1/auth/wechat-login", json={"code": f"dev-{openid}"})
        return response.json()["access_token"]


async def test_per_principal_limit_counts_each_principal_separately(stack, upstream):
    settings = GatewaySettings(
        jwks_url=stack.url("identity") + "/.well-known/jwks.json",
        ledger_url=upstream.url,
        rate_limit_per_principal="2/minute",
    )
    app = create_app(settings)
    alice, bob = await _token(stack, "rl-alice"), await _token(stack, "rl-bob")
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gateway") as client,
    ):

        def get(token):
            return client.get("/api/v1/accounts/me", headers={"Authorization": f"Bearer {token}"})

        alice_statuses = [(await get(alice)).status_code for _ in range(3)]
        bob_status = (await get(bob)).status_code
    assert alice_statuses == [200, 200, 429] and bob_status == 200
    # The upstream saw the verified bearer token, nothing else identifying.
    assert all(seen["headers"]["authorization"].startswith("Bearer ") for seen in upstream.seen)


async def test_merged_openapi_and_docs_are_served(stack):
    async with httpx.AsyncClient(base_url=stack.gateway_url) as client:
        spec = (await client.get("/openapi.json")).json()
        docs = await client.get("/docs")
    assert {"/api/v1/auth/wechat-login", "/api/v1/auth/token", "/api/v1/accounts/me", "/.well-known/jwks.json"} <= spec[
        "paths"
    ].keys()
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
