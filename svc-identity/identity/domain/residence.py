"""Where a person lives: the district (one of Beijing's 16) and whether they are a permanent resident
(常住居民). Declared by the person or by staff for them; staff can check it later. District officers act
only for residents of their district, and the ledger groups its liability by it."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.districts import DISTRICTS
from contracts.identity import ResidenceDeclared
from identity.db import repository
from identity.db.models import Person
from identity.domain import roles
from identity.domain.publish import publish
from servicekit import clock
from servicekit.auth import Principal
from servicekit.errors import Forbidden, NotFound, UnprocessableInput


async def declare_residence(
    session: AsyncSession,
    *,
    person_id: uuid.UUID,
    district: str,
    permanent_resident: bool,
    actor: str,
    acting_for: str | None = None,
) -> Person:
    if district not in DISTRICTS:
        raise UnprocessableInput("未知的区代码", "Unknown district code", field="district")
    person = await repository.person(session, person_id, lock=True)
    if person is None:
        raise NotFound("用户不存在", "No such person")
    now = clock.now()
    person.residence_district, person.permanent_resident = district, permanent_resident
    person.residence_declared_by, person.residence_declared_at = actor, now
    data = ResidenceDeclared(
        person_id=person_id,
        district=district,
        permanent_resident=permanent_resident,
        declared_by=actor,
        declared_at=now,
    )
    await publish(session, data, subject=person_id, actor=actor, acting_for=acting_for)
    await roles.refresh_roles(session, person_id, actor=actor)
    return person


async def check_residence(
    session: AsyncSession, *, person_id: uuid.UUID, officer: Principal, confirmed: bool, note: str
) -> Person:
    """A district officer checks a resident's declaration against documents. A refused declaration
    no longer counts as permanent residence (the volunteer role follows); the person may declare again."""
    person = await repository.person(session, person_id, lock=True)
    if person is None:
        raise NotFound("用户不存在", "No such person")
    if person.residence_district is None or person.residence_district != officer.district:
        raise Forbidden("只能核查本区居民的居住登记", "Officers check residents of their own district only")
    now = clock.now()
    person.residence_checked_by, person.residence_checked_at, person.residence_check_note = officer.id, now, note
    if not confirmed and person.permanent_resident:
        person.permanent_resident = False
        data = ResidenceDeclared(
            person_id=person_id,
            district=person.residence_district,
            permanent_resident=False,
            declared_by=officer.id,
            declared_at=now,
        )
        await publish(session, data, subject=person_id, actor=officer.id)
        await roles.refresh_roles(session, person_id, actor=officer.id, why=f"常住居民登记未通过核查：{note}")
    return person


async def district_of(session: AsyncSession, person_id: uuid.UUID) -> str | None:
    """The district the person declared as their residence, if any."""
    person = await repository.person(session, person_id)
    return person.residence_district if person else None
