import asyncio
import uuid

import pytest
from sqlalchemy import text

from ledger.domain import accounts
from servicekit.db import Database
from servicekit.errors import NotFound


async def _scalar(db: Database, sql: str, **params):
    async with db.transaction() as session:
        return (await session.execute(text(sql), params)).scalar()


async def test_opening_an_account_twice_opens_one_and_publishes_once(ledger_db):
    person = uuid.uuid4()
    async with ledger_db.transaction() as session:
        assert await accounts.open_person_account(session, person) is True
    async with ledger_db.transaction() as session:
        assert await accounts.open_person_account(session, person) is False
    # One account per coin origin: earned, gifted, granted, allocated.
    assert await _scalar(ledger_db, "SELECT count(*) FROM accounts WHERE owner_person_id = :p", p=person) == 4
    assert (
        await _scalar(ledger_db, "SELECT count(*) FROM outbox WHERE event_type = 'timebank.ledger.account.opened'") == 1
    )
    async with ledger_db.transaction() as session:
        view = await accounts.view_person_account(session, person)
    assert (view.balance, view.held, view.available) == (0, 0, 0)


async def test_concurrent_openings_for_one_person_open_one_account(ledger_db):
    person = uuid.uuid4()

    async def open_once() -> bool:
        async with ledger_db.transaction() as session:
            return await accounts.open_person_account(session, person)

    results = await asyncio.gather(*(open_once() for _ in range(8)))
    assert sorted(results) == [False] * 7 + [True]
    assert await _scalar(ledger_db, "SELECT count(*) FROM accounts WHERE owner_person_id = :p", p=person) == 4


async def test_balance_may_not_fall_below_holds(ledger_db):
    person = uuid.uuid4()
    async with ledger_db.transaction() as session:
        await accounts.open_person_account(session, person)
    with pytest.raises(Exception, match="not_below_holds"):
        async with ledger_db.transaction() as session:
            await session.execute(text("UPDATE accounts SET held = 60 WHERE owner_person_id = :p"), {"p": person})


async def test_transfers_and_entries_are_append_only(ledger):
    elder = await ledger.person(special=["advanced_age"])
    await ledger.grant(elder, 60)
    for statement in ("UPDATE entries SET amount = amount + 1", "DELETE FROM transfers"):
        with pytest.raises(Exception, match="append-only"):
            async with ledger.db.transaction() as session:
                await session.execute(text(statement))


async def test_no_account_is_a_not_found_problem(ledger_db):
    async with ledger_db.transaction() as session:
        with pytest.raises(NotFound):
            await accounts.view_person_account(session, uuid.uuid4())
