"""Suspension: a person (city admin or auditor decides) or a staff member (city admin) loses every
sign-in session at once — all refresh-token families are revoked — and cannot sign in again until
reinstated. Access tokens already issued are short-lived (IDENTITY_ACCESS_TOKEN_TTL_S) and run out."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import AccountReinstated, AccountSuspended
from identity.db import repository
from identity.db.models import Person, StaffUser
from identity.domain.publish import publish
from servicekit import clock
from servicekit.auth import Principal
from servicekit.errors import Forbidden, NotFound


async def suspend(session: AsyncSession, *, kind: str, subject_id: uuid.UUID, by: Principal, reason: str) -> int:
    """Returns how many live sessions were revoked; suspending again changes nothing."""
    account = await _locked(session, kind, subject_id)
    if kind == "staff" and str(subject_id) == by.id:
        raise Forbidden("不能停用自己的账户", "Staff cannot suspend themselves")
    now = clock.now()
    if isinstance(account, Person):
        if account.suspended_at is not None:
            return 0
        account.suspended_at, account.suspended_by, account.suspension_reason = now, by.id, reason
    else:
        if account.disabled:
            return 0
        account.disabled, account.disabled_by, account.disabled_reason = True, by.id, reason
    revoked = await repository.revoke_sessions_of(session, str(subject_id))
    await publish(
        session,
        AccountSuspended(
            subject_id=subject_id,
            kind=kind,
            suspended_by=by.id,
            reason=reason,
            sessions_revoked=revoked,
            suspended_at=now,
        ),
        subject=subject_id,
        actor=by.id,
    )
    return revoked


async def reinstate(session: AsyncSession, *, kind: str, subject_id: uuid.UUID, by: Principal, reason: str) -> None:
    account = await _locked(session, kind, subject_id)
    if isinstance(account, Person):
        if account.suspended_at is None:
            return
        account.suspended_at = account.suspended_by = account.suspension_reason = None
    else:
        if not account.disabled:
            return
        account.disabled, account.disabled_by, account.disabled_reason = False, None, None
    await publish(
        session,
        AccountReinstated(
            subject_id=subject_id, kind=kind, reinstated_by=by.id, reason=reason, reinstated_at=clock.now()
        ),
        subject=subject_id,
        actor=by.id,
    )


async def _locked(session: AsyncSession, kind: str, subject_id: uuid.UUID) -> Person | StaffUser:
    account: Person | StaffUser | None
    if kind == "person":
        account = await session.get(Person, subject_id, with_for_update=True)
    else:
        account = await session.get(StaffUser, subject_id, with_for_update=True)
    if account is None:
        raise NotFound("账户不存在", "No such account")
    return account
