"""Fixtures for the ledger's tests: a fresh ledger database migrated to head on the real PostgreSQL, and
`ledger` helpers that drive the use cases the way the consumer and the routers do (each call in its own
transaction, like one request or one event)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, date, datetime, timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import text

from contracts.audit import SanctionApplied
from contracts.matching import RequestSubmitted, ServiceCompleted, ServiceParticipant
from ledger.db import holders, invariants, kin_links
from ledger.domain import accounts, holds, settlement, transfers
from ledger.settings import LedgerSettings
from servicekit.db import Database
from servicekit.migrations import upgrade_to_head

NOW = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)
OLD = date(1950, 1, 1)  # turns 60 long ago
YOUNG = date(2040, 1, 1)  # turns 60 in the future


@pytest.fixture
async def ledger_db(infra):
    url = infra.create_database("ledger_unit")
    await asyncio.to_thread(upgrade_to_head, LedgerSettings().migrations_path, url)
    db = Database(url, pool_size=20)
    yield db
    async with db.transaction() as session:
        assert await invariants.violations(session) == {}, "ledger invariants broken at the end of the test"
    await db.dispose()


@pytest.fixture
def ledger(ledger_db):
    db = ledger_db

    async def person(
        *, redemption_age: bool = True, district: str | None = "110105", special: list[str] | None = None
    ) -> uuid.UUID:
        person_id = uuid.uuid4()
        async with db.transaction() as session:
            await accounts.open_person_account(session, person_id)
            await holders.record_redemption_age(session, person_id, redemption_age)
            if district:
                await holders.record_residence(session, person_id, district)
            if special:
                assert district, "a special elder's groups are set by their district"
                await holders.record_special_groups(session, person_id, district, special)
        return person_id

    async def relate(a: uuid.UUID, b: uuid.UUID, relation: str = "child") -> uuid.UUID:
        """b is a's `relation`, as identity confirmed it."""
        link = uuid.uuid4()
        async with db.transaction() as session:
            await kin_links.record(session, link, a, b, relation)
        return link

    async def grant(person_id: uuid.UUID, amount: int, *, district: str = "110105", key: str | None = None):
        async with db.transaction() as session:
            return await transfers.grant(
                session,
                transfers.Caller(actor=f"officer-{district}", district=district),
                key=key or str(uuid.uuid4()),
                person_id=person_id,
                amount=amount,
                reason="经济困难老人补贴",
                limit=10**9,
                now=NOW,
            )

    async def earn(person_id: uuid.UUID, minutes: int) -> uuid.UUID:
        """Coins earned the real way: a rich elder's request, held and settled."""
        payer = await person(special=["advanced_age"])
        await grant(payer, minutes)
        request_id = await submit(payer, minutes)
        await complete(request_id, payer, [(person_id, minutes)])
        return request_id

    async def submit(
        elder_id: uuid.UUID,
        minutes: int,
        *,
        request_id: uuid.UUID | None = None,
        ends_at: datetime = NOW + timedelta(days=1),
    ) -> uuid.UUID:
        request_id = request_id or uuid.uuid4()
        async with db.transaction() as session:
            await holds.place_hold(
                session,
                RequestSubmitted(
                    request_id=request_id,
                    elder_id=elder_id,
                    district="110105",
                    category="情感慰藉",
                    estimated_minutes=minutes,
                    starts_at=ends_at - timedelta(minutes=minutes),
                    ends_at=ends_at,
                    submitted_by=str(elder_id),
                    submitted_at=NOW,
                ),
                now=NOW,
                grace=timedelta(hours=1),
            )
        return request_id

    async def complete(request_id: uuid.UUID, elder_id: uuid.UUID, served: list[tuple[uuid.UUID, int]]) -> bool:
        async with db.transaction() as session:
            return await settlement.settle_service(
                session,
                ServiceCompleted(
                    request_id=request_id,
                    elder_id=elder_id,
                    district="110105",
                    completed_at=NOW,
                    participants=[ServiceParticipant(volunteer_id=v, minutes=m) for v, m in served],
                ),
                now=NOW,
            )

    async def cancel(request_id: uuid.UUID) -> bool:
        async with db.transaction() as session:
            return await holds.release_hold(session, request_id, now=NOW)

    async def sanction(
        volunteer_id: uuid.UUID | None, request_ids: list[uuid.UUID], sanction_id: uuid.UUID | None = None
    ):
        async with db.transaction() as session:
            return await settlement.reverse_false_records(
                session,
                SanctionApplied(
                    sanction_id=sanction_id or uuid.uuid4(),
                    alert_id=uuid.uuid4(),
                    kind="volunteer_recording_revoked",
                    person_id=volunteer_id,
                    false_request_ids=request_ids,
                    decided_by="auditor",
                    note="回访确认",
                    decided_at=NOW,
                ),
                now=NOW,
            )

    async def gift(sender: uuid.UUID, to: uuid.UUID, amount: int, *, key: str | None = None):
        async with db.transaction() as session:
            return await transfers.gift(
                session,
                transfers.Caller(actor=str(sender), person_id=sender),
                key=key or str(uuid.uuid4()),
                to_person_id=to,
                amount=amount,
                now=NOW,
            )

    async def donate(donor: uuid.UUID, amount: int, *, key: str | None = None):
        async with db.transaction() as session:
            return await transfers.donate(
                session,
                transfers.Caller(actor=str(donor), person_id=donor),
                key=key or str(uuid.uuid4()),
                amount=amount,
                now=NOW,
            )

    async def allocate(person_id: uuid.UUID, amount: int, *, district: str = "110105", key: str | None = None):
        async with db.transaction() as session:
            return await transfers.allocate_welfare(
                session,
                transfers.Caller(actor=f"officer-{district}", district=district),
                key=key or str(uuid.uuid4()),
                person_id=person_id,
                amount=amount,
                reason="公益账户定向分配",
                limit=10**9,
                now=NOW,
            )

    async def view(person_id: uuid.UUID) -> accounts.AccountView:
        async with db.transaction() as session:
            return await accounts.view_person_account(session, person_id, today=NOW.date())

    async def pockets(person_id: uuid.UUID) -> dict[str, int]:
        return {p.origin: p.balance for p in (await view(person_id)).by_origin}

    async def system_balance(kind: str, *, district: str | None = None) -> int:
        async with db.transaction() as session:
            return (
                await session.execute(
                    text(
                        "SELECT sum(balance) FROM accounts WHERE kind = :k AND (CAST(:d AS text) IS NULL OR district = :d)"
                    ),
                    {"k": kind, "d": district},
                )
            ).scalar_one()

    async def scalar(sql: str, **params):
        async with db.transaction() as session:
            return (await session.execute(text(sql), params)).scalar()

    async def broken() -> dict:
        async with db.transaction() as session:
            return await invariants.violations(session)

    return SimpleNamespace(
        db=db,
        person=person,
        relate=relate,
        grant=grant,
        earn=earn,
        submit=submit,
        complete=complete,
        cancel=cancel,
        sanction=sanction,
        gift=gift,
        donate=donate,
        allocate=allocate,
        view=view,
        pockets=pockets,
        system_balance=system_balance,
        scalar=scalar,
        broken=broken,
    )
