"""Sanctions decided in audit, applied here: a volunteer loses recording rights (the volunteer role is
revoked and not granted again while the sanction stands), or an institution goes on the dishonesty list
(失信名单). Staff see both; an auditor may lift either with a reason."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.audit import SanctionApplied
from contracts.identity import ListExported, SanctionLifted
from identity.db import repository
from identity.db.models import Sanction
from identity.domain import institutions, roles
from identity.domain.publish import publish
from servicekit import clock, exports
from servicekit.auth import Principal
from servicekit.errors import NotFound
from servicekit.pagination import PageRequest, page_of


async def apply_sanction(session: AsyncSession, sanction: SanctionApplied) -> bool:
    if await session.get(Sanction, sanction.sanction_id) is not None:
        return False
    session.add(
        Sanction(
            id=sanction.sanction_id,
            kind=sanction.kind,
            person_id=sanction.person_id,
            institution_id=sanction.institution_id,
            decided_by=sanction.decided_by,
            note=sanction.note,
            applied_at=sanction.decided_at,
        )
    )
    await session.flush()
    if sanction.kind == "institution_listed":
        await institutions.set_listed(session, sanction.institution_id, listed=True)
    if (
        sanction.kind == "volunteer_recording_revoked"
        and sanction.person_id is not None
        and await repository.person(session, sanction.person_id) is not None
    ):
        await roles.refresh_roles(
            session,
            sanction.person_id,
            actor=sanction.decided_by,
            why=f"经核查弄虚作假，取消志愿服务记录资格：{sanction.note}",
        )
    return True


async def lift_sanction(session: AsyncSession, *, sanction_id: uuid.UUID, auditor: Principal, reason: str) -> Sanction:
    record = await session.get(Sanction, sanction_id, with_for_update=True)
    if record is None:
        raise NotFound("处罚记录不存在", "No such sanction")
    if record.lifted_at is not None:
        return record  # already lifted: a retry changes nothing
    record.lifted_at, record.lifted_by, record.lift_reason = clock.now(), auditor.id, reason
    await session.flush()
    data = SanctionLifted(
        sanction_id=record.id,
        kind=record.kind,
        person_id=record.person_id,
        institution_id=record.institution_id,
        lifted_by=auditor.id,
        reason=reason,
        lifted_at=record.lifted_at,
    )
    await publish(session, data, subject=record.person_id or record.institution_id, actor=auditor.id)
    if record.kind == "institution_listed":
        await institutions.set_listed(session, record.institution_id, listed=False)
    if record.person_id is not None and await repository.person(session, record.person_id) is not None:
        await roles.refresh_roles(session, record.person_id, actor=auditor.id, why=f"处罚已撤销：{reason}")
    return record


SANCTIONS = "sanctions"  # the list's name in its cursors


async def listed(
    session: AsyncSession,
    page: PageRequest,
    *,
    person_id: uuid.UUID | None,
    institution_id: uuid.UUID | None,
    live_only: bool,
) -> tuple[list, str | None]:
    rows = await repository.sanctions(
        session, page, person_id=person_id, institution_id=institution_id, live_only=live_only
    )
    return page_of(SANCTIONS, rows, page, at="applied_at")


async def export(session: AsyncSession, reader: Principal, *, live_only: bool, fmt: exports.Format) -> list[Sanction]:
    """Every sanction the list shows, for a file; the export is published (`list.exported`)."""

    async def page(wanted: PageRequest) -> tuple[list, str | None]:
        return await listed(session, wanted, person_id=None, institution_id=None, live_only=live_only)

    rows = await exports.every_row(SANCTIONS, page)
    filters = {"live": "true" if live_only else None}
    await publish(
        session,
        ListExported(**exports.facts(reader, SANCTIONS, fmt, filters, len(rows))),
        subject=reader.id,
        actor=reader.id,
    )
    return rows
