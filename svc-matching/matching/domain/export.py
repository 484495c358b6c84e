"""A copy of what matching holds about a person (PIPL's right to a copy, part of GET /api/v1/me/data): the
requests they published as an elder, with their own address, everyone's bookings on them and the rating; and
the bookings they made as a volunteer — their own booking only, without the elder's address (the elder's data)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from matching.db import requests as repo
from matching.db.requests import Booking, Request
from matching.domain.ratings import Rating, rating_of
from matching.domain.requests import MINE, mine, open_address
from servicekit.pagination import all_pages
from servicekit.pii import PersonalDataCipher


@dataclass(frozen=True)
class AsElder:
    request: Request
    address: str
    bookings: list[Booking]
    rating: Rating | None


@dataclass(frozen=True)
class AsVolunteer:
    request: Request
    booking: Booking


async def data_of(
    session: AsyncSession, cipher: PersonalDataCipher, person_id: uuid.UUID
) -> tuple[list[AsElder], list[AsVolunteer]]:
    published = await all_pages(
        MINE["elder"], lambda page: mine(session, person_id, role="elder", state=None, page=page)
    )
    as_elder = [
        AsElder(r, open_address(cipher, r), await repo.bookings(session, r.id), await rating_of(session, r.id))
        for r in published
    ]
    served = await all_pages(
        MINE["volunteer"], lambda page: mine(session, person_id, role="volunteer", state=None, page=page)
    )
    as_volunteer = [
        AsVolunteer(r, b) for r in served for b in await repo.bookings(session, r.id) if b.volunteer_id == person_id
    ]
    return as_elder, as_volunteer
