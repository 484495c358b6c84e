from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import AwareDatetime, BaseModel

from contracts.districts import District
from servicekit import clock
from servicekit.auth import Principal, require_roles, require_scope
from servicekit.deps import DbSession
from servicekit.errors import Forbidden
from matching.api.deps import PeopleAndStaff, cipher_of
from matching.domain import records
from matching.domain.callers import person_of

router = APIRouter(tags=["records"])
VolunteerBeijing = Annotated[Principal, Depends(require_scope("volunteer-beijing"))]
Overseer = Annotated[Principal, Depends(require_roles("district_officer", "city_admin", "auditor"))]


class StarStep(BaseModel):
    stars: int
    at_hours: int


class VolunteerRecord(BaseModel):
    volunteer_id: uuid.UUID
    services: int
    minutes_served: int
    hours_served: float
    average_rating: float | None
    ratings: int
    star_level: int
    next_star: StarStep | None
    no_shows: int
    late_cancellations: int
    revoked_records: int


@router.get("/api/v1/requests/statistics", tags=["statistics"],
            summary="Per district: requests by category and state, hours served, ratings, requests left unbooked")
async def statistics(officer: Overseer, session: DbSession,
                     district: Annotated[District | None, Query()] = None,
                     from_: Annotated[AwareDatetime | None, Query(alias="from")] = None,
                     to: Annotated[AwareDatetime | None, Query()] = None) -> dict:
    return await records.district_statistics(session, officer, district=district, since=from_, until=to, now=clock.now())


@router.get("/api/v1/volunteers/me/record", response_model=VolunteerRecord,
            summary="Your hours served, services, average rating and star level (星级)")
async def my_record(principal: PeopleAndStaff, session: DbSession) -> VolunteerRecord:
    me = person_of(principal)
    if me is None:
        raise Forbidden("仅限志愿者本人", "Volunteers only")
    return VolunteerRecord(**await records.volunteer_record(session, me))


@router.get("/api/v1/volunteers/{person_id}/record", response_model=VolunteerRecord,
            summary="A volunteer's record (district officers, city admin, auditors)")
async def volunteer_record(person_id: uuid.UUID, officer: Overseer, session: DbSession) -> VolunteerRecord:
    return VolunteerRecord(**await records.volunteer_record(session, person_id))


@router.get("/partner/v1/service-records", summary="Completed services for 志愿北京's unified volunteer record, "
            "oldest first; pass `next_cursor` back as `since` (or an ISO time to start from)")
async def service_records(partner: VolunteerBeijing, session: DbSession,
                          since: Annotated[str | None, Query(max_length=200)] = None,
                          limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict:
    return await records.service_records(session, since=since, limit=limit)


@router.get("/partner/v1/service-records/signing-keys", summary="Public keys (JWKS) that verify claim evidence")
async def signing_keys(partner: VolunteerBeijing, request: Request) -> dict:
    return request.app.state.evidence_signer.jwks()


@router.get("/partner/v1/service-records/{request_id}",
            summary="Claim evidence for one service: item, place, period, parties, sign-in/out trail; Ed25519-signed")
async def claim_evidence(request_id: uuid.UUID, partner: VolunteerBeijing, session: DbSession, request: Request) -> dict:
    return await records.claim_evidence(session, partner, request_id, cipher=cipher_of(request),
                                        signer=request.app.state.evidence_signer, now=clock.now())
