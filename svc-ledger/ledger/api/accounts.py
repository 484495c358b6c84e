from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from ledger.domain import accounts
from servicekit.auth import CurrentPrincipal, Principal, require_roles
from servicekit.deps import DbSession
from servicekit.errors import Forbidden
from servicekit.pagination import Page, PageParams

router = APIRouter(tags=["accounts"])
UNIT = "Amounts are integer minutes; 60 minutes = 1 time coin."


class PocketResponse(BaseModel):
    origin: str = Field(description="earned (服务所得), gifted (亲属赠予), granted (政府赠予), allocated (公益分配)")
    balance: int
    held: int


class MilestoneResponse(BaseModel):
    milestone: str
    goal: int
    progress: int
    reached_at: datetime | None


class AccountResponse(BaseModel):
    person_id: uuid.UUID
    unit: str = Field("minute", description=UNIT)
    balance: int
    held: int = Field(description="held for published requests until they are served or cancelled")
    available: int
    transferable: int = Field(description="what may be gifted or donated (earned and gifted coins)")
    redeemable_for_own_services: int = Field(description="own coins redeem from age 60; granted/allocated any time")
    lifetime_earned: int
    stored_earned: int
    clawback_due: int = Field(description="coins reversed by audit that the holder no longer had")
    district: str | None
    by_origin: list[PocketResponse]
    milestones: list[MilestoneResponse]
    opened_at: datetime


class EntryResponse(BaseModel):
    entry_id: int
    at: datetime
    amount: int = Field(description="signed: credits positive")
    origin: str
    balance_after: int = Field(description="the balance of this origin after the entry")
    kind: str = Field(description="settlement, payment, gift, donation, grant, welfare_allocation, reversal, refund")
    reference: uuid.UUID | None
    operation_id: uuid.UUID


class LiabilityRow(BaseModel):
    district: str
    origin: str
    outstanding: int
    holders: int


def own_person_id(principal: Principal) -> uuid.UUID:
    if principal.kind != "person" and principal.acting_for is None:
        raise Forbidden("只有个人持有时间币账户", "Only people hold time-coin accounts")
    try:
        return uuid.UUID(principal.subject)
    except ValueError:
        raise Forbidden("只有个人持有时间币账户", "Only people hold time-coin accounts") from None


def _response(view: accounts.AccountView) -> AccountResponse:
    return AccountResponse(
        **{k: v for k, v in view.__dict__.items() if k not in ("by_origin", "milestones")},
        by_origin=[PocketResponse(**p.__dict__) for p in view.by_origin],
        milestones=[MilestoneResponse(**m) for m in view.milestones],
    )


@router.get("/api/v1/accounts/me", response_model=AccountResponse, summary="The caller's time-coin account")
async def my_account(principal: CurrentPrincipal, session: DbSession) -> AccountResponse:
    return _response(await accounts.view_person_account(session, own_person_id(principal)))


@router.get(
    "/api/v1/accounts/me/entries",
    response_model=Page[EntryResponse],
    summary="The caller's statement, newest first (cursor pages)",
)
async def my_entries(principal: CurrentPrincipal, session: DbSession, page: PageParams) -> Page[EntryResponse]:
    rows, cursor = await accounts.statement(session, own_person_id(principal), page.for_list(accounts.STATEMENT))
    return Page[EntryResponse](items=[_entry(r) for r in rows], next_cursor=cursor)


def _entry(r) -> EntryResponse:
    return EntryResponse(
        entry_id=r.id,
        at=r.created_at,
        amount=r.amount,
        origin=r.origin,
        balance_after=r.balance_after,
        kind=r.kind,
        reference=r.reference,
        operation_id=r.operation_id,
    )


StaffReader = Annotated[Principal, Depends(require_roles("district_officer", "city_admin", "auditor"))]


@router.get(
    "/api/v1/accounts/liability",
    response_model=list[LiabilityRow],
    summary="Outstanding coins (the redemption liability) by holder district and origin",
)
async def liability(principal: StaffReader, session: DbSession, district: str | None = None) -> list[LiabilityRow]:
    return [LiabilityRow(**row._mapping) for row in await accounts.liability(session, principal, district)]


@router.get(
    "/api/v1/accounts/{person_id}", response_model=AccountResponse, summary="Someone's account (staff in scope)"
)
async def someones_account(person_id: uuid.UUID, principal: StaffReader, session: DbSession) -> AccountResponse:
    return _response(await accounts.view_for_staff(session, person_id, principal))


@router.get(
    "/api/v1/accounts/{person_id}/entries",
    response_model=Page[EntryResponse],
    summary="Someone's statement, newest first (staff in scope; cursor pages)",
)
async def someones_entries(
    person_id: uuid.UUID, principal: StaffReader, session: DbSession, page: PageParams
) -> Page[EntryResponse]:
    rows, cursor = await accounts.statement_for_staff(session, person_id, principal, page.for_list(accounts.STATEMENT))
    return Page[EntryResponse](items=[_entry(r) for r in rows], next_cursor=cursor)


class LedgerExport(BaseModel):
    """What the ledger holds about the caller: their account and every entry of it (for PIPL's right to a copy)."""

    account: AccountResponse | None = Field(description="null until the account opens")
    entries: list[EntryResponse] = Field(description="every entry, newest first")


@router.get(
    "/api/v1/me/data/ledger",
    response_model=LedgerExport,
    summary="The caller's data held by the ledger: the account and its whole statement (part of GET /api/v1/me/data)",
)
async def my_ledger_data(principal: CurrentPrincipal, session: DbSession) -> LedgerExport:
    account, rows = await accounts.data_of(session, own_person_id(principal))
    return LedgerExport(
        account=_response(account) if account else None,
        entries=[
            EntryResponse(
                entry_id=r.id,
                at=r.created_at,
                amount=r.amount,
                origin=r.origin,
                balance_after=r.balance_after,
                kind=r.kind,
                reference=r.reference,
                operation_id=r.operation_id,
            )
            for r in rows
        ],
    )
