from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from servicekit.auth import CurrentPrincipal, Principal, require_roles
from servicekit.errors import Forbidden
from identity.api.deps import Session
from identity.api.schemas import MeResponse, RealNameRequest, RealNameResponse
from identity.domain import contact, real_name, roles

router = APIRouter(tags=["people"])


class UnmaskedRealNameResponse(BaseModel):
    person_id: uuid.UUID
    name: str
    id_number: str


@router.get("/api/v1/me", response_model=MeResponse, summary="The caller's profile, roles and verification state")
async def me(principal: CurrentPrincipal, session: Session) -> MeResponse:
    verification, held_roles = None, sorted(principal.roles)
    if principal.kind == "person" or principal.acting_for:
        verification = await real_name.verification_of(session, uuid.UUID(principal.subject))
        if principal.kind == "person":  # current grants, not the (up to 15 min old) token's copy
            held_roles = list(await roles.live_roles(session, uuid.UUID(principal.subject)))
    phone = await contact.masked_phone(session, uuid.UUID(principal.subject)) if principal.kind == "person" else None
    return MeResponse(id=principal.id, kind=principal.kind, roles=held_roles,
                      district=principal.district, acting_for=principal.acting_for, phone_masked=phone,
                      real_name=RealNameResponse.model_validate(verification, from_attributes=True) if verification else None)


class PhoneRequest(BaseModel):
    phone: str = Field(min_length=11, max_length=20, description="mainland China mobile number")


class PhoneResponse(BaseModel):
    phone_masked: str


@router.put("/api/v1/me/phone", response_model=PhoneResponse,
            summary="Your contact phone, for urgent messages by SMS (a first-aid alert) when WeChat cannot deliver")
async def set_phone(body: PhoneRequest, principal: CurrentPrincipal, session: Session, request: Request) -> PhoneResponse:
    if principal.kind != "person":
        raise Forbidden("仅限本人", "Persons only")
    masked = await contact.set_phone(session, request.app.state.pii, uuid.UUID(principal.id), body.phone, datetime.now(UTC))
    return PhoneResponse(phone_masked=masked)


@router.post("/api/v1/me/real-name", response_model=RealNameResponse,
             summary="Real-name verification: name and 居民身份证号; the number is shown masked only")
async def verify(body: RealNameRequest, principal: CurrentPrincipal, session: Session, request: Request) -> RealNameResponse:
    if principal.kind != "person" and not principal.acting_for:
        raise Forbidden("只有个人可以实名认证", "Only people verify their real name")
    result = await real_name.verify_real_name(session, request.app.state.pii, person_id=uuid.UUID(principal.subject),
                                              name=body.name, id_number=body.id_number, actor=principal.id)
    return RealNameResponse.model_validate(result, from_attributes=True)


@router.get("/api/v1/people/{person_id}/real-name", response_model=UnmaskedRealNameResponse,
            summary="Unmasked name and identity number, for auditors and city admins; every read is audited")
async def unmasked_real_name(
    person_id: uuid.UUID, session: Session, request: Request,
    reader: Annotated[Principal, Depends(require_roles("auditor", "city_admin"))],
    purpose: Annotated[str, Query(min_length=4, max_length=200, description="Why the data is needed (audited)")],
) -> UnmaskedRealNameResponse:
    result = await real_name.read_unmasked(session, request.app.state.pii, person_id=person_id, reader=reader.id,
                                           reader_roles=sorted(reader.roles), purpose=purpose)
    return UnmaskedRealNameResponse(person_id=result.person_id, name=result.name, id_number=result.id_number)
