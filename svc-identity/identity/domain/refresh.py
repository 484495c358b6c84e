"""Refresh tokens: rotation on every use, and reuse detection that revokes the whole family.

A refresh token is an opaque random string; only its SHA-256 is stored. Using one marks it used and
returns a new one in the same family. Presenting a used token again means it was copied: every token of
that family is revoked, so both the thief and the victim must sign in again.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from identity.db import repository
from identity.db.models import RefreshToken
from identity.domain import institutions, roles
from identity.domain.keys import AccessClaims, IssuedToken, issue_access_token
from identity.settings import IdentitySettings
from servicekit import clock
from servicekit.db import Database
from servicekit.errors import Problem


class RefreshRejected(Problem):
    status, type, title_zh, title_en = (
        401,
        "refresh-rejected",
        "登录已过期，请重新登录",
        "Refresh token invalid or expired",
    )

    def __init__(self) -> None:
        super().__init__(error="invalid_grant")


class RefreshReused(Problem):
    status, type, title_zh, title_en = (
        401,
        "refresh-token-reused",
        "检测到登录凭证被重复使用，请重新登录",
        "Refresh token reuse detected; all sessions of this sign-in were ended",
    )

    def __init__(self) -> None:
        super().__init__(error="invalid_grant")


@dataclass(frozen=True)
class TokenPair:
    access: IssuedToken
    refresh_token: str
    refresh_expires_in: int


def _hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


async def start_family(
    session: AsyncSession, settings: IdentitySettings, *, subject: str, kind: str, family_id: uuid.UUID | None = None
) -> tuple[str, int]:
    token = secrets.token_urlsafe(32)
    session.add(
        RefreshToken(
            family_id=family_id or uuid.uuid4(),
            subject=subject,
            kind=kind,
            token_hash=_hash(token),
            expires_at=clock.real_now() + timedelta(seconds=settings.refresh_token_ttl_s),
        )
    )
    await session.flush()
    return token, settings.refresh_token_ttl_s


async def issue_pair(session: AsyncSession, settings: IdentitySettings, claims: AccessClaims) -> TokenPair:
    """A sign-in: an access token and the first refresh token of a new family."""
    token, ttl = await start_family(session, settings, subject=str(claims.subject), kind=claims.kind)
    return TokenPair(await issue_access_token(session, settings, claims), token, ttl)


async def _claims_for(session: AsyncSession, record: RefreshToken) -> AccessClaims | None:
    if record.kind == "person":
        person_id = uuid.UUID(record.subject)
        person = await repository.person(session, person_id)
        if person is None or person.suspended_at is not None:
            return None
        return AccessClaims(subject=person_id, kind="person", roles=await roles.live_roles(session, person_id))
    staff = await repository.staff(session, uuid.UUID(record.subject))
    if staff is None or staff.disabled:
        return None
    try:
        await institutions.check_operator_standing(session, staff)
    except institutions.InstitutionNotInGoodStanding:
        return None
    return AccessClaims(
        subject=staff.id,
        kind="staff",
        roles=tuple(staff.roles),
        district=staff.district,
        institution=staff.institution_id,
    )


async def rotate(session: AsyncSession, db: Database, settings: IdentitySettings, *, refresh_token: str) -> TokenPair:
    token_hash = _hash(refresh_token)
    record = await repository.refresh_token(session, token_hash)
    now = clock.real_now()
    if record is None or record.revoked_at is not None or record.expires_at <= now:
        raise RefreshRejected()
    if record.used_at is not None:
        # Its own transaction, taken while this one holds no lock: the refusal rolls this request back,
        # the revocation must stay.
        async with db.transaction() as own:
            await repository.revoke_refresh_family(own, record.family_id)
        raise RefreshReused()
    record = await repository.refresh_token(session, token_hash, lock=True)
    if record is None or record.used_at is not None or record.revoked_at is not None:
        raise RefreshRejected()  # a concurrent refresh of the same token won: a double submit, not a theft
    claims = await _claims_for(session, record)  # roles are re-read: a change applies at the next refresh
    if claims is None:
        raise RefreshRejected()
    record.used_at = now
    token, ttl = await start_family(
        session, settings, subject=record.subject, kind=record.kind, family_id=record.family_id
    )
    return TokenPair(await issue_access_token(session, settings, claims), token, ttl)


async def sign_out(session: AsyncSession, *, subject: str, refresh_token: str | None, everywhere: bool) -> int:
    """End the caller's sign-in whose refresh token is given (its whole family: every token rotated from it), or
    every sign-in of theirs. A token that is not the caller's, or already ended, changes nothing and says
    nothing. Returns how many sign-ins ended; access tokens already issued expire within their short life."""
    if everywhere:
        return await repository.revoke_sessions_of(session, subject)
    if refresh_token is None:
        return 0
    return await end_sign_in(session, refresh_token=refresh_token, subject=subject)


async def end_sign_in(session: AsyncSession, *, refresh_token: str, subject: str | None = None) -> int:
    """End the sign-in the token belongs to (if it is `subject`'s, when given): the console signs out with its
    refresh cookie alone, as holding the token is what the sign-in is."""
    record = await repository.refresh_token(session, _hash(refresh_token))
    if record is None or record.revoked_at is not None or (subject is not None and record.subject != subject):
        return 0
    await repository.revoke_refresh_family(session, record.family_id)
    return 1
