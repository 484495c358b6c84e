"""Real-name claims: a person whose 居民身份证号 another account holds files one; staff decide on evidence."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field

from identity.api.deps import Session
from identity.api.schemas import RealNameRequest
from identity.domain import real_name_claims
from servicekit.auth import CurrentPrincipal, Principal, require_roles
from servicekit.errors import Forbidden

router = APIRouter(tags=["people"])
Decider = Annotated[Principal, Depends(require_roles("district_officer", "city_admin"))]


class ClaimResponse(BaseModel):
    id: uuid.UUID
    claimant_id: uuid.UUID
    holder_id: uuid.UUID = Field(description="the account that holds the number now")
    name_masked: str
    id_number_masked: str
    district: str | None = Field(description="the claimant's residence: its officers decide (city staff always may)")
    state: Literal["open", "transferred", "rejected"]
    opened_at: datetime
    decided_at: datetime | None
    decided_by: str | None
    evidence: str | None = Field(description="what the deciding staff member saw, in their words")


class ClaimDecision(BaseModel):
    decision: Literal["transfer", "reject"] = Field(
        description="transfer: the number leaves the holder's account and verifies the claimant"
    )
    evidence: str = Field(
        min_length=4, max_length=500, description="what was checked, e.g. 查验居民身份证原件，持证人为申请人本人"
    )


def _own(principal: Principal) -> uuid.UUID:
    if principal.kind != "person":
        raise Forbidden("仅限本人", "Persons themselves only")
    return uuid.UUID(principal.id)


@router.post(
    "/api/v1/me/real-name/claims",
    status_code=201,
    response_model=ClaimResponse,
    summary="Claim a 居民身份证号 another account is verified with (the authority must match your name to it); "
    "staff of your district decide",
)
async def file_claim(
    body: RealNameRequest, principal: CurrentPrincipal, session: Session, request: Request
) -> ClaimResponse:
    claim = await real_name_claims.file_claim(
        session,
        request.app.state.pii,
        request.app.state.real_name_authority,
        claimant_id=_own(principal),
        name=body.name,
        id_number=body.id_number,
        actor=principal.id,
    )
    return ClaimResponse.model_validate(claim, from_attributes=True)


@router.get("/api/v1/me/real-name/claims", response_model=list[ClaimResponse], summary="My real-name claims")
async def my_claims(principal: CurrentPrincipal, session: Session) -> list[ClaimResponse]:
    claims = await real_name_claims.claims_of(session, _own(principal))
    return [ClaimResponse.model_validate(claim, from_attributes=True) for claim in claims]


@router.get(
    "/api/v1/real-name-claims",
    response_model=list[ClaimResponse],
    summary="Open real-name claims, oldest first: a district officer's district, or everywhere for city staff",
)
async def open_claims(
    staff: Decider, session: Session, limit: Annotated[int, Query(ge=1, le=500)] = 100
) -> list[ClaimResponse]:
    claims = await real_name_claims.open_claims(session, staff, limit=limit)
    return [ClaimResponse.model_validate(claim, from_attributes=True) for claim in claims]


@router.post(
    "/api/v1/real-name-claims/{claim_id}/decision",
    response_model=ClaimResponse,
    summary="Decide a claim on the evidence seen (audited): transfer the number to the claimant, or reject",
)
async def decide(
    claim_id: uuid.UUID, body: ClaimDecision, staff: Decider, session: Session, request: Request
) -> ClaimResponse:
    claim = await real_name_claims.decide(
        session,
        request.app.state.pii,
        claim_id=claim_id,
        staff=staff,
        transfer=body.decision == "transfer",
        evidence=body.evidence,
    )
    return ClaimResponse.model_validate(claim, from_attributes=True)
