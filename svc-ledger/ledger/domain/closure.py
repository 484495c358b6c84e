"""A closed account (identity's `person.erased`): its coins move by the rule its holder chose when closing —
earned and gifted coins to the public-welfare account (公益账户) or to the named direct relative (confirmed when
the closure was asked: the link itself is revoked by the erasure), granted coins back to the district that
issued them, welfare-allocated coins back to the welfare account (both pay only for their holder's own
services). Coins still held (a service not yet settled) stay held; if they are released later, the sweep moves
them by the same rule. The account stays, empty, with every entry (kept under the person id alone)."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.identity import PersonErased
from contracts.ledger import AccountClosed
from ledger.db import holders, repository
from ledger.domain.book import Book
from ledger.domain.publish import publish
from servicekit.db import Database
from servicekit.ids import new_id


async def close(session: AsyncSession, erased: PersonErased, *, now: datetime) -> None:
    await holders.record_closure(session, erased.person_id, erased.relative_id, erased.erased_at)
    await move_coins(session, erased.person_id, now=now)


async def move_coins(session: AsyncSession, person_id: uuid.UUID, *, now: datetime) -> bool:
    """Move what a closed account holds free by its rule; False when there was nothing to move."""
    closure = await holders.closure(session, person_id)
    if closure is None:
        return False
    relative, district = closure.relative_id, closure.issuing_district
    if relative is not None:
        await repository.insert_accounts_of(session, [relative])  # a relative's account may not be open yet
    book = Book(session, new_id())
    await book.lock(
        persons=[person_id, *([relative] if relative else [])], welfare=True, districts=[district] if district else []
    )
    welfare = book.system("welfare")
    issuing = book.system("district_issuance", district=district) if district else welfare
    heir = book.account(relative, "gifted") if relative else welfare
    moved = {"welfare": 0, "relative": 0, "district": 0}
    for origin, pocket in sorted(book.pockets(person_id).items()):
        free = pocket.balance - pocket.held
        if free <= 0:
            continue
        target = {"earned": heir, "gifted": heir, "granted": issuing}.get(origin, welfare)
        book.transfer(pocket, target, free, kind="closure", reference=person_id)
        moved[
            "relative" if target is heir and relative else "district" if target is issuing and district else "welfare"
        ] += free
    if not any(moved.values()):
        return False
    await book.write()
    await publish(
        session,
        AccountClosed(
            person_id=person_id,
            to_welfare=moved["welfare"],
            to_relative=moved["relative"],
            relative_id=relative,
            to_district=moved["district"],
            district=district,
            closed_at=now,
        ),
        subject=person_id,
    )
    return True


async def sweep(db: Database, *, now: datetime, batch: int = 100) -> int:
    """Move coins that reached closed accounts after their closure; each account in its own transaction."""
    async with db.transaction() as session:
        due = await holders.closed_with_coins(session, batch)
    for person_id in due:
        async with db.transaction() as session:
            await move_coins(session, person_id, now=now)
    return len(due)
