"""A copy of what identity holds about a person (PIPL's right to a copy, part of GET /api/v1/me/data): their
registration and residence, real name and identity number and contact phone in the clear (theirs to see; the
read is published like any other), roles with their history, relatives and guardianships, training,
qualifications, insurance, special-elder categories and every message sent to them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import PersonalDataAccessed
from identity.db import repository
from identity.db.models import Person, Qualification, RoleGrant, SpecialGroupChange, Training, VolunteerInsurance
from identity.domain import guardianship, inbox, kinship
from identity.domain.contact import phone_for_sending
from identity.domain.publish import publish
from identity.pii import PersonalDataCipher, Sealed
from servicekit import clock
from servicekit.errors import NotFound
from servicekit.pagination import all_pages


@dataclass(frozen=True)
class IdentityData:
    person: Person
    name: str | None
    id_number: str | None
    phone: str | None
    roles: list[RoleGrant]
    kinships: list[kinship.KinshipView]
    guardianships: list[guardianship.GuardianshipView]
    trainings: list[Training]
    qualifications: list[Qualification]
    insurance: VolunteerInsurance | None
    special_groups: SpecialGroupChange | None
    messages: list[inbox.Message]


async def data_of(session: AsyncSession, cipher: PersonalDataCipher, person_id: uuid.UUID) -> IdentityData:
    person = await repository.person(session, person_id)
    if person is None:
        raise NotFound("用户不存在", "No such person")
    owner = str(person_id)
    verified = await repository.real_name(session, person_id)
    name = id_number = None
    if verified is not None:
        name = cipher.open(Sealed(verified.key_id, verified.name_encrypted), purpose="name", owner=owner)
        id_number = cipher.open(Sealed(verified.key_id, verified.id_number_encrypted), purpose="id_number", owner=owner)
    phone = await phone_for_sending(session, cipher, person_id)
    read = [f for f, value in (("name", name), ("id_number", id_number), ("phone", phone)) if value is not None]
    if read:
        await publish(
            session,
            PersonalDataAccessed(
                person_id=person_id,
                accessed_by=owner,
                accessor_roles=["person"],
                fields=read,
                purpose="本人导出个人信息 (own copy)",
                accessed_at=clock.now(),
            ),
            subject=owner,
            actor=owner,
        )
    return IdentityData(
        person=person,
        name=name,
        id_number=id_number,
        phone=phone,
        roles=await repository.role_grants_of(session, person_id),
        kinships=await all_pages(
            kinship.KINSHIPS, lambda page: kinship.links_of(session, person_id, page, status=None)
        ),
        guardianships=await all_pages(
            guardianship.GUARDIANSHIPS, lambda page: guardianship.records_of(session, person_id, page, status=None)
        ),
        trainings=await repository.trainings_of(session, person_id),
        qualifications=await repository.all_qualifications_of(session, person_id),
        insurance=await session.get(VolunteerInsurance, person_id),
        special_groups=await repository.latest_special_group_change(session, person_id),
        messages=await all_pages(inbox.INBOX, lambda page: inbox.messages(session, person_id, page, unread_only=False)),
    )
