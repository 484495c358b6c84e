"""Guardianship (监护) of minor student volunteers: a verified adult claims a verified minor; the minor or
staff with a document (户口簿, 出生证明 …) confirms; either party or staff revokes. A confirmed guardian
lets the minor hold the volunteer role (they serve accompanied by the guardian)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import GuardianshipConfirmed, GuardianshipRevoked
from identity.db import repository
from identity.db.models import Guardianship
from identity.domain import roles
from identity.domain.kinship import CONFIRMING_STAFF
from identity.domain.publish import publish
from identity.domain.real_name import beijing_today
from servicekit import clock
from servicekit.auth import Principal
from servicekit.errors import Conflict, Forbidden, NotFound, UnprocessableInput
from servicekit.pagination import PageRequest, page_of


async def claim(session: AsyncSession, *, guardian: uuid.UUID, minor: uuid.UUID) -> Guardianship:
    today = beijing_today()
    guardian_name, minor_name = (
        await repository.real_name(session, guardian),
        await repository.real_name(session, minor),
    )
    if guardian_name is None or guardian_name.turns_18_on > today:
        raise UnprocessableInput("监护人须为已实名认证的成年人", "A guardian must be a verified adult")
    if minor_name is None or minor_name.turns_18_on <= today:
        raise UnprocessableInput("被监护人须为已实名认证的未成年人", "The ward must be a verified minor")
    await repository.lock_pair(session, guardian, minor)
    if await repository.live_guardianship(session, guardian, minor) is not None:
        raise Conflict("已有监护关系登记", "This guardianship is already registered")
    record = Guardianship(guardian_id=guardian, minor_id=minor, status="pending")
    session.add(record)
    await session.flush()
    return record


async def confirm(
    session: AsyncSession, *, guardianship_id: uuid.UUID, by: Principal, document_ref: str | None
) -> Guardianship:
    record = await _locked(session, guardianship_id)
    as_minor = by.kind == "person" and uuid.UUID(by.subject) == record.minor_id
    as_staff = by.kind == "staff" and by.has_role(*CONFIRMING_STAFF)
    if not (as_minor or as_staff):
        raise Forbidden("只有被监护人或工作人员可以确认", "Only the minor or staff may confirm")
    if as_staff and not document_ref:
        raise UnprocessableInput("工作人员确认须填写证明材料编号", "Staff confirmation needs a document reference")
    if record.status != "pending":
        raise Conflict("该登记已处理", f"The guardianship is {record.status}")
    record.status, record.confirmed_at, record.confirmed_by = "confirmed", clock.now(), by.id
    record.document_ref = document_ref if as_staff else None
    await publish(
        session,
        GuardianshipConfirmed(
            guardianship_id=record.id,
            guardian_id=record.guardian_id,
            minor_id=record.minor_id,
            confirmed_by=by.id,
            document_ref=record.document_ref,
            confirmed_at=record.confirmed_at,
        ),
        subject=record.minor_id,
        actor=by.id,
    )
    await roles.refresh_roles(session, record.minor_id, actor=by.id)
    return record


async def revoke(session: AsyncSession, *, guardianship_id: uuid.UUID, by: Principal, reason: str) -> Guardianship:
    record = await _locked(session, guardianship_id)
    party = by.kind == "person" and uuid.UUID(by.subject) in (record.guardian_id, record.minor_id)
    if not (party or (by.kind == "staff" and by.has_role(*CONFIRMING_STAFF))):
        raise Forbidden("无权撤销该监护关系", "Only the two people or staff may revoke")
    await end(session, record, actor=by.id, reason=reason)
    return record


async def end(session: AsyncSession, record: Guardianship, *, actor: str, reason: str) -> None:
    """Revoke a guardianship (locked by the caller); the minor's roles follow. A retry changes nothing."""
    if record.status == "revoked":
        return
    was_confirmed = record.status == "confirmed"
    record.status, record.revoked_at, record.revoked_by, record.revoke_reason = "revoked", clock.now(), actor, reason
    if was_confirmed:
        await publish(
            session,
            GuardianshipRevoked(
                guardianship_id=record.id,
                guardian_id=record.guardian_id,
                minor_id=record.minor_id,
                revoked_by=actor,
                reason=reason,
                revoked_at=record.revoked_at,
            ),
            subject=record.minor_id,
            actor=actor,
        )
        await roles.refresh_roles(session, record.minor_id, actor=actor, why="监护关系已撤销")


async def _locked(session: AsyncSession, guardianship_id: uuid.UUID) -> Guardianship:
    record = await session.get(Guardianship, guardianship_id, with_for_update=True)
    if record is None:
        raise NotFound("监护关系登记不存在", "No such guardianship")
    return record


GUARDIANSHIPS = "guardianships"  # the list's name in its cursors


@dataclass(frozen=True)
class GuardianshipView:
    id: uuid.UUID
    guardian_id: uuid.UUID
    minor_id: uuid.UUID
    status: str
    my_part: str  # guardian or minor
    awaiting_me: bool  # pending, and the viewer (the minor) is the one to confirm it
    created_at: datetime


async def records_of(
    session: AsyncSession, person_id: uuid.UUID, page: PageRequest, *, status: str | None
) -> tuple[list[GuardianshipView], str | None]:
    """Guardianships the person is the guardian or the minor of, newest first: a minor finds here the one to
    confirm."""
    records = await repository.guardianships_of(session, person_id, page, status=status)
    shown, cursor = page_of(GUARDIANSHIPS, records, page, at="created_at")
    return [
        GuardianshipView(
            id=r.id,
            guardian_id=r.guardian_id,
            minor_id=r.minor_id,
            status=r.status,
            my_part="guardian" if r.guardian_id == person_id else "minor",
            awaiting_me=r.status == "pending" and r.minor_id == person_id,
            created_at=r.created_at,
        )
        for r in shown
    ], cursor
