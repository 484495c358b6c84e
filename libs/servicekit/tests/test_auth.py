import asyncio
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from servicekit.auth import JwksCache
from servicekit.errors import Unauthorized
from servicekit.settings import TokenVerificationSettings


def _jwk(kid: str, key: Ed25519PrivateKey) -> dict:
    jwk = jwt.algorithms.OKPAlgorithm.to_jwk(key.public_key(), as_dict=True)
    return {**jwk, "kid": kid, "alg": "EdDSA", "use": "sig"}


def _token(kid: str, key: Ed25519PrivateKey, **claims) -> str:
    now = datetime.now(UTC)
    payload = {
        "iss": "timebank-identity",
        "aud": "timebank",
        "sub": "p1",
        "iat": now,
        "exp": now + timedelta(minutes=5),
        "typ": "access",
        "kind": "staff",
        "roles": ["auditor"],
        "district": "110105",
        "act_for": "p2",
        "scope": "a b",
    }
    payload.update(claims)
    return jwt.encode(payload, key, algorithm="EdDSA", headers={"kid": kid})


class KeySet:
    """Stands in for identity's JWKS endpoint: counts how often it is asked."""

    def __init__(self) -> None:
        self.keys: list[dict] = []
        self.fetches = 0

    async def __call__(self) -> dict:
        self.fetches += 1
        return {"keys": list(self.keys)}


async def test_principal_carries_every_claim():
    key, keys = Ed25519PrivateKey.generate(), KeySet()
    keys.keys.append(_jwk("k1", key))
    principal = await JwksCache(TokenVerificationSettings(), keys).verify(_token("k1", key))
    assert (principal.id, principal.kind, principal.district, principal.acting_for) == ("p1", "staff", "110105", "p2")
    assert principal.roles == {"auditor"} and principal.scopes == {"a", "b"} and principal.subject == "p2"


async def test_unknown_kid_refreshes_keys_once_then_is_throttled():
    old, new, keys = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate(), KeySet()
    keys.keys.append(_jwk("old", old))
    cache = JwksCache(TokenVerificationSettings(jwks_min_refresh_interval_s=0.3), keys)
    await cache.verify(_token("old", old))
    assert keys.fetches == 1
    keys.keys.append(_jwk("new", new))  # identity rotated; the cache has not seen it yet
    await asyncio.sleep(0.35)
    await cache.verify(_token("new", new))
    assert keys.fetches == 2
    for _ in range(5):  # a flood of forged kids costs at most one fetch per interval
        with pytest.raises(Unauthorized):
            await cache.verify(_token("forged", Ed25519PrivateKey.generate()))
    assert keys.fetches == 2


async def test_identity_outage_keeps_the_cached_keys():
    key, keys = Ed25519PrivateKey.generate(), KeySet()
    keys.keys.append(_jwk("k1", key))
    cache = JwksCache(TokenVerificationSettings(jwks_cache_ttl_s=0, jwks_min_refresh_interval_s=0), keys)
    await cache.verify(_token("k1", key))

    async def down() -> dict:
        raise ConnectionError("identity down")

    cache._loader = down
    assert (await cache.verify(_token("k1", key))).id == "p1"


async def test_a_verified_token_is_trusted_only_until_it_expires():
    key, keys = Ed25519PrivateKey.generate(), KeySet()
    keys.keys.append(_jwk("k1", key))
    cache = JwksCache(TokenVerificationSettings(), keys)
    soon = datetime.now(UTC) + timedelta(seconds=1)
    token = _token("k1", key, exp=soon)
    assert (await cache.verify(token)).id == "p1"
    assert (await cache.verify(token)).id == "p1"  # from the cache
    await asyncio.sleep(1.2)
    with pytest.raises(Unauthorized):
        await cache.verify(token)
