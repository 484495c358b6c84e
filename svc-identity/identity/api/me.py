from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from identity.api.deps import Session
from identity.api.schemas import MeResponse, RealNameRequest, RealNameResponse
from identity.domain import contact, real_name, residence, roles, staff
from servicekit import clock
from servicekit.auth import CurrentPrincipal, Principal, require_roles
from servicekit.errors import Forbidden

router = APIRouter(tags=["people"])


class UnmaskedRealNameResponse(BaseModel):
    person_id: uuid.UUID
    name: str
    id_number: str


@router.get("/api/v1/me", response_model=MeResponse, summary="The caller's profile, roles and verification state")
async def me(principal: CurrentPrincipal, session: Session) -> MeResponse:
    verification, held_roles, district = None, sorted(principal.roles), principal.district
    if principal.kind == "person" or principal.acting_for:
        verification = await real_name.verification_of(session, uuid.UUID(principal.subject))
        if principal.kind == "person":  # current grants and residence, not the (up to 15 min old) token's copy
            held_roles = list(await roles.live_roles(session, uuid.UUID(principal.subject)))
            district = await residence.district_of(session, uuid.UUID(principal.subject))
    phone = await contact.masked_phone(session, uuid.UUID(principal.subject)) if principal.kind == "person" else None
    name = await staff.display_name(session, principal.id) if principal.kind == "staff" else None
    return MeResponse(
        id=principal.id,
        kind=principal.kind,
        roles=held_roles,
        district=district,
        acting_for=principal.acting_for,
        display_name=name,
        phone_masked=phone,
        real_name=RealNameResponse.model_validate(verification, from_attributes=True) if verification else None,
    )


class PhoneRequest(BaseModel):
    phone: str = Field(min_length=11, max_length=20, description="mainland China mobile number")


class PhoneResponse(BaseModel):
    phone_masked: str | None = Field(description="the proven number in use, if any")
    pending_masked: str | None = Field(default=None, description="the number waiting for its code")


class PhoneCode(BaseModel):
    code: str = Field(min_length=6, max_length=6, pattern=r"^\d{6}$")


def own_person(principal: Principal) -> uuid.UUID:
    if principal.kind != "person" or principal.acting_for:
        raise Forbidden("仅限本人", "Persons themselves only")
    return uuid.UUID(principal.id)


@router.put(
    "/api/v1/me/phone",
    response_model=PhoneResponse,
    status_code=202,
    summary="Your contact phone, for urgent messages by SMS (a first-aid alert) when WeChat cannot deliver: "
    "a code is texted to it; confirm it to start using the number",
)
async def set_phone(
    body: PhoneRequest, principal: CurrentPrincipal, session: Session, request: Request
) -> PhoneResponse:
    person = own_person(principal)
    pending = await contact.start_verification(
        session,
        request.app.state.pii,
        request.app.state.sms,
        person,
        body.phone,
        settings=request.app.state.runtime.settings,
        now=clock.now(),
    )
    return PhoneResponse(phone_masked=await contact.masked_phone(session, person), pending_masked=pending)


@router.post(
    "/api/v1/me/phone/verification",
    response_model=PhoneResponse,
    summary="Confirm the code texted to your new contact phone",
)
async def confirm_phone(
    body: PhoneCode, principal: CurrentPrincipal, session: Session, request: Request
) -> PhoneResponse:
    person = own_person(principal)
    runtime = request.app.state.runtime
    masked = await contact.confirm(runtime.db, session, person, body.code, settings=runtime.settings, now=clock.now())
    return PhoneResponse(phone_masked=masked)


@router.post(
    "/api/v1/me/real-name",
    response_model=RealNameResponse,
    summary="Real-name verification: name and 居民身份证号; the number is shown masked only",
)
async def verify(
    body: RealNameRequest, principal: CurrentPrincipal, session: Session, request: Request
) -> RealNameResponse:
    if principal.kind != "person" and not principal.acting_for:
        raise Forbidden("只有个人可以实名认证", "Only people verify their real name")
    result = await real_name.verify_real_name(
        session,
        request.app.state.pii,
        request.app.state.real_name_authority,
        person_id=uuid.UUID(principal.subject),
        name=body.name,
        id_number=body.id_number,
        actor=principal.id,
    )
    return RealNameResponse.model_validate(result, from_attributes=True)


class FollowUpContact(BaseModel):
    person_id: uuid.UUID
    name: str | None = Field(description="the verified real name; null if not verified")
    phone: str | None = Field(description="the proven contact phone; null if none on record")


@router.get(
    "/api/v1/people/{person_id}/contact",
    response_model=FollowUpContact,
    summary="An elder's name and phone, unmasked, for the institution operator who took a follow-up (回访) "
    "about them while it is open; every read is audited",
)
async def follow_up_contact(
    person_id: uuid.UUID,
    session: Session,
    request: Request,
    reader: Annotated[Principal, Depends(require_roles("institution_operator"))],
    follow_up: Annotated[uuid.UUID, Query(description="the follow-up taken (GET /api/v1/follow-ups)")],
) -> FollowUpContact:
    found = await contact.read_for_follow_up(
        session, request.app.state.pii, person_id=person_id, follow_up_id=follow_up, reader=reader
    )
    return FollowUpContact(person_id=found.person_id, name=found.name, phone=found.phone)


@router.get(
    "/api/v1/people/{person_id}/real-name",
    response_model=UnmaskedRealNameResponse,
    summary="Unmasked name and identity number, for auditors and city admins; every read is audited",
)
async def unmasked_real_name(
    person_id: uuid.UUID,
    session: Session,
    request: Request,
    reader: Annotated[Principal, Depends(require_roles("auditor", "city_admin"))],
    purpose: Annotated[str, Query(min_length=4, max_length=200, description="Why the data is needed (audited)")],
) -> UnmaskedRealNameResponse:
    result = await real_name.read_unmasked(
        session,
        request.app.state.pii,
        person_id=person_id,
        reader=reader.id,
        reader_roles=sorted(reader.roles),
        purpose=purpose,
    )
    return UnmaskedRealNameResponse(person_id=result.person_id, name=result.name, id_number=result.id_number)
