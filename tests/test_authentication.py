"""(c) Forged identity headers, bad signatures, expired tokens and unknown keys: 401 at the gateway and
again at the service behind it (defence in depth)."""

import uuid
from datetime import UTC, datetime, timedelta

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from identity.db.models import SigningKey
from identity.domain.keys import private_key_of
from identity.settings import IdentitySettings


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


async def _identity_key(sql) -> tuple[str, object]:
    kid, blob = (
        await sql["identity"].rows("SELECT kid, private_key_encrypted FROM signing_keys WHERE retired_at IS NULL")
    )[0]
    return kid, private_key_of(IdentitySettings(), SigningKey(kid=kid, private_key_encrypted=blob))


def _claims(sub: str, **overrides) -> dict:
    now = datetime.now(UTC)
    claims = {
        "iss": "timebank-identity",
        "aud": "timebank",
        "sub": sub,
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "typ": "access",
        "kind": "person",
        "roles": [],
    }
    claims.update(overrides)
    return claims


async def _both(stack, path: str, headers: dict) -> list[httpx.Response]:
    """The same request through the gateway and straight to the service."""
    async with httpx.AsyncClient(timeout=10) as client:
        return [
            await client.get(stack.gateway_url + path, headers=headers),
            await client.get(stack.url("ledger") + path, headers=headers),
        ]


async def test_forged_identity_headers_never_authenticate(stack, gateway, helpers):
    alice = await helpers.login(gateway)
    forged = {"X-Principal-Id": alice["person_id"], "X-User-Id": alice["person_id"], "X-Roles": "city_admin"}
    for response in await _both(stack, "/api/v1/accounts/me", forged):
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.headers["www-authenticate"].startswith("Bearer")


async def test_forged_headers_beside_a_real_token_change_nothing(stack, gateway, helpers):
    alice, bob = await helpers.login(gateway), await helpers.login(gateway)
    headers = {**bearer(bob["access_token"]), "X-Principal-Id": alice["person_id"], "X-User-Id": alice["person_id"]}

    async def bob_account():
        response = await gateway.get("/api/v1/accounts/me", headers=headers)
        return response if response.status_code == 200 else None

    response = await helpers.eventually(bob_account)
    assert response is not None and response.json()["person_id"] == bob["person_id"]


@pytest.mark.parametrize(
    "case", ["bad-signature", "expired", "unknown-key", "wrong-audience", "alg-none", "not-a-jwt", "refresh-typ"]
)
async def test_invalid_tokens_are_refused_at_gateway_and_service(stack, sql, case):
    kid, key = await _identity_key(sql)
    sub = str(uuid.uuid4())
    if case == "bad-signature":
        token = jwt.encode(_claims(sub), Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": kid})
    elif case == "expired":
        past = datetime.now(UTC) - timedelta(hours=1)
        token = jwt.encode(
            _claims(sub, iat=past, exp=past + timedelta(minutes=5)), key, algorithm="EdDSA", headers={"kid": kid}
        )
    elif case == "unknown-key":
        token = jwt.encode(_claims(sub), Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": "ed-unknown"})
    elif case == "wrong-audience":
        token = jwt.encode(_claims(sub, aud="someone-else"), key, algorithm="EdDSA", headers={"kid": kid})
    elif case == "alg-none":
        token = jwt.encode(_claims(sub), None, algorithm="none", headers={"kid": kid})
    elif case == "refresh-typ":
        token = jwt.encode(_claims(sub, typ="refresh"), key, algorithm="EdDSA", headers={"kid": kid})
    else:
        token = "definitely.not.ajwt"
    for response in await _both(stack, "/api/v1/accounts/me", bearer(token)):
        assert response.status_code == 401, (case, response.text)
        assert response.json()["type"].endswith("/unauthorized")


async def test_a_token_signed_by_identity_is_accepted(stack, sql, helpers, gateway):
    # The control for the cases above: the same construction with the real key and valid claims works.
    person = await helpers.login(gateway)
    kid, key = await _identity_key(sql)
    token = jwt.encode(_claims(person["person_id"]), key, algorithm="EdDSA", headers={"kid": kid})
    response = await gateway.get("/api/v1/me", headers=bearer(token))
    assert response.status_code == 200 and response.json()["id"] == person["person_id"]
