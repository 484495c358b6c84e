"""Every ledger query lives here."""
from __future__ import annotations

import uuid

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from ledger.db.models import Account


async def account_of_person(session: AsyncSession, person_id: uuid.UUID) -> Account | None:
    return (await session.execute(select(Account).where(Account.owner_person_id == person_id))).scalar_one_or_none()


async def insert_person_account(session: AsyncSession, account_id: uuid.UUID, person_id: uuid.UUID) -> bool:
    """Open the account unless the person has one; True when this call opened it."""
    statement = (insert(Account).values(id=account_id, kind="person", owner_person_id=person_id, balance=0, held=0,
                                        lifetime_earned=0)
                 .on_conflict_do_nothing(index_elements=[Account.owner_person_id]).returning(Account.id))
    return (await session.execute(statement)).first() is not None


async def count_person_accounts(session: AsyncSession, person_id: uuid.UUID) -> int:
    query = select(func.count()).select_from(Account).where(Account.owner_person_id == person_id)
    return (await session.execute(query)).scalar_one()
