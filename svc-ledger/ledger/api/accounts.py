from __future__ import annotations

import uuid
from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel, Field

from servicekit.auth import CurrentPrincipal
from servicekit.deps import DbSession
from servicekit.errors import Forbidden
from ledger.domain import accounts

router = APIRouter(tags=["accounts"])


class AccountResponse(BaseModel):
    account_id: uuid.UUID
    person_id: uuid.UUID
    unit: str = Field("minute", description="Amounts are integer minutes; 60 minutes = 1 time coin")
    balance: int
    held: int
    available: int
    lifetime_earned: int
    opened_at: datetime


@router.get("/api/v1/accounts/me", response_model=AccountResponse, summary="The caller's time-coin account")
async def my_account(principal: CurrentPrincipal, session: DbSession) -> AccountResponse:
    if principal.kind != "person" and principal.acting_for is None:
        raise Forbidden("只有个人持有时间币账户", "Only people hold time-coin accounts")
    view = await accounts.view_person_account(session, uuid.UUID(principal.subject))
    return AccountResponse(**view.__dict__)
