"""Bearer-token verification against identity's JWKS, giving a `Principal`.

Keys are cached; an unknown `kid` triggers a refresh (at most once per `jwks_min_refresh_interval_s`, so
forged kids cannot hammer identity). Every service verifies again behind the gateway (defence in depth).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

import httpx
import jwt
from fastapi import Depends, Request, Security
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel

from servicekit.errors import Forbidden, Unauthorized
from servicekit.settings import TokenVerificationSettings

log = logging.getLogger(__name__)
ALGORITHMS = ["EdDSA", "ES256"]
VERIFIED_CACHE_SIZE = 10_000
VERIFIED_CACHE_MAX_S = 60.0  # a token verified once is trusted again without re-verifying for at most this long


@dataclass(frozen=True)
class Principal:
    """Who is calling: a person, a staff member or a partner system."""

    id: str
    kind: str  # person | staff | partner
    roles: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] = field(default_factory=frozenset)
    district: str | None = None
    acting_for: str | None = None  # the person an institution operator acts for
    institution: str | None = None  # an institution operator's institution

    def has_role(self, *roles: str) -> bool:
        return bool(self.roles.intersection(roles))

    @property
    def subject(self) -> str:
        """The person whose data the call concerns: the represented person, else the caller."""
        return self.acting_for or self.id


KeyLoader = Callable[[], Awaitable[dict[str, Any]]]


class Jwk(BaseModel):
    """A public Ed25519 key (RFC 8037), as identity signs tokens and matching signs claim evidence."""

    kty: Literal["OKP"]
    crv: Literal["Ed25519"]
    x: str
    kid: str
    alg: Literal["EdDSA"]
    use: Literal["sig"]


class Jwks(BaseModel):
    keys: list[Jwk]


class JwksCache:
    def __init__(self, settings: TokenVerificationSettings, loader: KeyLoader | None = None) -> None:
        self.settings = settings
        self._loader = loader or self._fetch
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = 0.0
        self._lock = asyncio.Lock()
        self._client: httpx.AsyncClient | None = None
        # token -> (principal, trusted until): signature checks are the costliest part of a request.
        self._verified: OrderedDict[str, tuple[Principal, float]] = OrderedDict()

    async def _fetch(self) -> dict[str, Any]:
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=3.0)
        response = await self._client.get(self.settings.jwks_url)
        response.raise_for_status()
        return response.json()

    async def _refresh(self) -> None:
        async with self._lock:
            if time.monotonic() - self._fetched_at < self.settings.jwks_min_refresh_interval_s:
                return
            try:
                jwks = await self._loader()
            except Exception:
                log.warning("JWKS fetch failed", exc_info=True)
                return
            keys = {}
            for item in jwks.get("keys", []):
                try:
                    keys[item["kid"]] = jwt.PyJWK(item)
                except Exception:
                    log.warning("unusable JWK skipped", extra={"kid": item.get("kid")})
            self._keys = keys
            self._fetched_at = time.monotonic()

    async def warm(self) -> None:
        """Fetch the keys ahead of the first request (best effort: a failure is logged, and the first
        request fetches again)."""
        if not self._keys:
            await self._refresh()

    async def key_for(self, kid: str) -> jwt.PyJWK | None:
        stale = time.monotonic() - self._fetched_at > self.settings.jwks_cache_ttl_s
        if kid not in self._keys or stale:
            await self._refresh()
        return self._keys.get(kid)

    async def verify(self, token: str) -> Principal:
        cached = self._verified.get(token)
        if cached is not None and cached[1] > time.time():
            return cached[0]
        principal, expires_at = await self._verify_signature(token)
        self._verified[token] = (principal, min(expires_at, time.time() + VERIFIED_CACHE_MAX_S))
        if len(self._verified) > VERIFIED_CACHE_SIZE:
            self._verified.popitem(last=False)
        return principal

    async def _verify_signature(self, token: str) -> tuple[Principal, float]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise Unauthorized("令牌格式错误", "Malformed token") from None
        kid = header.get("kid")
        if not isinstance(kid, str) or header.get("alg") not in ALGORITHMS:
            raise Unauthorized("令牌格式错误", "Malformed token")
        key = await self.key_for(kid)
        if key is None:
            raise Unauthorized("令牌签名密钥未知", "Unknown signing key")
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=ALGORITHMS,
                audience=self.settings.jwt_audience,
                issuer=self.settings.jwt_issuer,
                options={"require": ["exp", "iat", "sub", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthorized("令牌已过期", "Token expired") from None
        except jwt.PyJWTError:
            raise Unauthorized("令牌无效", "Invalid token") from None
        if claims.get("typ") != "access":
            raise Unauthorized("令牌类型错误", "Not an access token")
        return principal_from_claims(claims), float(claims["exp"])

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()


def principal_from_claims(claims: dict[str, Any]) -> Principal:
    scope = claims.get("scope", "")
    return Principal(
        id=str(claims["sub"]),
        kind=str(claims.get("kind", "person")),
        roles=frozenset(claims.get("roles", [])),
        scopes=frozenset(scope.split()) if isinstance(scope, str) else frozenset(),
        district=claims.get("district"),
        acting_for=claims.get("act_for"),
        institution=claims.get("institution"),
    )


def bearer_token(request: Request) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("缺少访问令牌", "Missing bearer token")
    return token.strip()


# Declared as a security scheme so every operation that needs a token says so in the OpenAPI (and only those:
# public operations show no lock). The token is read and checked by `bearer_token`, with problem answers.
BEARER = HTTPBearer(
    scheme_name="bearer",
    bearerFormat="JWT",
    auto_error=False,
    description="An access token from /api/v1/auth/wechat-login or /api/v1/auth/token",
)


async def current_principal(
    request: Request, _: Annotated[HTTPAuthorizationCredentials | None, Security(BEARER)] = None
) -> Principal:
    principal = getattr(request.state, "principal", None)
    if principal is None:
        cache: JwksCache = request.app.state.jwks
        principal = await cache.verify(bearer_token(request))
        request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(current_principal)]


def require_roles(*roles: str) -> Callable[[Principal], Awaitable[Principal]]:
    async def dependency(principal: CurrentPrincipal) -> Principal:
        if not principal.has_role(*roles):
            # Roles travel in the access token: one granted since it was issued counts after a refresh.
            raise Forbidden(
                "您的角色无权执行此操作。如刚获得所需角色，请刷新登录凭证（POST /api/v1/auth/refresh）后重试",
                f"Requires one of the roles: {', '.join(roles)}. If you were granted one since you signed "
                "in, refresh your token (POST /api/v1/auth/refresh) and retry",
                required_roles=list(roles),
            )
        return principal

    return dependency


def require_scope(scope: str) -> Callable[[Principal], Awaitable[Principal]]:
    async def dependency(principal: CurrentPrincipal) -> Principal:
        if principal.kind != "partner" or scope not in principal.scopes:
            raise Forbidden("合作方权限不足", f"Requires partner scope {scope}")
        return principal

    return dependency
