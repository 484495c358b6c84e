from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from identity.api.deps import Session
from identity.domain import kinship
from servicekit.auth import CurrentPrincipal
from servicekit.errors import Forbidden
from servicekit.pagination import Page, PageParams

router = APIRouter(tags=["kinship"])


class KinshipClaim(BaseModel):
    relative_id: uuid.UUID
    relation: Literal["parent", "child", "grandparent", "grandchild"] = Field(
        description="What the relative is to you: your parent, child, grandparent or grandchild"
    )


class KinshipConfirmation(BaseModel):
    document_ref: str | None = Field(
        None, min_length=3, max_length=128, description="Required when staff confirm: the document seen (户口簿 …)"
    )


class KinshipRevocation(BaseModel):
    reason: str = Field(min_length=2, max_length=200)


class KinshipResponse(BaseModel):
    id: uuid.UUID
    relative_id: uuid.UUID
    relation: str = Field(description="What the relative is to the caller")
    status: str
    claimed_by_me: bool
    awaiting_me: bool = Field(description="pending, and the caller is the one to confirm it")
    created_at: datetime


LinkStatus = Literal["pending", "confirmed", "revoked"]


def _person(principal) -> uuid.UUID:
    if principal.kind != "person" and not principal.acting_for:
        raise Forbidden("只有个人可以登记亲属关系", "Only people have relatives")
    return uuid.UUID(principal.subject)


@router.post(
    "/api/v1/kinships",
    response_model=KinshipResponse,
    status_code=201,
    summary="Claim a direct-relative link; the other person (or staff with a document) confirms",
)
async def claim(body: KinshipClaim, principal: CurrentPrincipal, session: Session) -> KinshipResponse:
    me = _person(principal)
    link = await kinship.claim(session, claimant=me, relative=body.relative_id, relation=body.relation)
    return KinshipResponse.model_validate(kinship.view_for(link, me), from_attributes=True)


@router.get(
    "/api/v1/kinships",
    response_model=Page[KinshipResponse],
    summary="My relatives, claimed either way, newest first (cursor pages); pending ones to confirm say so",
)
async def mine(
    principal: CurrentPrincipal, session: Session, page: PageParams, status: LinkStatus | None = None
) -> Page[KinshipResponse]:
    views, cursor = await kinship.links_of(session, _person(principal), page.for_list(kinship.KINSHIPS), status=status)
    return Page[KinshipResponse](
        items=[KinshipResponse.model_validate(v, from_attributes=True) for v in views], next_cursor=cursor
    )


@router.post("/api/v1/kinships/{link_id}/confirm", response_model=KinshipResponse, summary="Confirm a claimed link")
async def confirm(
    link_id: uuid.UUID, principal: CurrentPrincipal, session: Session, body: KinshipConfirmation | None = None
) -> KinshipResponse:
    link = await kinship.confirm(
        session, link_id=link_id, by=principal, document_ref=body.document_ref if body else None
    )
    return KinshipResponse.model_validate(kinship.view_for(link, link.claimant_id), from_attributes=True)


@router.post("/api/v1/kinships/{link_id}/revoke", response_model=KinshipResponse, summary="Revoke a link")
async def revoke(
    link_id: uuid.UUID, body: KinshipRevocation, principal: CurrentPrincipal, session: Session
) -> KinshipResponse:
    link = await kinship.revoke(session, link_id=link_id, by=principal, reason=body.reason)
    return KinshipResponse.model_validate(kinship.view_for(link, link.claimant_id), from_attributes=True)
