"""Ledger queries: accounts, holds, statements and the liability view."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row, text
from sqlalchemy.ext.asyncio import AsyncSession

from servicekit.pagination import PageRequest

# Every holder has one account per origin of coins (migration 0001's check), opened together.
ORIGINS = ("earned", "gifted", "granted", "allocated")


@dataclass(frozen=True)
class Pending:
    """A pending transfer still unresolved (read from the database)."""

    id: uuid.UUID
    debit_account_id: uuid.UUID
    credit_account_id: uuid.UUID
    amount: int
    kind: str


async def insert_person_accounts(session: AsyncSession, person_id: uuid.UUID) -> uuid.UUID | None:
    """Open the person's four origin accounts unless they exist; the earned account's id when this call
    opened them."""
    opened = await insert_accounts_of(session, [person_id])
    return opened.get(person_id)


async def insert_accounts_of(session: AsyncSession, people: list[uuid.UUID]) -> dict[uuid.UUID, uuid.UUID]:
    """Open the origin accounts of everyone who has none yet: person -> earned account id, for those opened."""
    rows = (
        await session.execute(
            text(
                "INSERT INTO accounts (id, kind, owner_person_id, origin, balance, held)"
                " SELECT gen_random_uuid(), 'person', p, origin, 0, 0"
                " FROM unnest(CAST(:people AS uuid[])) AS p CROSS JOIN unnest(CAST(:origins AS text[])) AS origin"
                " ORDER BY p, origin"
                " ON CONFLICT (owner_person_id, origin) DO NOTHING RETURNING id, owner_person_id, origin"
            ),
            {"people": sorted(set(people)), "origins": list(ORIGINS)},
        )
    ).all()
    return {row.owner_person_id: row.id for row in rows if row.origin == "earned"}


async def person_pockets(session: AsyncSession, person_id: uuid.UUID) -> Sequence[Row]:
    return (
        await session.execute(
            text(
                "SELECT id, origin, balance, held, opened_at FROM accounts WHERE owner_person_id = :p ORDER BY origin"
            ),
            {"p": person_id},
        )
    ).all()


async def holder_row(session: AsyncSession, person_id: uuid.UUID):
    return (
        await session.execute(
            text(
                "SELECT lifetime_earned, clawback_due, milestone_reached_at, district, redemption_age FROM holders WHERE person_id = :p"
            ),
            {"p": person_id},
        )
    ).first()


async def statement(session: AsyncSession, person_id: uuid.UUID, page: PageRequest) -> Sequence[Row]:
    """One page of a person's entries across their origin accounts, newest first (entry ids grow with time)."""
    return (
        await session.execute(
            text(
                "SELECT e.id, e.amount, e.balance_after, e.created_at, a.origin, t.kind, t.code, t.reference,"
                "       t.operation_id"
                " FROM entries e JOIN accounts a ON a.id = e.account_id JOIN transfers t ON t.id = e.transfer_id"
                " WHERE a.owner_person_id = :p AND (CAST(:before AS bigint) IS NULL OR e.id < CAST(:before AS bigint))"
                " ORDER BY e.id DESC LIMIT :n"
            ),
            {"p": person_id, "before": page.after.id if page.after else None, "n": page.fetch},
        )
    ).all()


async def liability(session: AsyncSession, district: str | None) -> Sequence[Row]:
    """Outstanding person-held coins by holder district and origin (the redemption liability)."""
    return (
        await session.execute(
            text(
                "SELECT coalesce(h.district, 'unknown') AS district, a.origin, sum(a.balance) AS outstanding,"
                "       count(DISTINCT a.owner_person_id) FILTER (WHERE a.balance > 0) AS holders"
                " FROM accounts a LEFT JOIN holders h ON h.person_id = a.owner_person_id"
                " WHERE a.kind = 'person' AND (CAST(:d AS text) IS NULL OR h.district = :d)"
                " GROUP BY 1, 2 ORDER BY 1, 2"
            ),
            {"d": district},
        )
    ).all()


# --- holds ---------------------------------------------------------------------------------------------
async def lock_hold(session: AsyncSession, request_id: uuid.UUID):
    return (await lock_holds(session, [request_id])).get(request_id)


async def lock_holds(session: AsyncSession, request_ids: list[uuid.UUID]) -> dict:
    rows = (
        await session.execute(
            text(
                "SELECT id, request_id, elder_id, amount, status, expires_at FROM holds WHERE request_id = ANY(:r)"
                " ORDER BY id FOR UPDATE"
            ),
            {"r": request_ids},
        )
    ).all()
    return {row.request_id: row for row in rows}


