from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from identity.api.deps import Session
from identity.domain import insurance
from identity.domain.real_name import beijing_today
from servicekit.auth import CurrentPrincipal, Principal, require_scope
from servicekit.errors import Forbidden

router = APIRouter(tags=["志愿北京"])


class InsuranceRequest(BaseModel):
    registered: bool = Field(description="registered and approved on 志愿北京")
    registration_id: str | None = Field(None, max_length=64)
    insured: bool = Field(description="covered by 志愿北京's accident insurance (被保险人资格)")
    policy_number: str | None = Field(None, max_length=64)
    valid_from: date | None = None
    valid_until: date | None = None


class InsuranceResponse(BaseModel):
    person_id: uuid.UUID
    registered: bool
    insured: bool
    insured_today: bool = Field(description="insured and today within the validity dates (Beijing time)")
    valid_from: date | None
    valid_until: date | None
    recorded_at: datetime


def _response(state) -> InsuranceResponse:
    today = beijing_today()
    covered = bool(
        state.insured and state.valid_from and state.valid_until and state.valid_from <= today <= state.valid_until
    )
    return InsuranceResponse(
        person_id=state.person_id,
        registered=state.registered,
        insured=state.insured,
        insured_today=covered,
        valid_from=state.valid_from,
        valid_until=state.valid_until,
        recorded_at=state.recorded_at,
    )


@router.put(
    "/partner/v1/volunteers/{person_id}/insurance",
    response_model=InsuranceResponse,
    summary="志愿北京 records a volunteer's registration and insured status with validity dates",
)
async def put_insurance(
    person_id: uuid.UUID,
    body: InsuranceRequest,
    session: Session,
    partner: Annotated[Principal, Depends(require_scope("volunteer-beijing"))],
) -> InsuranceResponse:
    state = await insurance.record_insurance(
        session, person_id=person_id, partner=partner.id, report=insurance.InsuranceReport(**body.model_dump())
    )
    return _response(state)


@router.get(
    "/api/v1/me/insurance",
    response_model=InsuranceResponse | None,
    summary="The caller's 志愿北京 registration and insurance state (null until 志愿北京 reports it)",
)
async def my_insurance(principal: CurrentPrincipal, session: Session) -> InsuranceResponse | None:
    if principal.kind != "person" and not principal.acting_for:
        raise Forbidden("只有个人有志愿者保险状态", "Only people have an insurance state")
    state = await insurance.insurance_of(session, uuid.UUID(principal.subject))
    return _response(state) if state else None
