"""Offline operation (线下代办): institution operators register people who cannot use a phone and then act
for them. An acting-for token names both: `sub` is the operator, `act_for` the person, and every event
records the actor and the person acted for. Operators act only for people their district's institutions
represent (registered there, with the person's written consent on file)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from identity.db.models import OfflineRepresentation, Person
from identity.domain import residence
from identity.domain.keys import AccessClaims, IssuedToken, issue_access_token
from identity.domain.sign_in import register_person
from identity.settings import IdentitySettings
from servicekit.auth import Principal
from servicekit.errors import Forbidden, NotFound, UnprocessableInput


async def register_offline(
    session: AsyncSession, *, operator: Principal, consent_ref: str, permanent_resident: bool
) -> Person:
    if operator.district is None:
        raise UnprocessableInput("机构账号未设置所属区", "The operator's account has no district")
    person = await register_person(session, channel="offline", registered_by=uuid.UUID(operator.id))
    session.add(
        OfflineRepresentation(
            person_id=person.id, district=operator.district, consent_ref=consent_ref, registered_by=operator.id
        )
    )
    await session.flush()
    await residence.declare_residence(
        session,
        person_id=person.id,
        district=operator.district,
        permanent_resident=permanent_resident,
        actor=operator.id,
        acting_for=str(person.id),
    )
    return person


async def act_for(
    session: AsyncSession, settings: IdentitySettings, *, operator: Principal, person_id: uuid.UUID
) -> IssuedToken:
    """An access token for the operator acting for the person (no refresh token: ask again)."""
    representation = await session.get(OfflineRepresentation, person_id)
    if representation is None:
        raise NotFound("该居民不由机构代办", "This person is not represented offline")
    if representation.district != operator.district:
        raise Forbidden("只能代办本区机构登记的居民", "Operators act only for people their district represents")
    claims = AccessClaims(
        subject=operator.id,
        kind=operator.kind,
        roles=tuple(sorted(operator.roles)),
        district=operator.district,
        acting_for=person_id,
        institution=uuid.UUID(operator.institution) if operator.institution else None,
    )
    return await issue_access_token(session, settings, claims)
