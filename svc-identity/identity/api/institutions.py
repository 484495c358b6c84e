from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field

from contracts.districts import District
from identity.api.deps import Session
from identity.domain import institutions
from servicekit.auth import Principal, require_roles
from servicekit.pagination import Page, PageParams

router = APIRouter(tags=["institutions"])
Officer = Annotated[Principal, Depends(require_roles("district_officer"))]
Staff = Annotated[Principal, Depends(require_roles("district_officer", "city_admin", "auditor"))]


class InstitutionRequest(BaseModel):
    name: str = Field(min_length=2, max_length=128)
    subdistrict: str = Field(min_length=2, max_length=64, description="the confirming 街道/乡镇")
    confirmation_ref: str = Field(min_length=3, max_length=128, description="the sub-district's confirmation document")


class InstitutionResponse(BaseModel):
    id: uuid.UUID
    name: str
    district: str
    subdistrict: str
    confirmation_ref: str
    confirmed_by: str
    confirmed_at: datetime
    listed_at: datetime | None = Field(description="on the dishonesty list (失信名单) since, if listed")


@router.post(
    "/api/v1/institutions",
    response_model=InstitutionResponse,
    status_code=201,
    summary="Register an institution of the officer's district with its sub-district's confirmation",
)
async def register(body: InstitutionRequest, officer: Officer, session: Session) -> InstitutionResponse:
    institution = await institutions.register(
        session, officer=officer, name=body.name, subdistrict=body.subdistrict, confirmation_ref=body.confirmation_ref
    )
    return InstitutionResponse.model_validate(institution, from_attributes=True)


@router.get(
    "/api/v1/institutions",
    response_model=Page[InstitutionResponse],
    summary="Institutions and their standing (officers: their own district), newest first (cursor pages)",
)
async def listing(
    staff: Staff, session: Session, page: PageParams, district: Annotated[District | None, Query()] = None
) -> Page[InstitutionResponse]:
    shown, cursor = await institutions.visible_to(session, staff, district, page.for_list(institutions.INSTITUTIONS))
    return Page[InstitutionResponse](
        items=[InstitutionResponse.model_validate(i, from_attributes=True) for i in shown], next_cursor=cursor
    )
