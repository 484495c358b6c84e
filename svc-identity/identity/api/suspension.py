from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from identity.api.deps import Session
from identity.domain import suspension
from servicekit.auth import Principal, require_roles

router = APIRouter(tags=["suspension"])
PersonOverseer = Annotated[Principal, Depends(require_roles("city_admin", "auditor"))]
CityAdmin = Annotated[Principal, Depends(require_roles("city_admin"))]


class SuspensionRequest(BaseModel):
    reason: str = Field(min_length=4, max_length=500)


class SuspensionResponse(BaseModel):
    subject_id: uuid.UUID
    suspended: bool
    sessions_revoked: int = 0


@router.post(
    "/api/v1/people/{person_id}/suspension",
    response_model=SuspensionResponse,
    summary="Suspend a person: every sign-in session ends, new sign-ins are refused (city admin, auditor)",
)
async def suspend_person(
    person_id: uuid.UUID, body: SuspensionRequest, by: PersonOverseer, session: Session
) -> SuspensionResponse:
    revoked = await suspension.suspend(session, kind="person", subject_id=person_id, by=by, reason=body.reason)
    return SuspensionResponse(subject_id=person_id, suspended=True, sessions_revoked=revoked)


@router.post(
    "/api/v1/people/{person_id}/suspension/lift",
    response_model=SuspensionResponse,
    summary="Reinstate a suspended person (city admin, auditor)",
)
async def reinstate_person(
    person_id: uuid.UUID, body: SuspensionRequest, by: PersonOverseer, session: Session
) -> SuspensionResponse:
    await suspension.reinstate(session, kind="person", subject_id=person_id, by=by, reason=body.reason)
    return SuspensionResponse(subject_id=person_id, suspended=False)


@router.post(
    "/api/v1/staff/{staff_id}/suspension",
    response_model=SuspensionResponse,
    summary="Suspend a staff account: sessions end, sign-in refused (city admin)",
)
async def suspend_staff(
    staff_id: uuid.UUID, body: SuspensionRequest, by: CityAdmin, session: Session
) -> SuspensionResponse:
    revoked = await suspension.suspend(session, kind="staff", subject_id=staff_id, by=by, reason=body.reason)
    return SuspensionResponse(subject_id=staff_id, suspended=True, sessions_revoked=revoked)


@router.post(
    "/api/v1/staff/{staff_id}/suspension/lift",
    response_model=SuspensionResponse,
    summary="Reinstate a suspended staff account (city admin)",
)
async def reinstate_staff(
    staff_id: uuid.UUID, body: SuspensionRequest, by: CityAdmin, session: Session
) -> SuspensionResponse:
    await suspension.reinstate(session, kind="staff", subject_id=staff_id, by=by, reason=body.reason)
    return SuspensionResponse(subject_id=staff_id, suspended=False)
