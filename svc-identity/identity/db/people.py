"""The people directory staff work from: who matches a search, and the facts a person's page shows. Only masked
personal data leaves these queries; the sealed values stay in the rows they came from."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from identity.db.models import (
    ContactPhone,
    Guardianship,
    KinshipLink,
    OfflineRepresentation,
    Person,
    RealName,
    Sanction,
)
from servicekit.pagination import PageRequest, keyset


@dataclass(frozen=True)
class Listed:
    """A person as a search lists them."""

    person_id: uuid.UUID
    created_at: datetime
    registered_via: str
    district: str | None
    permanent_resident: bool | None
    name_masked: str | None
    id_number_masked: str | None
    phone_masked: str | None
    turns_18_on: date | None
    suspended: bool
    phone_key_id: str | None = None
    phone_sealed: bytes | None = None


def _listing() -> Select:
    return (
        select(
            Person.id,
            Person.created_at,
            Person.registered_via,
            Person.residence_district,
            Person.permanent_resident,
            RealName.name_masked,
            RealName.id_number_masked,
            ContactPhone.masked,
            RealName.turns_18_on,
            Person.suspended_at.is_not(None),
            ContactPhone.key_id,
            ContactPhone.sealed,
        )
        .select_from(Person)
        .outerjoin(RealName, RealName.person_id == Person.id)
        .outerjoin(ContactPhone, ContactPhone.person_id == Person.id)
        .where(Person.erased_at.is_(None))
    )


async def search(
    session: AsyncSession,
    page: PageRequest,
    *,
    district: str | None,
    id_number_lookup: bytes | None = None,
    name_lookup: bytes | None = None,
    phone_masked: str | None = None,
) -> list[Listed]:
    """Newest registrations first; `district` None means every district. With no criterion, everyone."""
    query = _listing()
    if district is not None:
        query = query.where(Person.residence_district == district)
    if id_number_lookup is not None:
        query = query.where(RealName.id_number_lookup == id_number_lookup)
    if name_lookup is not None:
        query = query.where(RealName.name_lookup == name_lookup)
    if phone_masked is not None:
        query = query.where(ContactPhone.masked == phone_masked)
    rows = await session.execute(keyset(query, Person.created_at, Person.id, page))
    return [Listed(*row) for row in rows]


async def listed(session: AsyncSession, person_id: uuid.UUID) -> Listed | None:
    row = (await session.execute(_listing().where(Person.id == person_id))).one_or_none()
    return Listed(*row) if row else None


async def person(session: AsyncSession, person_id: uuid.UUID) -> Person | None:
    return await session.get(Person, person_id)


async def links_of(session: AsyncSession, person_id: uuid.UUID) -> list[KinshipLink]:
    query = (
        select(KinshipLink)
        .where(
            or_(KinshipLink.claimant_id == person_id, KinshipLink.relative_id == person_id),
            KinshipLink.status != "revoked",
        )
        .order_by(KinshipLink.created_at)
    )
    return list((await session.execute(query)).scalars())


async def guardianships_of(session: AsyncSession, person_id: uuid.UUID) -> list[Guardianship]:
    query = (
        select(Guardianship)
        .where(
            or_(Guardianship.guardian_id == person_id, Guardianship.minor_id == person_id),
            Guardianship.status != "revoked",
        )
        .order_by(Guardianship.created_at)
    )
    return list((await session.execute(query)).scalars())


async def sanctions_in_force(session: AsyncSession, person_id: uuid.UUID) -> list[Sanction]:
    query = (
        select(Sanction)
        .where(Sanction.person_id == person_id, Sanction.lifted_at.is_(None))
        .order_by(Sanction.applied_at.desc())
    )
    return list((await session.execute(query)).scalars())


async def representation(session: AsyncSession, person_id: uuid.UUID) -> OfflineRepresentation | None:
    return await session.get(OfflineRepresentation, person_id)


async def names_without_lookup(session: AsyncSession, limit: int) -> list[RealName]:
    query = select(RealName).where(RealName.name_lookup.is_(None)).limit(limit).with_for_update(skip_locked=True)
    return list((await session.execute(query)).scalars())


async def set_name_lookup(session: AsyncSession, person_id: uuid.UUID, lookup: bytes) -> None:
    await session.execute(update(RealName).where(RealName.person_id == person_id).values(name_lookup=lookup))
