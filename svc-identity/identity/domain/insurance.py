"""志愿北京 reports whether a volunteer is registered and insured (accident insurance), with validity dates.
Volunteers see their own state; claims need the service on record (matching) and this status."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import InsuranceRecorded
from identity.db import repository
from identity.db.models import VolunteerInsurance
from identity.domain.publish import publish
from servicekit import clock
from servicekit.errors import NotFound, UnprocessableInput


@dataclass(frozen=True)
class InsuranceReport:
    registered: bool
    registration_id: str | None
    insured: bool
    policy_number: str | None
    valid_from: date | None
    valid_until: date | None


async def record_insurance(
    session: AsyncSession, *, person_id: uuid.UUID, report: InsuranceReport, partner: str
) -> VolunteerInsurance:
    if report.insured and (report.valid_from is None or report.valid_until is None):
        raise UnprocessableInput("已投保时须提供保险有效期", "Insured status needs validity dates", field="valid_until")
    if report.valid_from and report.valid_until and report.valid_until < report.valid_from:
        raise UnprocessableInput(
            "保险有效期结束日期早于开始日期", "valid_until is before valid_from", field="valid_until"
        )
    if await repository.person(session, person_id) is None:
        raise NotFound("用户不存在", "No such person")
    now = clock.now()
    state = await session.get(VolunteerInsurance, person_id, with_for_update=True)
    entry = {
        **{k: (v.isoformat() if isinstance(v, date) else v) for k, v in report.__dict__.items()},
        "recorded_by": partner,
        "recorded_at": now.isoformat(),
    }
    if state is None:
        state = VolunteerInsurance(
            person_id=person_id, history=[], **report.__dict__, recorded_by=partner, recorded_at=now
        )
        session.add(state)
    else:
        for field, value in report.__dict__.items():
            setattr(state, field, value)
        state.recorded_by, state.recorded_at = partner, now
    state.history = [*state.history, entry]
    await session.flush()
    data = InsuranceRecorded(
        person_id=person_id,
        registered=report.registered,
        insured=report.insured,
        valid_from=report.valid_from,
        valid_until=report.valid_until,
        recorded_by=partner,
        recorded_at=now,
    )
    await publish(session, data, subject=person_id, actor=partner)
    return state


async def insurance_of(session: AsyncSession, person_id: uuid.UUID) -> VolunteerInsurance | None:
    return await session.get(VolunteerInsurance, person_id)