async def insert_holds(session: AsyncSession, holds: list[dict]) -> None:
    """Pending holds (id, request_id, elder_id, amount, expires_at), one statement."""
    if holds:
        await session.execute(
            text(
                "INSERT INTO holds (id, request_id, elder_id, amount, status, expires_at)"
                " SELECT id, r, e, a, 'pending', x FROM unnest(CAST(:ids AS uuid[]), CAST(:r AS uuid[]), CAST(:e AS uuid[]),"
                " CAST(:a AS bigint[]), CAST(:x AS timestamptz[])) AS h(id, r, e, a, x)"
            ),
            {
                "ids": [h["id"] for h in holds],
                "r": [h["request_id"] for h in holds],
                "e": [h["elder_id"] for h in holds],
                "a": [h["amount"] for h in holds],
                "x": [h["expires_at"] for h in holds],
            },
        )


async def resolve_hold(session: AsyncSession, hold_id: uuid.UUID, status: str) -> None:
    await resolve_holds(session, [hold_id], status)


async def resolve_holds(session: AsyncSession, hold_ids: list[uuid.UUID], status: str) -> None:
    if hold_ids:
        await session.execute(
            text("UPDATE holds SET status = :s, resolved_at = now() WHERE id = ANY(:ids) AND status = 'pending'"),
            {"ids": hold_ids, "s": status},
        )


async def unresolved_legs(
    session: AsyncSession, request_ids: list[uuid.UUID], *, order: Sequence[str]
) -> dict[uuid.UUID, list[Pending]]:
    """Per request, its hold's pending transfers not yet posted, voided or expired, by their origin in `order`
    (the spending order)."""
    rows = (
        await session.execute(
            text(
                "SELECT p.reference, p.id, p.debit_account_id, p.credit_account_id, p.amount, p.kind FROM transfers p"
                " JOIN accounts a ON a.id = p.debit_account_id"
                " WHERE p.reference = ANY(:r) AND p.code = 'pending'"
                " AND NOT EXISTS (SELECT 1 FROM transfers r WHERE r.pending_id = p.id)"
                " ORDER BY p.reference, array_position(CAST(:order AS text[]), CAST(a.origin AS text))"
            ),
            {"r": request_ids, "order": list(order)},
        )
    ).all()
    legs: dict[uuid.UUID, list[Pending]] = {}
    for row in rows:
        legs.setdefault(row.reference, []).append(Pending(*row[1:]))
    return legs


async def expired_hold_requests(session: AsyncSession, now: datetime, limit: int) -> list[uuid.UUID]:
    return list(
        (
            await session.execute(
                text(
                    "SELECT request_id FROM holds WHERE status = 'pending' AND expires_at <= :now ORDER BY expires_at LIMIT :n"
                ),
                {"now": now, "n": limit},
            )
        ).scalars()
    )


# --- settlements ---------------------------------------------------------------------------------------
async def payments_for(session: AsyncSession, request_id: uuid.UUID) -> Sequence[Row]:
    """Coins paid to volunteers for a request, less what was already reversed, per volunteer."""
    return (
        await session.execute(
            text(
                "SELECT a.owner_person_id AS volunteer_id,"
                "       sum(CASE WHEN t.kind = 'payment' THEN t.amount ELSE 0 END)"
                "     - sum(CASE WHEN t.kind = 'reversal' THEN t.amount ELSE 0 END) AS outstanding"
                " FROM transfers t JOIN accounts a ON a.id = (CASE WHEN t.kind = 'payment' THEN t.credit_account_id"
                "                                                  ELSE t.debit_account_id END)"
                " WHERE t.reference = :r AND t.kind IN ('payment', 'reversal') AND a.origin = 'earned'"
                " GROUP BY a.owner_person_id ORDER BY a.owner_person_id"
            ),
            {"r": request_id},
        )
    ).all()


async def elder_contributions(session: AsyncSession, request_id: uuid.UUID, elder_id: uuid.UUID) -> dict[str, int]:
    """Per origin, what the elder paid for a request less what reversals gave back."""
    rows = (
        await session.execute(
            text(
                "SELECT a.origin, sum(CASE WHEN t.debit_account_id = a.id THEN t.amount ELSE -t.amount END) AS net"
                " FROM transfers t JOIN accounts a ON a.id IN (t.debit_account_id, t.credit_account_id)"
                " WHERE t.reference = :r AND a.owner_person_id = :e AND t.code IN ('post', 'transfer')"
                "   AND t.kind IN ('settlement', 'refund')"
                " GROUP BY a.origin"
            ),
            {"r": request_id, "e": elder_id},
        )
    ).all()
    return {row.origin: row.net for row in rows}


async def payer_of(session: AsyncSession, request_id: uuid.UUID) -> uuid.UUID | None:
    """The elder whose coins paid for a request."""
    return (
        await session.execute(
            text(
                "SELECT a.owner_person_id FROM transfers t JOIN accounts a ON a.id = t.debit_account_id"
                " WHERE t.reference = :r AND t.kind = 'settlement' AND a.kind = 'person' LIMIT 1"
            ),
            {"r": request_id},
        )
    ).scalar()
