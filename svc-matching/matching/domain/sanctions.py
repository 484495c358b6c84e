"""Audit's confirmed fraud stops a volunteer's bookings (DESIGN.md §4, sanctions): recording rights are
revoked until lifted, and every booking not yet served ends (the requests reopen for others). A suspended
account (identity) cannot book either, and its future bookings end the same way; so do the bookings that
needed a professional qualification staff withdrew."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.audit import SanctionApplied
from contracts.identity import AccountReinstated, AccountSuspended, QualificationRevoked, SanctionLifted
from matching.db import people, records
from matching.db import requests as repo
from matching.domain import requests


async def applied(session: AsyncSession, event: SanctionApplied, *, now: datetime) -> None:
    if event.false_request_ids:  # no longer in anyone's hours, ratings or 志愿北京's feed
        await records.mark_false(session, list(event.false_request_ids), event.sanction_id)
    if event.kind != "volunteer_recording_revoked" or event.person_id is None:
        return
    await people.record_recording_revoked(session, event.person_id, True)
    await end_future_bookings(
        session,
        event.person_id,
        by=f"audit:{event.decided_by}",
        reason="志愿服务记录权限已被取消",
        why="sanctioned",
        now=now,
    )


async def lifted(session: AsyncSession, event: SanctionLifted) -> None:
    if event.kind == "volunteer_recording_revoked" and event.person_id is not None:
        await people.record_recording_revoked(session, event.person_id, False)


async def suspended(session: AsyncSession, event: AccountSuspended, *, now: datetime) -> None:
    if event.kind != "person":
        return
    await people.record_suspension(session, event.subject_id, True)
    await end_future_bookings(
        session, event.subject_id, by=event.suspended_by, reason="账号已被暂停", why="sanctioned", now=now
    )


async def reinstated(session: AsyncSession, event: AccountReinstated) -> None:
    if event.kind == "person":
        await people.record_suspension(session, event.subject_id, False)


async def qualification_withdrawn(session: AsyncSession, event: QualificationRevoked, *, now: datetime) -> None:
    if await people.withdraw_qualification(session, event.qualification_id):
        await end_future_bookings(
            session,
            event.person_id,
            by=event.revoked_by,
            reason="所需的专业资格已被撤销",
            why="qualification_withdrawn",
            now=now,
            needing=event.kind,
        )


async def end_future_bookings(
    session: AsyncSession,
    volunteer_id: uuid.UUID,
    *,
    by: str,
    reason: str,
    why: str,
    now: datetime,
    needing: str | None = None,
) -> None:
    for request_id in await repo.booked_by_volunteer(session, volunteer_id, needing=needing):
        request = await repo.get(session, request_id, lock=True)
        assert request is not None  # booked_by_volunteer found it
        booking = next(
            b
            for b in await repo.bookings(session, request_id)
            if b.volunteer_id == volunteer_id and b.status == "booked"
        )
        await requests.end_booking(session, request, booking, by=by, reason=reason, why=why, late=False, now=now)
        await requests.minors_left_alone(session, request, now=now)  # a guardian's leaving takes the minor along
        await requests.reopen_if_needed(session, request, now=now, actor=by, note=reason)
