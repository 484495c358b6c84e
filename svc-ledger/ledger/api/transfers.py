from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Request, Response
from pydantic import BaseModel, Field

from ledger.api.accounts import own_person_id
from ledger.domain import clock, transfers
from ledger.settings import LedgerSettings
from servicekit.auth import CurrentPrincipal, Principal, require_roles
from servicekit.deps import DbSession
from servicekit.errors import UnprocessableInput

router = APIRouter(tags=["transfers"])
Amount = Annotated[int, Field(gt=0, le=10_000_000, description="minutes (60 = 1 time coin)")]
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=128,
        description="required, client-chosen: a replay returns the first result; the same key with another body is 409",
    ),
]
Officer = Annotated[Principal, Depends(require_roles("district_officer"))]


class GiftRequest(BaseModel):
    to_person_id: uuid.UUID
    amount: Amount


class DonationRequest(BaseModel):
    amount: Amount


class SpecialElderTransferRequest(BaseModel):
    person_id: uuid.UUID
    amount: Amount
    reason: str = Field(min_length=2, max_length=200)


class OperationResponse(BaseModel):
    operation_id: uuid.UUID
    kind: str
    amount: int
    from_person_id: uuid.UUID | None = None
    to_person_id: uuid.UUID | None = None
    person_id: uuid.UUID | None = None
    district: str | None = None
    reason: str | None = None


def _key(key: str | None) -> str:
    if key is None or not key.strip():
        raise UnprocessableInput(
            "请提供 Idempotency-Key 请求头，以便安全重试",
            "An Idempotency-Key header is required so the request can be retried safely",
        )
    return key.strip()


def _caller(principal: Principal) -> transfers.Caller:
    return transfers.Caller(actor=principal.id, person_id=own_person_id(principal), acting_for=principal.acting_for)


def _settings(request: Request) -> LedgerSettings:
    return request.app.state.runtime.settings


def _reply(outcome: transfers.Outcome) -> Response:
    """201 with the operation, or 200 and `Idempotent-Replayed` for a replay. The body is OperationResponse's own
    rendering, answered as it is: FastAPI validating it once more before serialising was ~8 % of a gift's handling."""
    return Response(
        OperationResponse.model_validate(outcome.result).model_dump_json(),
        status_code=200 if outcome.replayed else 201,
        media_type="application/json",
        headers={"Idempotent-Replayed": "true"} if outcome.replayed else None,
    )


@router.post(
    "/api/v1/gifts",
    status_code=201,
    response_model=OperationResponse,
    summary="Gift coins to a confirmed direct relative (earned or gifted coins only)",
)
async def gift(
    body: GiftRequest, principal: CurrentPrincipal, request: Request, idempotency_key: IdempotencyKey
) -> Response:
    # Through the desk: gifts arriving together share one transaction (ledger.desk).
    outcome = await request.app.state.gift_desk.gift(
        transfers.GiftCommand(_caller(principal), _key(idempotency_key), body.to_person_id, body.amount)
    )
    return _reply(outcome)


@router.post(
    "/api/v1/donations",
    status_code=201,
    response_model=OperationResponse,
    summary="Donate coins to the public-welfare account (公益账户)",
)
async def donate(
    body: DonationRequest, principal: CurrentPrincipal, session: DbSession, idempotency_key: IdempotencyKey
) -> Response:
    outcome = await transfers.donate(
        session, _caller(principal), key=_key(idempotency_key), amount=body.amount, now=clock.now()
    )
    return _reply(outcome)


@router.post(
    "/api/v1/grants",
    status_code=201,
    response_model=OperationResponse,
    summary="Grant free coins from the district's issuance account to a special elder of the district",
)
async def grant(
    body: SpecialElderTransferRequest,
    officer: Officer,
    session: DbSession,
    request: Request,
    idempotency_key: IdempotencyKey,
) -> Response:
    return await _to_special_elder(transfers.grant, body, officer, session, request, idempotency_key)


@router.post(
    "/api/v1/welfare-allocations",
    status_code=201,
    response_model=OperationResponse,
    summary="Allocate coins from the public-welfare account to a special elder of the district",
)
async def allocate(
    body: SpecialElderTransferRequest,
    officer: Officer,
    session: DbSession,
    request: Request,
    idempotency_key: IdempotencyKey,
) -> Response:
    return await _to_special_elder(transfers.allocate_welfare, body, officer, session, request, idempotency_key)


async def _to_special_elder(
    use_case,
    body: SpecialElderTransferRequest,
    officer: Principal,
    session,
    request: Request,
    idempotency_key: str | None,
) -> Response:
    outcome = await use_case(
        session,
        transfers.Caller(actor=officer.id, district=officer.district),
        key=_key(idempotency_key),
        person_id=body.person_id,
        amount=body.amount,
        reason=body.reason,
        limit=_settings(request).grant_limit_minutes,
        now=clock.now(),
    )
    return _reply(outcome)
