from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from identity.api.deps import Session
from identity.api.kinships import KinshipConfirmation, KinshipRevocation, LinkStatus
from identity.domain import guardianship
from servicekit.auth import CurrentPrincipal
from servicekit.errors import Forbidden
from servicekit.pagination import Page, PageParams

router = APIRouter(tags=["guardianships"])


class GuardianshipClaim(BaseModel):
    minor_id: uuid.UUID = Field(description="the minor student volunteer you are the guardian (监护人) of")


class GuardianshipResponse(BaseModel):
    id: uuid.UUID
    guardian_id: uuid.UUID
    minor_id: uuid.UUID
    status: str


class MyGuardianship(GuardianshipResponse):
    my_part: Literal["guardian", "minor"]
    awaiting_me: bool = Field(description="pending, and the caller (the minor) is the one to confirm it")
    created_at: datetime


@router.get(
    "/api/v1/guardianships",
    response_model=Page[MyGuardianship],
    summary="Guardianships I am the guardian or the minor of, newest first (cursor pages)",
)
async def mine(
    principal: CurrentPrincipal, session: Session, page: PageParams, status: LinkStatus | None = None
) -> Page[MyGuardianship]:
    if principal.kind != "person":
        raise Forbidden("仅限本人", "Persons themselves only")
    views, cursor = await guardianship.records_of(
        session, uuid.UUID(principal.subject), page.for_list(guardianship.GUARDIANSHIPS), status=status
    )
    return Page[MyGuardianship](
        items=[MyGuardianship.model_validate(v, from_attributes=True) for v in views], next_cursor=cursor
    )


@router.post(
    "/api/v1/guardianships",
    response_model=GuardianshipResponse,
    status_code=201,
    summary="Link a minor student volunteer to their guardian; the minor (or staff with a document) confirms",
)
async def claim(body: GuardianshipClaim, principal: CurrentPrincipal, session: Session) -> GuardianshipResponse:
    if principal.kind != "person":
        raise Forbidden("只有监护人本人可以登记", "Only the guardian may claim")
    record = await guardianship.claim(session, guardian=uuid.UUID(principal.subject), minor=body.minor_id)
    return GuardianshipResponse.model_validate(record, from_attributes=True)


@router.post(
    "/api/v1/guardianships/{guardianship_id}/confirm",
    response_model=GuardianshipResponse,
    summary="Confirm a guardianship (the minor, or staff with a document reference)",
)
async def confirm(
    guardianship_id: uuid.UUID, principal: CurrentPrincipal, session: Session, body: KinshipConfirmation | None = None
) -> GuardianshipResponse:
    record = await guardianship.confirm(
        session, guardianship_id=guardianship_id, by=principal, document_ref=body.document_ref if body else None
    )
    return GuardianshipResponse.model_validate(record, from_attributes=True)


@router.post(
    "/api/v1/guardianships/{guardianship_id}/revoke",
    response_model=GuardianshipResponse,
    summary="Revoke a guardianship (either person or staff, with a reason)",
)
async def revoke(
    guardianship_id: uuid.UUID, body: KinshipRevocation, principal: CurrentPrincipal, session: Session
) -> GuardianshipResponse:
    record = await guardianship.revoke(session, guardianship_id=guardianship_id, by=principal, reason=body.reason)
    return GuardianshipResponse.model_validate(record, from_attributes=True)
