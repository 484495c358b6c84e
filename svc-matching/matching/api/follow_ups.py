from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from contracts.districts import District
from contracts.matching import FollowUpCause
from matching.db.follow_ups import FollowUp
from matching.domain import follow_ups
from servicekit import clock
from servicekit.auth import Principal, require_roles
from servicekit.deps import DbSession
from servicekit.pagination import Page, PageParams

router = APIRouter(tags=["follow-ups"])
Staff = Annotated[
    Principal, Depends(require_roles("institution_operator", "district_officer", "city_admin", "auditor"))
]
InCharge = Annotated[Principal, Depends(require_roles("institution_operator", "district_officer"))]
Operator = Annotated[Principal, Depends(require_roles("institution_operator"))]


class FollowUpOut(BaseModel):
    id: uuid.UUID
    request_id: uuid.UUID
    elder_id: uuid.UUID = Field(
        description="the elder's contact: GET /api/v1/people/{elder_id}/contact?follow_up=, "
        "for the operator who took it"
    )
    district: str
    cause: FollowUpCause
    detail: str
    state: Literal["open", "assigned", "closed"]
    opened_at: datetime
    assigned_to: str | None
    assigned_at: datetime | None
    closed_by: str | None
    closed_at: datetime | None
    outcome: str | None

    @classmethod
    def of(cls, f: FollowUp) -> FollowUpOut:
        return cls(
            id=f.id,
            request_id=f.request_id,
            elder_id=f.elder_id,
            district=f.district,
            cause=f.cause,
            detail=f.detail,
            state=f.state,
            opened_at=f.opened_at,
            assigned_to=f.assigned_to,
            assigned_at=f.assigned_at,
            closed_by=f.closed_by,
            closed_at=f.closed_at,
            outcome=f.outcome,
        )


class Outcome(BaseModel):
    outcome: str = Field(min_length=2, max_length=1000, description="what the call found and what was done")


@router.get(
    "/api/v1/follow-ups",
    response_model=Page[FollowUpOut],
    summary="Follow-ups (回访) of the district, newest first (cursor pages); `mine`: those I took",
)
async def list_follow_ups(
    staff: Staff,
    session: DbSession,
    page: PageParams,
    state: Annotated[Literal["open", "assigned", "closed"] | None, Query()] = None,
    mine: bool = False,
    district: Annotated[District | None, Query(description="city-wide staff only")] = None,
) -> Page[FollowUpOut]:
    rows, cursor = await follow_ups.listed(
        session, staff, page.for_list(follow_ups.FOLLOW_UPS), district=district, state=state, mine=mine
    )
    return Page[FollowUpOut](items=[FollowUpOut.of(f) for f in rows], next_cursor=cursor)


@router.get("/api/v1/follow-ups/{follow_up_id}", response_model=FollowUpOut, summary="One follow-up")
async def get_follow_up(follow_up_id: uuid.UUID, staff: Staff, session: DbSession) -> FollowUpOut:
    return FollowUpOut.of(await follow_ups.one(session, staff, follow_up_id))


@router.post(
    "/api/v1/follow-ups/{follow_up_id}/assignment",
    response_model=FollowUpOut,
    summary="Take an open follow-up (institution operators of the district): the elder's contact opens to you",
)
async def take(follow_up_id: uuid.UUID, operator: Operator, session: DbSession) -> FollowUpOut:
    return FollowUpOut.of(await follow_ups.take(session, operator, follow_up_id, now=clock.now()))


@router.post(
    "/api/v1/follow-ups/{follow_up_id}/release",
    response_model=FollowUpOut,
    summary="Give a taken follow-up back (whoever took it, or the district office)",
)
async def release(follow_up_id: uuid.UUID, staff: InCharge, session: DbSession) -> FollowUpOut:
    return FollowUpOut.of(await follow_ups.release(session, staff, follow_up_id, now=clock.now()))


@router.post(
    "/api/v1/follow-ups/{follow_up_id}/close",
    response_model=FollowUpOut,
    summary="Close with the outcome (whoever took it, or the district office)",
)
async def close(follow_up_id: uuid.UUID, body: Outcome, staff: InCharge, session: DbSession) -> FollowUpOut:
    return FollowUpOut.of(await follow_ups.close(session, staff, follow_up_id, outcome=body.outcome, now=clock.now()))
