"""Account use cases."""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.ledger import AccountOpened
from contracts.topics import Topic
from servicekit.errors import NotFound
from servicekit.events import build_event, record_event
from ledger.db import repository

MINUTES_PER_COIN = 60


async def open_person_account(session: AsyncSession, person_id: uuid.UUID) -> bool:
    """Open a person's account (from identity's person.registered); a second call changes nothing."""
    account_id = uuid.uuid4()
    if not await repository.insert_person_account(session, account_id, person_id):
        return False
    data = AccountOpened(account_id=account_id, owner_person_id=person_id, kind="person",
                         opened_at=datetime.now(UTC))
    await record_event(session, topic=Topic.LEDGER,
                       event=build_event(source="ledger", data=data, subject=str(account_id)))
    return True


@dataclass(frozen=True)
class AccountView:
    account_id: uuid.UUID
    person_id: uuid.UUID
    balance: int
    held: int
    available: int
    lifetime_earned: int
    opened_at: datetime


async def view_person_account(session: AsyncSession, person_id: uuid.UUID) -> AccountView:
    account = await repository.account_of_person(session, person_id)
    if account is None or account.owner_person_id is None:
        raise NotFound("账户尚未开立，请稍后再试", "No account yet; it opens shortly after registration")
    return AccountView(account_id=account.id, person_id=account.owner_person_id, balance=account.balance,
                       held=account.held, available=account.balance - account.held,
                       lifetime_earned=account.lifetime_earned, opened_at=account.opened_at)
