"""Professional qualifications (法律职业资格, 医护执业资格): an institution records a verified volunteer's
qualification with its evidence (the certificate's number) and the day it is valid through; matching lets only
holders book the catalogue items that need one. One qualification of a kind counts at a time: a newer record
replaces the live one (its `qualification.recorded` says so; no withdrawal is published, so bookings made on
the older one stand). Staff withdraw one with a reason (`qualification.revoked`); nothing is deleted."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import QualificationRecorded, QualificationRevoked
from identity.db import repository
from identity.db.models import Qualification
from identity.domain.publish import publish
from identity.domain.special_groups import OutsideDistrict
from servicekit import clock
from servicekit.auth import Principal
from servicekit.errors import Conflict, NotFound, UnprocessableInput
from servicekit.pagination import PageRequest, page_of

KINDS = {"legal": "法律职业资格", "medical": "医护执业资格"}
QUALIFICATIONS = "qualifications"  # the list's name in its cursors
REPLACED = "已由新的资格记录取代"


async def record(
    session: AsyncSession,
    *,
    person_id: uuid.UUID,
    kind: str,
    evidence_ref: str,
    valid_until: date,
    operator: Principal,
    today: date,
) -> Qualification:
    if await repository.person(session, person_id, lock=True) is None:  # serialises records for one person
        raise NotFound("用户不存在", "No such person")
    if await repository.real_name(session, person_id) is None:
        raise UnprocessableInput("只能为已实名认证的人登记资格", "Only a verified person holds a qualification")
    if valid_until < today:
        raise UnprocessableInput("资格有效期已过", "The qualification has already expired", field="valid_until")
    now = clock.now()
    replaced = await repository.live_qualification(session, person_id, kind)
    if replaced is not None:
        replaced.revoked_at, replaced.revoked_by, replaced.revoke_reason = now, operator.id, REPLACED
        await session.flush()  # the unique index allows one live record of a kind
    qualification = Qualification(
        person_id=person_id,
        kind=kind,
        evidence_ref=evidence_ref,
        valid_until=valid_until,
        institution_id=uuid.UUID(operator.institution) if operator.institution else None,
        recorded_by=operator.id,
        recorded_at=now,
    )
    session.add(qualification)
    await session.flush()
    await publish(
        session,
        QualificationRecorded(
            qualification_id=qualification.id,
            person_id=person_id,
            kind=kind,
            valid_until=valid_until,
            recorded_by=operator.id,
            recorded_at=now,
        ),
        subject=person_id,
        actor=operator.id,
    )
    return qualification


async def revoke(
    session: AsyncSession, *, person_id: uuid.UUID, qualification_id: uuid.UUID, by: Principal, reason: str
) -> Qualification:
    """The institution that recorded it, an officer of the person's district, or a city admin withdraws it."""
    qualification = await session.get(Qualification, qualification_id, with_for_update=True)
    if qualification is None or qualification.person_id != person_id:
        raise NotFound("资格记录不存在", "No such qualification")
    recorded_here = by.institution is not None and str(qualification.institution_id) == by.institution
    if not recorded_here:
        await _check_reader(session, person_id, by, operators=False)
    if qualification.revoked_at is not None:
        raise Conflict("资格记录已撤销", "The qualification is already revoked")
    now = clock.now()
    qualification.revoked_at, qualification.revoked_by, qualification.revoke_reason = now, by.id, reason
    await publish(
        session,
        QualificationRevoked(
            qualification_id=qualification.id,
            person_id=person_id,
            kind=qualification.kind,
            revoked_by=by.id,
            reason=reason,
            revoked_at=now,
        ),
        subject=person_id,
        actor=by.id,
    )
    return qualification


async def of_person(
    session: AsyncSession, *, person_id: uuid.UUID, reader: Principal, page: PageRequest
) -> tuple[list[Qualification], str | None]:
    if reader.kind != "person":
        await _check_reader(session, person_id, reader, operators=True)
    elif reader.subject != str(person_id):
        raise OutsideDistrict("只能查看本人的资格", "People see their own qualifications only")
    return page_of(QUALIFICATIONS, await repository.qualifications_of(session, person_id, page), page, at="recorded_at")


async def _check_reader(session: AsyncSession, person_id: uuid.UUID, staff: Principal, *, operators: bool) -> None:
    """City admins and auditors reach anyone; officers (and, to read, institution operators) their district's
    residents."""
    person = await repository.person(session, person_id)
    if person is None:
        raise NotFound("用户不存在", "No such person")
    if staff.has_role("city_admin") or (operators and staff.has_role("auditor")):
        return
    local = staff.has_role("district_officer", *(("institution_operator",) if operators else ()))
    if not local or staff.district is None or person.residence_district != staff.district:
        raise OutsideDistrict()
