from __future__ import annotations

import uuid

from fastapi import APIRouter, Request

from servicekit.auth import CurrentPrincipal
from servicekit.errors import Forbidden
from identity.api.deps import Session
from identity.api.schemas import MeResponse, RealNameRequest, RealNameResponse
from identity.domain import real_name

router = APIRouter(tags=["people"])


@router.get("/api/v1/me", response_model=MeResponse, summary="The caller's profile, roles and verification state")
async def me(principal: CurrentPrincipal, session: Session) -> MeResponse:
    verification = None
    if principal.kind == "person" or principal.acting_for:
        verification = await real_name.verification_of(session, uuid.UUID(principal.subject))
    return MeResponse(id=principal.id, kind=principal.kind, roles=sorted(principal.roles),
                      district=principal.district, acting_for=principal.acting_for,
                      real_name=RealNameResponse.model_validate(verification, from_attributes=True) if verification else None)


@router.post("/api/v1/me/real-name", response_model=RealNameResponse,
             summary="Real-name verification: name and 居民身份证号; the number is shown masked only")
async def verify(body: RealNameRequest, principal: CurrentPrincipal, session: Session, request: Request) -> RealNameResponse:
    if principal.kind != "person" and not principal.acting_for:
        raise Forbidden("只有个人可以实名认证", "Only people verify their real name")
    result = await real_name.verify_real_name(session, request.app.state.pii, person_id=uuid.UUID(principal.subject),
                                              name=body.name, id_number=body.id_number, actor=principal.id)
    return RealNameResponse.model_validate(result, from_attributes=True)
