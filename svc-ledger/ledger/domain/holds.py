"""Holds for service requests (DESIGN.md §4 steps 2 and 7): TigerBeetle's pending transfers.

A hold is one pending transfer per origin drawn, from the elder's accounts to an escrow shard. It is
resolved exactly once: posted at settlement (partially, the rest released), voided on cancellation, or
expired after the booked window plus a grace period.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from contracts.ledger import HoldPlaced, HoldRejected, HoldReleased
from contracts.matching import RequestSubmitted
from ledger.db import holders, repository
from ledger.domain import operations
from ledger.domain.book import OWN_SERVICE_ORDER, OWN_SERVICE_UNDER_60, Book, available_in, draw, escrow_shard
from ledger.domain.errors import InsufficientCoins
from ledger.domain.publish import publish, publish_many
from servicekit.db import Database
from servicekit.ids import new_id

UNDER_60_REASON = "未满60周岁，本人服务所得和受赠的时间币暂不能兑换服务；政府赠予和公益分配的时间币可以使用"
INSUFFICIENT_REASON = "时间币可用余额不足，无法发布该需求"


def spendable_origins(redemption_age: bool) -> tuple[str, ...]:
    """From 60 a holder redeems all their coins for their own services; before that only the coins a
    district granted or the welfare account allocated to them."""
    return OWN_SERVICE_ORDER if redemption_age else OWN_SERVICE_UNDER_60


async def place_hold(session: AsyncSession, request: RequestSubmitted, *, now: datetime, grace: timedelta) -> bool:
    """Hold the request's estimated minutes on the elder's accounts; publish placed or rejected. At most
    once per request."""
    return await place_holds(session, [request], now=now, grace=grace) == 1


async def place_holds(
    session: AsyncSession, requests: list[RequestSubmitted], *, now: datetime, grace: timedelta
) -> int:
    """Many requests' holds in one transaction with a fixed number of statements (the consumer hands over a
    whole poll): every account involved locked in one statement, in id order, so two consumers never
    deadlock over them. In arrival order, an elder's later request sees what the earlier ones held. At
    most once per request; returns how many were placed."""
    requests, started = await operations.begin_once_per_request(session, requests, kind="hold", prefix="hold")
    if not requests:
        return 0
    elders = sorted({r.elder_id for r in requests})
    await repository.insert_accounts_of(session, elders)
    facts = await holders.facts_of(session, elders)
    book = Book(session, new_id())
    await book.lock(persons=elders, shards=sorted({escrow_shard(r.request_id) for r in requests}))
    events: list[tuple[HoldPlaced | HoldRejected, uuid.UUID]] = []
    results: dict[uuid.UUID, dict] = {}
    new_holds: list[dict] = []
    for request in requests:
        operation_id = book.operation_id = started[request.request_id]
        elder = facts.get(request.elder_id)
        order = spendable_origins(elder.redemption_age if elder else False)
        pockets = book.pockets(request.elder_id)
        try:
            parts = draw(pockets, order, request.estimated_minutes)
        except InsufficientCoins:
            under_60 = (
                order == OWN_SERVICE_UNDER_60 and available_in(pockets, OWN_SERVICE_ORDER) >= request.estimated_minutes
            )
            events.append(
                (
                    HoldRejected(
                        request_id=request.request_id,
                        elder_id=request.elder_id,
                        amount=request.estimated_minutes,
                        reason_code="under_60" if under_60 else "insufficient_coins",
                        reason=UNDER_60_REASON if under_60 else INSUFFICIENT_REASON,
                        rejected_at=now,
                    ),
                    request.request_id,
                )
            )
            results[operation_id] = {"placed": False}
            continue
        hold_id, expires_at = new_id(), request.ends_at + grace
        escrow = book.system("escrow", shard=escrow_shard(request.request_id))
        for pocket, amount in parts:
            book.pend(pocket, escrow, amount, kind="settlement", reference=request.request_id, expires_at=expires_at)
        new_holds.append(
            {
                "id": hold_id,
                "request_id": request.request_id,
                "elder_id": request.elder_id,
                "amount": request.estimated_minutes,
                "expires_at": expires_at,
            }
        )
        events.append(
            (
                HoldPlaced(
                    hold_id=hold_id,
                    request_id=request.request_id,
                    elder_id=request.elder_id,
                    amount=request.estimated_minutes,
                    expires_at=expires_at,
                    placed_at=now,
                ),
                request.request_id,
            )
        )
        results[operation_id] = {"placed": True, "hold_id": str(hold_id)}
    await repository.insert_holds(session, new_holds)
    await book.write()
    await publish_many(session, events)
    await operations.finish_many(session, results)
    return len(new_holds)


async def release_hold(session: AsyncSession, request_id: uuid.UUID, *, now: datetime, why: str = "voided") -> bool:
    """Void (cancellation) or expire the request's hold; nothing happens if it is already resolved."""
    hold = await repository.lock_hold(session, request_id)
    if hold is None or hold.status != "pending" or (why == "expired" and hold.expires_at > now):
        return False
    book = Book(session, new_id())
    await book.lock(persons=[hold.elder_id], shards=[escrow_shard(request_id)])
    released = 0
    for leg in (await repository.unresolved_legs(session, [request_id], order=OWN_SERVICE_ORDER)).get(request_id, []):
        book.release(leg, code="void" if why == "voided" else "expire", reference=request_id)
        released += leg.amount
    await book.write()
    await repository.resolve_hold(session, hold.id, why)
    await publish(
        session,
        HoldReleased(
            hold_id=hold.id, request_id=request_id, elder_id=hold.elder_id, released=released, why=why, released_at=now
        ),
        subject=request_id,
    )
    return True


async def expire_due_holds(db: Database, *, now: datetime, batch: int = 100) -> int:
    """Expire every pending hold past its expiry, each in its own transaction (the job is restartable)."""
    expired = 0
    while True:
        async with db.transaction() as session:
            due = await repository.expired_hold_requests(session, now, batch)
        for request_id in due:
            async with db.transaction() as session:
                expired += await release_hold(session, request_id, now=now, why="expired")
        if len(due) < batch:
            return expired
