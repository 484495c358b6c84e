"""Token signing keys (Ed25519) and access-token issuance."""

from __future__ import annotations

import base64
import os
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy.ext.asyncio import AsyncSession

from identity.db import repository
from identity.db.models import SigningKey
from identity.settings import IdentitySettings
from servicekit import clock  # signing keys live on the real clock: a security timer


def _aead(settings: IdentitySettings) -> AESGCM:
    return AESGCM(base64.urlsafe_b64decode(settings.key_encryption_key))


def _encrypt(settings: IdentitySettings, plaintext: bytes, kid: str) -> bytes:
    nonce = os.urandom(12)
    return nonce + _aead(settings).encrypt(nonce, plaintext, kid.encode())


def _decrypt(settings: IdentitySettings, blob: bytes, kid: str) -> bytes:
    return _aead(settings).decrypt(blob[:12], blob[12:], kid.encode())


def new_signing_key(settings: IdentitySettings) -> SigningKey:
    private = Ed25519PrivateKey.generate()
    kid = f"ed-{clock.real_now():%Y%m%d}-{secrets.token_hex(4)}"
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public_raw = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    jwk = {
        "kty": "OKP",
        "crv": "Ed25519",
        "x": base64.urlsafe_b64encode(public_raw).rstrip(b"=").decode(),
        "kid": kid,
        "alg": "EdDSA",
        "use": "sig",
    }
    return SigningKey(kid=kid, algorithm="EdDSA", private_key_encrypted=_encrypt(settings, pem, kid), public_jwk=jwk)


def private_key_of(settings: IdentitySettings, key: SigningKey):
    return serialization.load_pem_private_key(_decrypt(settings, key.private_key_encrypted, key.kid), password=None)


async def ensure_signing_key(session: AsyncSession, settings: IdentitySettings) -> SigningKey:
    await repository.lock_signing_keys(session)
    key = await repository.active_signing_key(session)
    if key is None:
        key = new_signing_key(settings)
        session.add(key)
        await session.flush()
    return key


async def rotate_signing_key(session: AsyncSession, settings: IdentitySettings) -> tuple[str | None, str]:
    """Retire the active key and start a new one. The retired key stays in JWKS until every token it
    signed has expired (`public_jwks`), so nobody is signed out by a rotation."""
    await repository.lock_signing_keys(session)
    old = await repository.active_signing_key(session)
    if old is not None:
        old.retired_at = clock.real_now()
    new = new_signing_key(settings)
    session.add(new)
    await session.flush()
    return (old.kid if old else None), new.kid


async def public_jwks(session: AsyncSession, settings: IdentitySettings) -> dict[str, Any]:
    """Active keys plus retired ones whose tokens may still be valid."""
    horizon = clock.real_now() - timedelta(seconds=settings.access_token_ttl_s)
    return {"keys": [k.public_jwk for k in await repository.published_signing_keys(session, horizon)]}


@dataclass(frozen=True)
class AccessClaims:
    subject: uuid.UUID | str
    kind: str  # person | staff | partner
    roles: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    district: str | None = None
    acting_for: uuid.UUID | None = None
    institution: uuid.UUID | None = None  # an institution operator's institution


@dataclass(frozen=True)
class IssuedToken:
    access_token: str
    expires_in: int
    token_type: str = "Bearer"


async def issue_access_token(session: AsyncSession, settings: IdentitySettings, claims: AccessClaims) -> IssuedToken:
    key = await ensure_signing_key(session, settings)
    private = private_key_of(settings, key)
    now = clock.real_now()
    payload: dict[str, Any] = {
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "sub": str(claims.subject),
        "iat": now,
        "exp": now + timedelta(seconds=settings.access_token_ttl_s),
        "jti": uuid.uuid4().hex,
        "typ": "access",
        "kind": claims.kind,
        "roles": list(claims.roles),
    }
    if claims.scopes:
        payload["scope"] = " ".join(claims.scopes)
    if claims.district:
        payload["district"] = claims.district
    if claims.acting_for:
        payload["act_for"] = str(claims.acting_for)
    if claims.institution:
        payload["institution"] = str(claims.institution)
    token = jwt.encode(payload, private, algorithm="EdDSA", headers={"kid": key.kid})
    return IssuedToken(access_token=token, expires_in=settings.access_token_ttl_s)
